"""`status`: the clock, the best score so far and anything the participant should know."""

from __future__ import annotations

from session.clock import format_duration
from session.tools.base import ToolResult, tool


@tool("status", "Show the clock (working time used and left, paused or running), the environment and the best score.")
def status(session, args) -> ToolResult:
    state = session.clock()
    row = session.recorder.session()
    scores = session.recorder.scores()
    data = {
        "session": session.id,
        "environment": session.env_id,
        "title": session.env.title,
        "scale": session.scale,
        "participant": session.participant,
        "workspace": str(session.workspace),
        "kind": session.kind,
        "clock": state.to_json(),
        "scorings": len(scores),
        "snapshots": len(session.recorder.snapshots()),
        "score_visible": session.env.score_visible,
        "calibration_warning": session.calibration.warning,
        "calibrated": session.calibration.calibrated,
        "isolation": session.confinement.to_json(),
        "ended": state.ended,
        "usage": session.recorder.usage_totals(),
        "tool_calls": session.recorder.query("select count(*) as n from events where kind = 'tool'")[0]["n"],
    }
    if session.env.score_visible:
        best_raw, best_norm = session.best()
        data.update(best_raw=best_raw, best_normalized=best_norm)
    if row["ended_at"] is not None and session.env.score_visible:
        data.update(final_raw=row["final_raw"], final_normalized=row["final_normalized"])
    clock = (
        "ended (" + str(state.end_reason) + ")"
        if state.ended
        else ("running" if state.running else f"paused ({state.paused_reason})")
    )
    lines = [
        f"{session.env.title} [{session.env_id}, {session.scale} scale] - {session.participant} ({session.kind})",
        f"clock: {clock}; worked {format_duration(state.working_s)} of {format_duration(state.budget_s)}, "
        f"{format_duration(state.remaining_s)} left",
        f"scorings: {data['scorings']}",
    ]
    if data.get("best_normalized") is not None:
        mark = "" if data["calibrated"] else " (uncalibrated)"
        lines.append(f"best: {data['best_normalized']:.3f} normalized{mark} (raw {data['best_raw']:.4f})")
    lines.append(f"isolation: {session.confinement.summary()}")
    if data["calibration_warning"]:
        lines.append(f"warning: {data['calibration_warning']}")
    if session.confinement.warning:
        lines.append(f"warning: {session.confinement.warning}")
    return ToolResult("\n".join(lines), data)
