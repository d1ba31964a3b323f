"""`score_log`: every scoring so far, with the working time it was taken at."""

from __future__ import annotations

from session.clock import format_duration
from session.tools.base import ToolResult, tool
from session.tools.score import visible_score


@tool("score_log", "List the scorings so far (working time, validity, score, message).")
def score_log(session, args) -> ToolResult:
    rows = [visible_score(session, r) for r in session.recorder.scores()]
    lines = []
    for r in rows:
        shown = f"{r['normalized']:.3f}" if r.get("normalized") is not None else ("valid" if r["valid"] else "invalid")
        lines.append(f"#{r['id']} at {format_duration(r['working_s'])}: {shown} {r['message']}")
    return ToolResult("\n".join(lines) or "no scorings yet", {"scores": rows})
