"""Wire parsing and dispatch without sockets: every malformed input gets its JSON-RPC error."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from session import protocol as p
from session.dispatch import Connection, Dispatcher
from session.session import Session


async def _discard(message: dict) -> None:
    pass


@pytest.fixture
def dispatcher(selftest: Session) -> Iterator[Dispatcher]:
    yield Dispatcher(selftest)


def line(obj: object) -> bytes:
    return json.dumps(obj).encode()


def request(method: str, params: object = None, request_id: object = 1) -> bytes:
    message = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return line(message)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", p.PARSE_ERROR),
        (b"\xff\xfe", p.PARSE_ERROR),
        (b"[1, 2]", p.INVALID_REQUEST),
        (b"42", p.INVALID_REQUEST),
        (b'"text"', p.INVALID_REQUEST),
        (line({"id": 1, "method": "ping"}), p.INVALID_REQUEST),
        (line({"jsonrpc": "1.0", "id": 1, "method": "ping"}), p.INVALID_REQUEST),
        (line({"jsonrpc": "2.0", "id": 1, "method": 7}), p.INVALID_REQUEST),
        (line({"jsonrpc": "2.0", "id": {"x": 1}, "method": "ping"}), p.INVALID_REQUEST),
        (line({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": [1]}), p.INVALID_PARAMS),
        (request("no/such/method"), p.METHOD_NOT_FOUND),
        (request("tools/call", {"name": "fly"}), p.INVALID_PARAMS),
        (request("tools/call", {"name": "run", "arguments": {"command": 5}}), p.INVALID_PARAMS),
        (request("tools/call", {"name": "run", "arguments": "ls"}), p.INVALID_PARAMS),
        (request("tools/call", {}), p.INVALID_PARAMS),
        (request("initialize", {"_meta": {"rebench/role": "god"}}), p.INVALID_PARAMS),
        (b"x" * (p.MAX_MESSAGE_BYTES + 1), p.MESSAGE_TOO_LARGE),
    ],
)
async def test_bad_input_gets_the_right_error(dispatcher: Dispatcher, raw: bytes, code: int) -> None:
    reply = await dispatcher.handle_line(raw, Connection("test", _discard))
    assert reply is not None and reply["jsonrpc"] == "2.0"
    assert reply["error"]["code"] == code, reply
    assert reply["error"]["message"]


async def test_notifications_get_no_reply_even_when_unknown(dispatcher: Dispatcher) -> None:
    conn = Connection("test", _discard)
    assert await dispatcher.handle_line(line({"jsonrpc": "2.0", "method": "notifications/initialized"}), conn) is None
    assert await dispatcher.handle_line(line({"jsonrpc": "2.0", "method": "whatever"}), conn) is None


async def test_initialize_negotiates_version_and_role(dispatcher: Dispatcher) -> None:
    conn = Connection("test", _discard)
    reply = await dispatcher.handle_line(request("initialize", {"protocolVersion": "2025-06-18"}), conn)
    assert reply["result"]["protocolVersion"] == "2025-06-18"
    assert reply["result"]["capabilities"]["tools"] == {"listChanged": False}
    reply = await dispatcher.handle_line(request("initialize", {"protocolVersion": "1999-01-01"}), conn)
    assert reply["result"]["protocolVersion"] == p.PROTOCOL_VERSIONS[0]

    observer = Connection("test", _discard)
    await dispatcher.handle_line(request("initialize", {"_meta": {"rebench/role": "observer"}}), observer)
    assert observer.role == "observer"
    again = await dispatcher.handle_line(request("initialize", {"_meta": {"rebench/role": "participant"}}), observer)
    assert again["error"]["code"] == p.INVALID_PARAMS


async def test_tools_call_shape_and_recording(dispatcher: Dispatcher, selftest: Session) -> None:
    conn = Connection("unix", _discard, client_name="t")
    reply = await dispatcher.handle_line(request("tools/call", {"name": "status", "arguments": {}}, "abc"), conn)
    assert reply["id"] == "abc"
    result = reply["result"]
    assert result["isError"] is False
    assert result["content"][0]["type"] == "text" and "selftest" in result["content"][0]["text"]
    assert result["structuredContent"]["environment"] == "selftest"
    assert selftest.recorder.events("tool")[-1]["client"] == "unix:t"


async def test_observer_cannot_change_anything(dispatcher: Dispatcher, selftest: Session) -> None:
    observer = Connection("unix", _discard, role="observer")
    for name, args in [("run", {"command": "touch x"}), ("score", {}), ("submit", {}), ("pause", {"reason": "r"})]:
        reply = await dispatcher.handle_line(request("tools/call", {"name": name, "arguments": args}), observer)
        assert reply["result"]["isError"] is True and "read-only" in reply["result"]["content"][0]["text"]
    assert not (selftest.workspace / "x").exists()
    ok = await dispatcher.handle_line(request("tools/call", {"name": "status"}), observer)
    assert ok["result"]["isError"] is False
    assert selftest.recorder.session()["ended_at"] is None


async def test_human_and_agent_sessions_list_the_same_tools(home) -> None:
    lists = []
    for kind in ("human", "agent"):
        with Session.create(home, "selftest", kind=kind) as s:
            reply = await Dispatcher(s).handle_line(request("tools/list"), Connection("t", _discard))
            lists.append(reply["result"]["tools"])
    assert lists[0] == lists[1]
    assert {t["name"] for t in lists[0]} >= {"status", "score", "submit", "run"}
    assert all(t["inputSchema"]["type"] == "object" for t in lists[0])
