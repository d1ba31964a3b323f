"""The clock bar: working time used and left, wall time, and a loud paused/running state."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.widgets import Static

from session.clock import format_duration


class ClockBar(Static):
    """Shows a clock state dict (as `rebench/clock` returns it), extrapolated between syncs."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state: dict[str, Any] | None = None
        self._synced_at = time.monotonic()

    def sync(self, state: dict[str, Any]) -> None:
        self.state, self._synced_at = state, time.monotonic()
        self.refresh_clock()

    def current(self) -> dict[str, Any] | None:
        """The state now: a running clock advances locally until the next sync."""
        if self.state is None:
            return None
        state = dict(self.state)
        if state.get("running"):
            elapsed = time.monotonic() - self._synced_at
            state["working_s"] = min(state["budget_s"], state["working_s"] + elapsed)
            state["remaining_s"] = max(0.0, state["budget_s"] - state["working_s"])
            state["wall_s"] = state["wall_s"] + elapsed
        return state

    def refresh_clock(self) -> None:
        state = self.current()
        if state is None:
            self.update("connecting…")
            return
        if state["ended"]:
            label, style = f" ENDED ({state['end_reason']}) ", "bold white on dark_red"
            self.set_classes("ended")
        elif state["running"]:
            label, style = " ● RUNNING ", "bold black on green"
            self.set_classes("running")
        else:
            label, style = f" ❚❚ PAUSED ({state['paused_reason']}) ", "bold black on yellow"
            self.set_classes("paused")
        text = Text.assemble(
            (label, style),
            "  worked ",
            (format_duration(state["working_s"]), "bold"),
            f" / {format_duration(state['budget_s'])}  left ",
            (format_duration(state["remaining_s"]), "bold"),
            f"  wall {format_duration(state['wall_s'])}",
        )
        self.update(text)
