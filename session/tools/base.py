"""What a tool is: a name, a description, a JSON Schema for its arguments, a handler.

The registry is the single list both kinds of client see (the TUI and agents); a
tool's flags say when the session refuses it (after the end, while paused).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from session.session import Session


class ToolError(Exception):
    """A refusal or a bad call: its text goes to the client as the tool's error."""

    kind = "refused"


class UnknownTool(ToolError):
    kind = "unknown_tool"


class InvalidArguments(ToolError):
    kind = "invalid_arguments"


@dataclass
class ToolResult:
    text: str
    structured: dict[str, Any] = field(default_factory=dict)
    is_error: bool = False
    # Why a call failed: "unknown_tool" and "invalid_arguments" are protocol errors (JSON-RPC
    # -32602); "refused" and "failed" are tool results with isError set.
    error_kind: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"text": self.text, "structured": self.structured, "is_error": self.is_error}
        if self.error_kind:
            out["error_kind"] = self.error_kind
        return out


Handler = Callable[["Session", dict[str, Any]], ToolResult]
# The text of a result, from its structured data: given only what the client may see
# (session.visibility), so a tool's text never shows a value its data hides.
Render = Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    input_schema: dict[str, Any]
    handler: Handler
    changes_things: bool = False  # refused once the budget, the ceiling or a submit ended the session
    needs_running_clock: bool = False  # refused while the clock is paused (work would be free time)
    render: Render | None = None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "inputSchema": self.input_schema}


REGISTRY: dict[str, Tool] = {}


def tool(
    name: str,
    description: str,
    properties: dict[str, Any] | None = None,
    required: tuple[str, ...] = (),
    *,
    changes_things: bool = False,
    needs_running_clock: bool = False,
    render: Render | None = None,
) -> Callable[[Handler], Handler]:
    schema = {"type": "object", "properties": properties or {}, "additionalProperties": False}
    if required:
        schema["required"] = list(required)

    def register(handler: Handler) -> Handler:
        if name in REGISTRY:
            raise ValueError(f"tool {name!r} registered twice")
        REGISTRY[name] = Tool(name, description, schema, handler, changes_things, needs_running_clock, render)
        return handler

    return register
