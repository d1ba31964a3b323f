"""`snapshot`: save the workspace now (also taken at every score, at submit and periodically)."""

from __future__ import annotations

from session.tools.base import ToolResult, tool


@tool("snapshot", "Take a git snapshot of the workspace now.", changes_things=True)
def snapshot(session, args) -> ToolResult:
    snap = session.take_snapshot("manual")
    left = f"; {len(snap['left_out'])} left out" if snap["left_out"] else ""
    text = f"snapshot {snap['id']} ({snap['status']}): {snap['files_changed']} files changed{left}"
    if snap["reason"]:
        text += f"\n{snap['reason']}"
    return ToolResult(text, snap)
