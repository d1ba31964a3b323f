"""The resources panel: CPU, RAM, disk, workspace size and GPUs, with short histories."""

from __future__ import annotations

from collections import deque
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

HISTORY = 60


def _gib(n: float | None) -> str:
    return "—" if n is None else f"{n / 2**30:.1f} GiB"


class ResourcesPanel(Vertical):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cpu: deque[float] = deque(maxlen=HISTORY)
        self.ram: deque[float] = deque(maxlen=HISTORY)
        self.gpu: deque[float] = deque(maxlen=HISTORY)

    def compose(self) -> ComposeResult:
        yield Static("", id="res-isolation")
        yield Static("sampling…", id="res-cpu")
        yield Sparkline([], id="spark-cpu")
        yield Static("", id="res-ram")
        yield Sparkline([], id="spark-ram")
        yield Static("", id="res-disk")
        yield Static("", id="res-gpu")
        yield Sparkline([], id="spark-gpu")

    def show_isolation(self, isolation: dict[str, Any]) -> None:
        """The session's resource profile and which of its limits this host enforces."""
        lines = [("isolated" if isolation["isolated"] else "[b]NOT isolated[/b]") + " — the limits every process gets:"]
        for key, how in isolation["enforced"].items():
            lines.append(f"  {key}: {how}")
        for key, why in isolation["not_enforced"].items():
            lines.append(f"  {key}: [b]not enforced[/b] ({why})")
        self.query_one("#res-isolation", Static).update("\n".join(lines))

    def show(self, sample: dict[str, Any]) -> None:
        self.cpu.append(sample["cpu_percent"])
        ram_pct = 100 * sample["ram_used"] / max(sample["ram_total"], 1)
        self.ram.append(ram_pct)
        self.query_one("#res-cpu", Static).update(f"CPU {sample['cpu_percent']:5.1f}% of {sample['cpu_count']} cores")
        self.query_one("#spark-cpu", Sparkline).data = list(self.cpu)
        self.query_one("#res-ram", Static).update(
            f"RAM {_gib(sample['ram_used'])} of {_gib(sample['ram_total'])} ({ram_pct:.0f}%)"
        )
        self.query_one("#spark-ram", Sparkline).data = list(self.ram)
        self.query_one("#res-disk", Static).update(
            f"disk free {_gib(sample['disk_free'])} of {_gib(sample['disk_total'])}; "
            f"workspace {_gib(sample['workspace_bytes'])}"
        )
        gpus = sample["gpus"]
        gpu_line = self.query_one("#res-gpu", Static)
        spark = self.query_one("#spark-gpu", Sparkline)
        if not gpus:
            gpu_line.update(sample["gpu_status"])
            spark.display = False
            return
        lines = []
        for g in gpus:
            mem = f"{_gib(g['mem_used'])}/{_gib(g['mem_total'])}"
            temp = "—" if g["temp_c"] is None else f"{g['temp_c']}°C"
            power = "—" if g["power_w"] is None else f"{g['power_w']:.0f} W"
            lines.append(f"GPU{g['index']} {g['name']}: {g['util_percent']}% util, mem {mem}, {temp}, {power}")
        gpu_line.update("\n".join(lines))
        self.gpu.append(sum(g["util_percent"] or 0 for g in gpus) / len(gpus))
        spark.display = True
        spark.data = list(self.gpu)
