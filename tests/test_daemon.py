"""The session daemon as a real process, over real Unix and TCP sockets."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, last_alive

from session import protocol as p
from session.client import DaemonClient, RpcError, daemon_info, ensure_daemon
from session.daemon import EXIT_ALREADY_RUNNING
from session.session import Session
from session.sockets import reachable


def new_session(home: Path, kind: str = "agent", **kwargs) -> str:
    with Session.create(home, "selftest", kind=kind, hold=False, **kwargs) as s:
        return s.id


def raw_connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    with reachable(path) as address:
        sock.connect(address)
    return sock


def read_reply(f) -> dict:
    while True:
        message = json.loads(f.readline())
        if "id" in message:
            return message


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def test_daemon_starts_on_demand_is_reused_and_its_socket_is_private(home: Path) -> None:
    sid = new_session(home)
    path = ensure_daemon(home, sid)
    pid = daemon_info(home, sid)["pid"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_daemon(home, sid) == path and daemon_info(home, sid)["pid"] == pid
    with DaemonClient(path) as client:
        assert client.initialize()["serverInfo"]["name"] == "rebench-tui"
        assert client.call_tool("status")["structuredContent"]["session"] == sid


def test_only_one_daemon_per_session(home: Path) -> None:
    sid = new_session(home)
    ensure_daemon(home, sid)
    second = subprocess.run(
        [sys.executable, "-m", "session.daemon", "--home", str(home), sid], capture_output=True, text=True, cwd=REPO
    )
    assert second.returncode == EXIT_ALREADY_RUNNING
    assert "another daemon holds" in second.stderr


def test_garbage_gets_errors_and_the_daemon_keeps_serving(home: Path) -> None:
    sid = new_session(home)
    path = ensure_daemon(home, sid)
    before = Session.open(home, sid, hold=False)
    events_before = len(before.recorder.events())
    sock = raw_connect(path)
    f = sock.makefile("rb")
    for bad, code in [
        (b"{oops\n", -32700),
        (b"[]\n", -32600),
        (b'{"jsonrpc":"2.0","id":1,"method":"nope"}\n', -32601),
        (b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"run","arguments":{"command":1}}}\n', -32602),
        (b"y" * (5 * 2**20) + b"\n", p.MESSAGE_TOO_LARGE),
    ]:
        sock.sendall(bad)
        reply = json.loads(f.readline())
        assert reply["error"]["code"] == code, (bad[:60], reply)
    sock.sendall(b'{"jsonrpc":"2.0","id":9,"method":"ping"}\n')
    assert read_reply(f) == {"jsonrpc": "2.0", "id": 9, "result": {}}
    sock.close()
    with DaemonClient(path) as client:
        assert not client.call_tool("status")["isError"]
    # Only the well-formed tool calls were recorded: bad lines change nothing in the session.
    names = [e["name"] for e in before.recorder.events()[events_before:] if e["kind"] == "tool"]
    assert names == ["run", "status"]
    before.close()


def test_a_client_that_sends_everything_then_closes_its_side_gets_every_answer_once(home: Path) -> None:
    """Reads are answered from their commit, other methods by a task: mixed in one pipelined
    burst and followed by a half-close (as `printf ... | nc -U` does), every request still gets
    exactly one answer, and every read is recorded."""
    sid = new_session(home)
    path = ensure_daemon(home, sid)
    sock = raw_connect(path)
    burst = []
    for i in range(40):
        if i % 4 == 3:
            burst.append({"jsonrpc": "2.0", "id": i, "method": "ping"})
        elif i % 4 == 2:
            burst.append({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": "nope"}})
        else:
            burst.append({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": "status"}})
    burst.append({"jsonrpc": "2.0", "method": "notifications/initialized"})  # answered by nothing
    sock.sendall(b"".join(json.dumps(m).encode() + b"\n" for m in burst))
    sock.shutdown(socket.SHUT_WR)
    replies = [json.loads(line) for line in sock.makefile("rb")]
    sock.close()
    assert sorted(r["id"] for r in replies) == list(range(40))
    for reply in replies:
        kind = reply["id"] % 4
        if kind == 2:
            assert reply["error"]["code"] == -32602
        elif kind == 3:
            assert reply["result"] == {}
        else:
            assert reply["result"]["isError"] is False and reply["result"]["structuredContent"]["session"] == sid
    with Session.open(home, sid, hold=False) as s:
        assert [e["name"] for e in s.recorder.events("tool")].count("status") == 20


def test_instructions_are_shown_while_the_clock_runs_refused_while_paused_and_each_call_recorded_first(
    home: Path,
) -> None:
    """`instructions` is answered on the daemon's loop while the clock runs (a read), and goes the
    usual way, to its refusal, while paused: both are in the recording when the answer comes."""
    sid = new_session(home)
    path = ensure_daemon(home, sid)
    reader = Session.open(home, sid, hold=False)
    with DaemonClient(path) as client:
        client.initialize("t")
        shown = client.call_tool("instructions")
        assert not shown["isError"] and "Harness self-test" in shown["content"][0]["text"]
        assert [e["name"] for e in reader.recorder.events("tool")][-1] == "instructions"
        client.call_tool("pause", {"reason": "lunch"})
        hidden = client.call_tool("instructions")
        assert hidden["isError"] and "paused" in hidden["content"][0]["text"]
        last = reader.recorder.events("tool")[-1]
        assert last["name"] == "instructions" and last["is_error"]
        client.call_tool("resume", {"reason": "back"})
        assert not client.call_tool("instructions")["isError"]
    assert [e["name"] for e in reader.recorder.events("tool")].count("instructions") == 3
    reader.close()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads a process's CPU time from /proc")
def test_the_poll_after_an_answer_ends_and_an_idle_daemon_uses_almost_no_cpu(home: Path) -> None:
    """After each answer the loop polls without sleeping for a moment (PollAfterWrite): that
    moment must end. Busy, the daemon answers; idle, it takes next to no CPU."""
    sid = new_session(home)
    path = ensure_daemon(home, sid)
    info = daemon_info(home, sid)
    assert info is not None
    with DaemonClient(path) as client:
        client.initialize("t")
        for _ in range(300):
            client.call_tool("status")
        client.request("ping")
        time.sleep(0.5)
        before = _cpu_seconds(info["pid"])
        time.sleep(2.0)
        idle = _cpu_seconds(info["pid"]) - before
        assert idle < 0.2, f"the daemon used {idle:.2f} s of CPU in 2 s of idling (still polling?)"
        assert client.request("ping") == {}


@pytest.mark.parametrize("setting", ["0", "lots", "-5"])
def test_a_poll_setting_that_is_off_or_wrong_still_serves(home: Path, monkeypatch, setting: str) -> None:
    monkeypatch.setenv("REBENCH_POLL_US", setting)
    sid = new_session(home)
    with DaemonClient(ensure_daemon(home, sid)) as client:
        client.initialize("t")
        assert not client.call_tool("status")["isError"]
    log = (home / "sessions" / sid / "private" / "daemon.log").read_text()
    assert ("REBENCH_POLL_US" in log) == (setting != "0"), log[-2000:]


@pytest.mark.parametrize("setting", ["0", "oops"])
def test_a_client_with_any_spin_setting_talks_to_a_real_daemon(home: Path, monkeypatch, setting: str) -> None:
    sid = new_session(home)
    path = ensure_daemon(home, sid)
    monkeypatch.setenv("REBENCH_CLIENT_SPIN_US", setting)
    with DaemonClient(path) as client, DaemonClient(path) as operator:
        client.initialize("t")
        operator.initialize("o", role="operator")
        for _ in range(20):
            assert not client.call_tool("status")["isError"]
        assert operator.request("rebench/record_event", {"kind": "k", "name": "n", "args": {}, "result": None})["id"]


def test_call_completes_and_is_recorded_after_the_client_disconnects(home: Path) -> None:
    sid = new_session(home)
    path = ensure_daemon(home, sid)
    session = Session.open(home, sid, hold=False)
    (session.workspace / "solution.py").write_text("import time\ndef answer():\n    time.sleep(1.5)\n    return 0.8\n")
    sock = raw_connect(path)
    sock.sendall(b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"score"}}\n')
    time.sleep(0.3)
    sock.close()
    deadline = time.monotonic() + 20
    while not session.recorder.scores() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [s["raw"] for s in session.recorder.scores()] == [0.8]
    assert session.recorder.events("tool")[-1]["name"] == "score"
    session.close()


def test_tcp_needs_the_token_and_refusals_are_recorded(home: Path) -> None:
    sid = new_session(home)
    ensure_daemon(home, sid, tcp="127.0.0.1:0")
    info = daemon_info(home, sid)
    host, port = info["tcp"].rsplit(":", 1)
    assert host == "127.0.0.1"

    def attempt(first: dict) -> tuple[dict, bytes]:
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            f = sock.makefile("rb")
            sock.sendall(json.dumps(first).encode() + b"\n")
            reply = json.loads(f.readline())
            sock.sendall(b'{"jsonrpc":"2.0","id":5,"method":"ping"}\n')
            try:
                after = f.readline()
            except OSError:
                after = b""
            return reply, after

    wrong, after_wrong = attempt({"jsonrpc": "2.0", "id": 1, "method": "authenticate", "params": {"token": "nope"}})
    assert wrong["error"]["code"] == -32001 and after_wrong == b""  # refused and closed
    missing, _ = attempt({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert missing["error"]["code"] == -32001
    ok, after_ok = attempt({"jsonrpc": "2.0", "id": 1, "method": "authenticate", "params": {"token": info["token"]}})
    assert ok["result"] == {"authenticated": True} and json.loads(after_ok)["result"] == {}

    with Session.open(home, sid, hold=False) as s:
        refusals = s.recorder.events("security")
        assert [(e["name"], e["args"]["token"]) for e in refusals] == [
            ("auth_refused", "wrong"),
            ("auth_refused", "missing"),
        ]
    assert stat.S_IMODE((home / "sessions" / sid / "private" / "daemon.json").stat().st_mode) == 0o600


def test_sigkill_of_the_daemon_loses_no_event_and_keeps_the_clock(home: Path) -> None:
    sid = new_session(home)
    path = ensure_daemon(home, sid)
    with DaemonClient(path) as client:
        client.initialize()
        for i in range(5):
            client.call_tool("note", {"text": f"note {i}"})
    pid = daemon_info(home, sid)["pid"]
    time.sleep(1.0)
    killed_at = time.time()
    os.kill(pid, signal.SIGKILL)
    while pid_alive(pid):
        time.sleep(0.05)
    alive = last_alive(home, sid)
    assert killed_at - 5.0 <= alive <= killed_at + 0.1  # it beat while it lived (every 0.5 s unless starved)
    time.sleep(2.0)

    restarted_at = time.time()
    path = ensure_daemon(home, sid)  # a fresh daemon; it recovers the clock
    assert daemon_info(home, sid)["pid"] != pid
    with DaemonClient(path) as client:
        client.initialize()
        status = client.call_tool("status")["structuredContent"]
    since_restart = time.time() - restarted_at
    with Session.open(home, sid, hold=False) as s:
        assert [n["text"] for n in s.recorder.notes()] == [f"note {i}" for i in range(5)]
        outage = [p for p in s.recorder.pauses() if p["reason"] == "outage"]
        assert len(outage) == 1 and outage[0]["start_wall"] == alive  # from when it was last known alive
        started = s.recorder.session()["started_at"]
    worked_until_alive = alive - started
    # That much, plus the working time since the restart.
    assert worked_until_alive - 1e-6 <= status["clock"]["working_s"] <= worked_until_alive + since_restart


def test_daemon_stops_itself_when_the_session_ends(home: Path) -> None:
    sid = new_session(home)
    path = ensure_daemon(home, sid)
    pid = daemon_info(home, sid)["pid"]
    with DaemonClient(path) as client:
        client.initialize()
        assert "submitted" in client.call_tool("submit")["content"][0]["text"]
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(pid)
    assert not path.exists()


def test_sigterm_pauses_the_clock_until_the_next_daemon(home: Path) -> None:
    sid = new_session(home)
    path = ensure_daemon(home, sid)
    with DaemonClient(path) as client:
        client.initialize()
        client.call_tool("status")
    pid = daemon_info(home, sid)["pid"]
    os.kill(pid, signal.SIGTERM)
    while pid_alive(pid):
        time.sleep(0.05)
    with Session.open(home, sid, hold=False) as s:
        assert s.clock().paused_reason == "daemon stopped"
    ensure_daemon(home, sid)
    with Session.open(home, sid, hold=False) as s:
        assert s.clock().running
        assert [p["resume_reason"] for p in s.recorder.pauses()] == ["holder restarted"]


def test_observer_sees_events_as_they_happen_and_cannot_change_anything(home: Path) -> None:
    sid = new_session(home)
    path = ensure_daemon(home, sid)
    with DaemonClient(path) as observer, DaemonClient(path) as agent:
        observer.initialize("watcher", role="observer")
        observer.request("rebench/subscribe")
        agent.initialize("agent")
        agent.call_tool("note", {"text": "hello observers"})
        refused = observer.call_tool("run", {"command": "true"})
        assert refused["isError"] and "read-only" in refused["content"][0]["text"]
        deadline = time.monotonic() + 5
        seen = []
        while time.monotonic() < deadline and not any(e["name"] == "note" for e in seen):
            observer.request("ping")
            seen = [
                n["params"]["event"] for n in observer.notifications if n["method"] == "notifications/rebench/event"
            ]
        note = next(e for e in seen if e["name"] == "note")
        assert note["args"] == {"text": "hello observers"} and note["client"] == "unix:agent"


def _events_seen(observer: DaemonClient, name: str) -> list[dict]:
    deadline = time.monotonic() + 5
    seen: list[dict] = []
    while time.monotonic() < deadline and not any(e["name"] == name for e in seen):
        observer.request("ping")
        seen = [n["params"]["event"] for n in observer.notifications if n["method"] == "notifications/rebench/event"]
    return seen


def test_an_observer_who_comes_after_the_last_one_left_sees_reads_and_operator_events(home: Path) -> None:
    """The daemon listens to the session's events only while someone is subscribed: after the
    only subscriber leaves, the next one is told of events again (reads and record_event too,
    which are recorded on the loop)."""
    sid = new_session(home)
    path = ensure_daemon(home, sid)
    with DaemonClient(path) as agent:
        agent.initialize("agent", role="operator")
        with DaemonClient(path) as first:
            first.initialize("first", role="observer")
            first.request("rebench/subscribe")
            agent.call_tool("note", {"text": "one"})
            assert any(e["name"] == "note" for e in _events_seen(first, "note"))
        agent.call_tool("status")  # nobody listens now
        time.sleep(0.2)
        with DaemonClient(path) as second:
            second.initialize("second", role="observer")
            second.request("rebench/subscribe")
            agent.call_tool("status")
            agent.request("rebench/record_event", {"kind": "agent", "name": "output", "args": {"n": 1}})
            seen = _events_seen(second, "output")
            assert [e["name"] for e in seen if e["kind"] == "tool"] == ["status"]  # only what came after
            assert any(e["name"] == "output" and e["args"] == {"n": 1} for e in seen)


def test_unknown_session_is_a_clear_error(home: Path) -> None:
    with pytest.raises(Exception, match="no session 'ghost'"):
        ensure_daemon(home, "ghost")
    with pytest.raises(RpcError):
        raise RpcError(-1, "x")
