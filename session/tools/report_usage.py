"""`report_usage`: an agent reports the model tokens (and cost) it spent, for cost comparisons."""

from __future__ import annotations

from session.tools.base import ToolResult, tool


@tool(
    "report_usage",
    "Report model usage since the last report (tokens, optional cost and model name). Humans need not call it.",
    {
        "input_tokens": {"type": "integer", "minimum": 0},
        "output_tokens": {"type": "integer", "minimum": 0},
        "cost_usd": {"type": "number", "minimum": 0},
        "model": {"type": "string", "maxLength": 200},
    },
    ("input_tokens", "output_tokens"),
)
def report_usage(session, args) -> ToolResult:
    state = session.clock()
    session.recorder.add_usage(
        {
            "wall": session.time.now(),
            "working_s": state.working_s,
            "model": args.get("model", ""),
            "input_tokens": args["input_tokens"],
            "output_tokens": args["output_tokens"],
            "cost_usd": args.get("cost_usd"),
        },
        event_id=session.current_event(),
    )
    totals = session.recorder.usage_totals()
    return ToolResult(
        f"usage recorded; totals: {totals['input_tokens']} input and {totals['output_tokens']} output tokens",
        {"totals": totals},
    )
