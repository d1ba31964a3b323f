"""The score panel: the Score button, the last result, the best, the log and the plot."""

from __future__ import annotations

import time
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Static

from rebench_tui.widgets.plot import ScorePlot
from session.clock import format_duration


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


class ScorePanel(Vertical):
    def __init__(self, score_visible: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.score_visible = score_visible
        self.scoring_since: float | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="score-head"):
            yield Button("Score (s)", id="score-button", variant="primary")
            with Vertical(id="score-summary"):
                yield Static("no score yet", id="last-score")
                yield Static("", id="best-score")
        yield DataTable(id="score-table", cursor_type="row", zebra_stripes=True)
        yield ScorePlot(id="score-plot")

    def configure(self, score_visible: bool) -> None:
        """Set up the columns once the session says whether scores are visible."""
        self.score_visible = score_visible
        table = self.query_one(DataTable)
        table.clear(columns=True)
        if score_visible:
            table.add_columns("#", "at", "valid", "normalized", "raw", "message")
        else:
            table.add_columns("#", "at", "valid", "message")

    @property
    def busy(self) -> bool:
        return self.scoring_since is not None

    def start_scoring(self) -> None:
        self.scoring_since = time.monotonic()
        self.query_one("#score-button", Button).disabled = True
        self.tick()

    def tick(self) -> None:
        if self.scoring_since is not None:
            elapsed = time.monotonic() - self.scoring_since
            self.query_one("#last-score", Static).update(
                f"[b]scoring…[/b] {elapsed:.0f} s (the scorer may take minutes)"
            )

    calibrated = True  # False: normalized scores use another machine's calibration

    @property
    def _mark(self) -> str:
        return "" if self.calibrated else " [yellow](uncalibrated)[/yellow]"

    def finish_scoring(self, text: str, data: dict[str, Any], is_error: bool) -> None:
        self.scoring_since = None
        self.query_one("#score-button", Button).disabled = False
        last = self.query_one("#last-score", Static)
        if is_error:
            last.update(f"[red]{text}[/red]")
        elif not data.get("valid"):
            last.update(f"[red]invalid[/red]: {_message(data.get('message'))}")
        elif self.score_visible:
            last.update(
                f"last: [b]{_fmt(data.get('normalized'))}[/b] normalized{self._mark} (raw {_fmt(data.get('raw'), 4)}) "
                f"{_message(data.get('message'))}"
            )
        else:
            last.update(f"last: [green]valid[/green] {_message(data.get('message'))}")

    def show_log(self, rows: list[dict[str, Any]], best: float | None, budget_s: float) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for r in rows:
            cells = [str(r["id"]), format_duration(r["working_s"]), "yes" if r["valid"] else "no"]
            if self.score_visible:
                cells += [_fmt(r.get("normalized")), _fmt(r.get("raw"), 4)]
            cells.append(_message(r.get("message"))[:60])
            table.add_row(*cells)
        if rows:
            table.move_cursor(row=len(rows) - 1)
        if self.score_visible:
            self.query_one("#best-score", Static).update(f"best so far: [b]{_fmt(best)}[/b] normalized{self._mark}")
            points = [(r["working_s"], r["normalized"]) for r in rows if r["valid"] and r.get("normalized") is not None]
            self.query_one(ScorePlot).set_points(points, budget_s)
        else:
            self.query_one("#best-score", Static).update("scores are hidden in this environment")
            self.query_one(ScorePlot).display = False


def _message(message: Any) -> str:
    if isinstance(message, dict):
        if "error" in message:
            return str(message["error"])
        return ", ".join(f"{k}={v}" for k, v in message.items())
    return "" if message is None else str(message)
