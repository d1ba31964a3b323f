"""The snapshot list: when, why, how much changed, what was left out."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable

from session.clock import format_duration


class SnapshotTable(DataTable):
    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        self.add_columns("#", "at", "trigger", "changed", "left out (size)", "left out (excluded)")

    def show(self, rows: list[dict[str, Any]]) -> None:
        self.clear()
        for r in rows:
            left = r.get("left_out") or []
            by_size = [e["path"] for e in left if e.get("reason") == "size"]
            excluded = [e for e in left if e.get("reason") != "size"]
            self.add_row(
                str(r["id"]),
                format_duration(r["working_s"]),
                r["trigger"],
                str(r["files_changed"]),
                ", ".join(by_size)[:40] or "—",
                str(len(excluded)),
            )
        if rows:
            self.move_cursor(row=len(rows) - 1)
