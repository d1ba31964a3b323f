"""Resource samples: CPU, RAM, disk, workspace size (psutil) and GPUs (NVML).

Without an NVIDIA driver or library there is simply no GPU: `gpus` is empty and
`gpu_status` says why, in words. Fields a GPU does not support are None.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

import psutil


class GpuProbe:
    """Opens NVML once; `read()` returns one dict per GPU."""

    def __init__(self) -> None:
        self.status = "no GPU"
        self._nvml = None
        self._handles: list[Any] = []
        try:
            import pynvml
        except ImportError:
            self.status = "no GPU (nvidia-ml-py not installed)"
            return
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            self.status = f"no GPU ({_nvml_reason(exc)})"
            return
        try:
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        except pynvml.NVMLError as exc:
            self.status = f"no GPU ({_nvml_reason(exc)})"
            return
        self._nvml = pynvml
        self.status = f"{len(self._handles)} GPU(s)" if self._handles else "no GPU (NVML sees none)"

    def read(self) -> list[dict[str, Any]]:
        nv = self._nvml
        if nv is None:
            return []
        out = []
        for index, handle in enumerate(self._handles):

            def field(fn, *args, _h=handle):
                with contextlib.suppress(nv.NVMLError):
                    return fn(_h, *args)
                return None

            name = field(nv.nvmlDeviceGetName)
            util = field(nv.nvmlDeviceGetUtilizationRates)
            mem = field(nv.nvmlDeviceGetMemoryInfo)
            power = field(nv.nvmlDeviceGetPowerUsage)
            out.append(
                {
                    "index": index,
                    "name": name.decode() if isinstance(name, bytes) else name,
                    "util_percent": getattr(util, "gpu", None),
                    "mem_used": getattr(mem, "used", None),
                    "mem_total": getattr(mem, "total", None),
                    "temp_c": field(nv.nvmlDeviceGetTemperature, nv.NVML_TEMPERATURE_GPU),
                    "power_w": None if power is None else power / 1000,
                }
            )
        return out

    def close(self) -> None:
        if self._nvml is not None:
            with contextlib.suppress(self._nvml.NVMLError):
                self._nvml.nvmlShutdown()
            self._nvml = None


def _nvml_reason(exc: Exception) -> str:
    name = type(exc).__name__
    if "LibraryNotFound" in name:
        return "NVML library not found"
    if "DriverNotLoaded" in name:
        return "no NVIDIA driver loaded"
    return str(exc) or name


def tree_size(root: Path) -> int:
    """Bytes in files under root (not following links)."""
    total = 0
    stack = [root]
    while stack:
        with contextlib.suppress(OSError), os.scandir(stack.pop()) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
                    elif entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
    return total


class ResourceSampler:
    """Takes samples; the workspace size is re-measured at most every `size_every_s`."""

    def __init__(self, workspace: Path, size_every_s: float = 10.0) -> None:
        self.workspace = workspace
        self.gpu = GpuProbe()
        self.size_every_s = size_every_s
        self._size: int | None = None
        self._size_at = 0.0
        psutil.cpu_percent(interval=None)  # the first reading is always 0.0: prime it

    def sample(self) -> dict[str, Any]:
        now = time.monotonic()
        if self._size is None or now - self._size_at >= self.size_every_s:
            self._size, self._size_at = tree_size(self.workspace), now
        mem = psutil.virtual_memory()
        disk = psutil.disk_usage(str(self.workspace))
        return {
            "cpu_percent": psutil.cpu_percent(interval=None),
            "cpu_count": psutil.cpu_count(),
            "ram_used": mem.total - mem.available,
            "ram_total": mem.total,
            "disk_free": disk.free,
            "disk_total": disk.total,
            "workspace_bytes": self._size,
            "gpus": self.gpu.read(),
            "gpu_status": self.gpu.status,
        }

    def close(self) -> None:
        self.gpu.close()
