"""The official MCP Python SDK talks to `rebench-tui mcp SESSION` as a stdio client."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from conftest import REPO

from session.session import Session

mcp = pytest.importorskip("mcp")


def server(home: Path, session_id: str):
    from mcp import StdioServerParameters

    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "rebench_tui.cli", "mcp", session_id],
        env={**os.environ, "REBENCH_HOME": str(home)},
        cwd=str(REPO),
    )


async def test_sdk_lists_tools_and_calls_status_and_score(home: Path) -> None:
    from mcp import ClientSession
    from mcp.client.stdio import stdio_client

    with Session.create(home, "selftest", kind="agent", hold=False) as s:
        sid = s.id
        (s.workspace / "solution.py").write_text("def answer():\n    return 0.7\n")

    async with stdio_client(server(home, sid)) as (read, write), ClientSession(read, write) as client:
        init = await client.initialize()
        assert init.server_info.name == "rebench-tui"
        tools = await client.list_tools()
        names = {t.name for t in tools.tools}
        assert {"status", "score", "submit", "run", "instructions"} <= names
        run_tool = next(t for t in tools.tools if t.name == "run")
        assert run_tool.input_schema["required"] == ["command"]

        status = await client.call_tool("status", {})
        assert not status.is_error
        assert status.structured_content["session"] == sid
        assert "selftest" in status.content[0].text

        score = await client.call_tool("score", {})
        assert not score.is_error
        assert score.structured_content["raw"] == 0.7 and score.structured_content["normalized"] == 0.7

        from mcp.shared.exceptions import MCPError

        with pytest.raises(MCPError) as bad:
            await client.call_tool("run", {"command": "true", "timeout_s": -5})
        assert bad.value.error.code == -32602 and "timeout_s" in bad.value.error.message

    with Session.open(home, sid, hold=False) as s:
        assert [r["raw"] for r in s.recorder.scores()] == [0.7]
        assert any(e["client"].startswith("unix:") for e in s.recorder.events("tool"))
