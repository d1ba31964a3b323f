"""`note`: a timestamped note in the recording (what you tried, why)."""

from __future__ import annotations

from session.tools.base import ToolResult, tool


@tool(
    "note",
    "Record a note with the current time.",
    {"text": {"type": "string", "minLength": 1, "maxLength": 100_000}},
    ("text",),
)
def note(session, args) -> ToolResult:
    state = session.clock()
    note_id = session.recorder.add_note(
        session.time.now(), state.working_s, args["text"], event_id=session.current_event()
    )
    return ToolResult(f"note {note_id} recorded", {"id": note_id, "working_s": round(state.working_s, 3)})
