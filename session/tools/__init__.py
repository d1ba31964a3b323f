"""The tool registry: importing this package registers every tool, one module each."""

from session.tools import (  # noqa: F401  (imported to register)
    instructions,
    note,
    pause_resume,
    report_usage,
    run,
    score,
    score_log,
    snapshot,
    snapshots,
    status,
    submit,
)
from session.tools.base import REGISTRY, InvalidArguments, Tool, ToolError, ToolResult, UnknownTool, tool

__all__ = ["REGISTRY", "InvalidArguments", "Tool", "ToolError", "ToolResult", "UnknownTool", "tool"]
