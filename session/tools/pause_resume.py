"""`pause` and `resume`: typed reasons, so the record says why time stopped."""

from __future__ import annotations

from session.tools.base import ToolResult, tool

_REASON = {"reason": {"type": "string", "minLength": 1, "maxLength": 500, "description": "why"}}


@tool(
    "pause",
    "Pause the clock, with a reason (break, technical problem, ...).",
    _REASON,
    ("reason",),
    changes_things=True,
)
def pause(session, args) -> ToolResult:
    state = session.pause(args["reason"])
    frozen = {g: len(session.confinement.group_pids(g)) for g in ("work",)} if session.freezing.enforced else None
    text = f"clock paused: {args['reason']}"
    if frozen is None:
        text += " (processes left running are not frozen on this host)"
    return ToolResult(text, {"clock": state.to_json(), "frozen": frozen})


@tool("resume", "Start or resume the clock, with a reason.", {**_REASON}, changes_things=True)
def resume(session, args) -> ToolResult:
    state = session.resume(args.get("reason", "resume"))
    return ToolResult("clock running", {"clock": state.to_json()})
