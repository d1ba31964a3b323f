"""Thousands of random and mutated messages at a real daemon: no crash, every reply well-formed."""

from __future__ import annotations

import itertools
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import stop_daemons
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from session.client import ensure_daemon
from session.session import Session
from session.sockets import reachable
from session.tools import REGISTRY

_probe_ids = itertools.count(10**9)


class Wire:
    """One observer connection (so no fuzzed call can change the session)."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        with reachable(path) as address:
            self.sock.connect(address)
        self.f = self.sock.makefile("rb")
        self.exchange(b'{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"_meta":{"rebench/role":"observer"}}}')

    def exchange(self, line: bytes) -> list[dict]:
        """Send one line, then a ping; return every reply that arrived before the ping's."""
        probe = next(_probe_ids)
        self.sock.sendall(line.replace(b"\n", b" ") + b"\n")
        self.sock.sendall(json.dumps({"jsonrpc": "2.0", "id": probe, "method": "ping"}).encode() + b"\n")
        replies = []
        while True:
            raw = self.f.readline()
            assert raw, "the daemon closed the connection"
            message = json.loads(raw)
            if message.get("id") == probe and "method" not in message:
                assert message == {"jsonrpc": "2.0", "id": probe, "result": {}}
                return replies
            replies.append(message)


def assert_well_formed(message: dict) -> None:
    assert message.get("jsonrpc") == "2.0", message
    if "method" in message:  # a notification from the daemon (progress, events)
        assert "id" not in message and isinstance(message.get("params"), dict)
        return
    assert "id" in message and (("result" in message) != ("error" in message)), message
    if "error" in message:
        error = message["error"]
        assert isinstance(error["code"], int) and isinstance(error["message"], str) and error["message"]
    else:
        result = message["result"]
        assert isinstance(result, dict)
        if "content" in result:
            assert isinstance(result["isError"], bool) and result["content"][0]["type"] == "text"


@pytest.fixture(scope="module")
def wire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wire]:
    home = tmp_path_factory.mktemp("fuzz")
    with Session.create(home, "selftest", kind="agent", hold=False) as s:
        sid = s.id
    w = Wire(ensure_daemon(home, sid))
    yield w
    w.sock.close()
    with Session.open(home, sid, hold=False) as s:
        assert s.recorder.session()["ended_at"] is None  # nothing fuzzed ended the session
        assert s.recorder.scores() == []
    stop_daemons(home)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
methods = st.sampled_from(
    ["initialize", "ping", "tools/list", "tools/call", "rebench/subscribe", "notifications/initialized", "x", ""]
)
tool_names = st.sampled_from([*sorted(REGISTRY), "nope", ""]) | st.text(max_size=10)


@st.composite
def mutated_requests(draw) -> bytes:
    message: dict = {"jsonrpc": draw(st.sampled_from(["2.0", "2.0", "2.0", "1.0", None])), "method": draw(methods)}
    if draw(st.booleans()):
        message["id"] = draw(st.integers(-5, 10**6) | st.text(max_size=5) | st.none() | st.floats() | st.booleans())
    if message["method"] == "tools/call":
        arguments = draw(st.dictionaries(st.sampled_from(["command", "text", "timeout_s", "reason", "x"]), json_values))
        message["params"] = {"name": draw(tool_names), "arguments": draw(st.just(arguments) | json_values)}
    elif draw(st.booleans()):
        message["params"] = draw(json_values)
    for key in draw(st.lists(st.sampled_from(list(message)), max_size=2)):
        message.pop(key, None)  # drop a field
    return json.dumps(message).encode()


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(line=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_random_lines(wire: Wire, line: bytes) -> None:
    for reply in wire.exchange(line):
        assert_well_formed(reply)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(line=mutated_requests())
def test_mutated_requests(wire: Wire, line: bytes) -> None:
    for reply in wire.exchange(line):
        assert_well_formed(reply)
