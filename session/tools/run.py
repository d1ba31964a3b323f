"""`run`: a shell command in the workspace, with a timeout; its output is capped and recorded."""

from __future__ import annotations

from session.participant import run_participant
from session.tools.base import ToolResult, tool

MAX_TIMEOUT_S = 4 * 3600


@tool(
    "run",
    "Run a shell command (bash) in the workspace. Output (stdout and stderr together) is capped at 64 KiB, "
    "keeping the start and the end; the command's process group is killed at the timeout.",
    {
        "command": {"type": "string", "minLength": 1},
        "timeout_s": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_TIMEOUT_S, "default": 600},
    },
    ("command",),
    changes_things=True,
    needs_running_clock=True,
)
def run(session, args) -> ToolResult:
    timeout_s = float(args.get("timeout_s", 600))
    session.review_text("run", args["command"])
    before = session.confinement.counters()
    with session.process_groups.watching("run"):
        finished = run_participant(
            ["bash", "-c", args["command"]],
            session.workspace,
            timeout_s=timeout_s,
            env={"REBENCH_SESSION": session.id},
            confinement=session.confinement,
        )
    enforced = session.confinement.events_since(before)
    session.record_confinement_events()
    data = {
        "exit_code": finished.returncode,
        "output": finished.output,
        "truncated_bytes": finished.truncated_bytes,
        "timed_out": finished.timed_out,
        "duration_s": round(finished.duration_s, 3),
        "limits_enforced": [e.message for e in enforced],
    }
    text = finished.output
    if finished.timed_out:
        text += f"\n[timed out after {timeout_s:g} s; the command's processes were killed]"
    elif finished.returncode:
        text += f"\n[exit code {finished.returncode}]"
    for event in enforced:
        text += f"\n[{event.message}]"
    return ToolResult(text, data)
