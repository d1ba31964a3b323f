"""`score`: snapshot the workspace, run the environment's scorer in its own process, log it."""

from __future__ import annotations

import time
from typing import Any

from session.freezing import SCORING_GROUPS
from session.scoring import run_scorer
from session.tools.base import ToolError, ToolResult, tool


def visible_score(session, row: dict[str, Any]) -> dict[str, Any]:
    """What the participant may see of a score row: never `details`; only validity if hidden."""
    shown = {
        "id": row["id"],
        "working_s": round(row["working_s"], 3),
        "valid": bool(row["valid"]),
        "message": row["message"],
    }
    if session.env.score_visible:
        shown.update(raw=row["raw"], normalized=row["normalized"])
    return shown


@tool(
    "score",
    "Score the current workspace (takes a snapshot first). Invalid submissions score NaN with a reason.",
    changes_things=True,
    needs_running_clock=True,
)
def score(session, args) -> ToolResult:
    if not session.score_lock.acquire(blocking=False):
        raise ToolError("a scoring is already running; wait for it to finish")
    try:
        working_s = session.clock().working_s
        snapshot = session.take_snapshot("score")
        started = time.monotonic()
        # A timed scoring: the participant's other processes are frozen meanwhile (see session/freezing.py).
        frozen = session.freezing.hold("scoring", SCORING_GROUPS) if session.env.timed else {}
        try:
            result = run_scorer(
                session.env,
                session.scale,
                session.workspace,
                session.paths.env_private,
                confinement=session.confinement,
            )
        finally:
            if session.env.timed:
                session.freezing.release("scoring", SCORING_GROUPS)
        if session.env.timed:
            result.details["frozen_meanwhile"] = frozen if session.freezing.enforced else "not enforced here"
        duration = time.monotonic() - started
        normalized = session.normalize(result.raw)
        score_id = session.recorder.add_score(
            wall=session.time.now(),
            working_s=working_s,
            raw=result.raw,
            normalized=normalized,
            message=result.message,
            details=result.details,
            snapshot_id=snapshot["id"],
            duration_s=duration,
        )
    finally:
        session.score_lock.release()
    shown = visible_score(session, session.recorder.query("select * from scores where id = ?", (score_id,))[0])
    shown["snapshot"] = snapshot["id"]
    if session.env.score_visible:
        best_raw, best_normalized = session.best()
        shown.update(best_raw=best_raw, best_normalized=best_normalized, calibrated=session.calibration.calibrated)
    if not result.valid:
        text = f"invalid: {result.message.get('error', result.message)}"
    elif session.env.score_visible:
        norm = f"{normalized:.3f}" if normalized is not None else "n/a (no calibration)"
        best = shown.get("best_normalized")
        text = (
            f"score {norm} normalized (raw {result.raw:.4f}); best {best:.3f}"
            if best is not None
            else f"score raw {result.raw:.4f}; normalized {norm}"
        )
        if normalized is not None and not session.calibration.calibrated:
            text += "\n(uncalibrated: " + str(session.calibration.warning) + ")"
        text += f"\n{result.message}"
    else:
        text = f"valid\n{result.message}"
    return ToolResult(text, shown)
