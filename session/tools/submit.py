"""`submit`: end the session now; the final score is aggregated from the score log."""

from __future__ import annotations

from session.tools.base import ToolResult, tool


@tool(
    "submit", "End the session now and submit the work. The final score comes from the score log.", changes_things=True
)
def submit(session, args) -> ToolResult:
    summary = session.finish("submitted")
    if not session.env.score_visible:
        summary = {k: v for k, v in summary.items() if k not in ("final_raw", "final_normalized")}
    final = summary.get("final_normalized")
    text = "submitted" + (f"; final normalized score {final:.3f}" if final is not None else "")
    return ToolResult(text, summary)
