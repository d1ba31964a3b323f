"""`rebench-tui agent`: real agent processes through the real daemon."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import REPO, cli

from session.session import Session

AGENT = str(REPO / "examples" / "scripted_agent.py")


def run_agent(home: Path, *args: str, timeout: float = 120) -> tuple[dict, str]:
    """`rebench-tui agent ARGS --json`; returns the summary and everything printed."""
    out = cli("agent", *args, home=home, timeout=timeout).stdout
    return json.loads(out[out.index("{") :]), out


def events(home: Path, session_id: str, kind: str) -> list[dict]:
    with Session.open(home, session_id, hold=False) as s:
        return s.recorder.events(kind)


def test_example_agent_completes_a_selftest_session(home: Path) -> None:
    summary, _ = run_agent(home, "--env", "selftest", "--budget", "10m", "--json", "--", sys.executable, AGENT)
    assert summary["end_reason"] == "submitted" and summary["final_normalized"] == pytest.approx(0.9)
    sid = summary["session"]
    calls = [(e["client"], e["name"]) for e in events(home, sid, "tool")]
    assert calls[0] == ("unix:agent-runner", "resume")  # the runner starts the clock with the agent
    agent_calls = [name for client, name in calls if client == "unix:scripted-agent"]
    assert agent_calls[:3] == ["status", "instructions", "run"] and agent_calls[-1] == "submit"
    output = "".join(e["result"]["text"] for e in events(home, sid, "agent_output"))
    assert "[agent] submit: submitted" in output
    with Session.open(home, sid, hold=False) as s:
        assert s.recorder.usage_totals()["reports"] == 1
        assert s.recorder.session()["kind"] == "agent"


def test_agent_that_overruns_its_budget_is_stopped(home: Path) -> None:
    script = (
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('working', flush=True)\ntime.sleep(600)\n"
    )
    argv = ["--env", "selftest", "--budget", "3s", "--grace", "2s", "--json", "--", sys.executable, "-c", script]
    summary, _ = run_agent(home, *argv)
    assert summary["end_reason"] == "budget"
    assert summary["agent_stopped"] == "killed"  # it ignored SIGTERM
    assert summary["final_normalized"] == 0.0
    exited = events(home, summary["session"], "lifecycle")
    assert any(e["name"] == "agent_exited" and e["result"]["how"] == "killed" for e in exited)


def test_agent_that_exits_without_submitting_is_submitted_for(home: Path) -> None:
    summary, _ = run_agent(
        home, "--env", "selftest", "--budget", "10m", "--json", "--", sys.executable, "-c", "print()"
    )
    assert summary["end_reason"] == "submitted" and summary["agent_returncode"] == 0


def test_agent_gets_tcp_address_and_token_when_asked(home: Path) -> None:
    script = (
        "import json, os, socket\n"
        "host, port = os.environ['REBENCH_TCP'].rsplit(':', 1)\n"
        "s = socket.create_connection((host, int(port)))\n"
        "f = s.makefile('rb')\n"
        "s.sendall(json.dumps({'jsonrpc': '2.0', 'id': 1, 'method': 'authenticate',"
        " 'params': {'token': os.environ['REBENCH_TOKEN']}}).encode() + b'\\n')\n"
        "assert json.loads(f.readline())['result'] == {'authenticated': True}\n"
        's.sendall(b\'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"note",'
        '"arguments":{"text":"over tcp"}}}\\n\')\n'
        "print(json.loads(f.readline())['result']['content'][0]['text'])\n"
    )
    summary, printed = run_agent(
        home, "--env", "selftest", "--tcp", "--budget", "10m", "--json", "--", sys.executable, "-c", script
    )
    assert "note 1 recorded" in printed
    with Session.open(home, summary["session"], hold=False) as s:
        assert [n["text"] for n in s.recorder.notes()] == ["over tcp"]


def test_an_agent_that_submits_and_then_takes_a_moment_to_exit_is_not_signalled(home: Path) -> None:
    """The session ends at `submit`; the agent, still closing up, exits on its own with its own code."""
    script = (
        f"import os, sys, time\nsys.path.insert(0, {str(REPO / 'examples')!r})\n"
        "from scripted_agent import Client\n"
        "client = Client(os.environ['REBENCH_SOCKET'])\n"
        "client.request('initialize', {'protocolVersion': '2025-11-25', 'capabilities': {},"
        " 'clientInfo': {'name': 'slow-exit', 'version': '1'}})\n"
        "client.tool('submit')\ntime.sleep(0.5)\nprint('closing up', flush=True)\n"
    )
    summary, out = run_agent(home, "--env", "selftest", "--budget", "10m", "--json", "--", sys.executable, "-c", script)
    assert summary["end_reason"] == "submitted" and "closing up" in out
    assert summary["agent_returncode"] == 0 and summary["agent_stopped"] == "exited", summary


def test_agent_output_goes_through_the_daemon_and_live_observers_see_it(home: Path) -> None:
    # The agent itself watches as an observer: its own printed line must come back as a live event.
    script = (
        "import json, os, socket, sys, time\n"
        "path = os.environ['REBENCH_SOCKET']; here = os.getcwd(); os.chdir(os.path.dirname(path))\n"
        "s = socket.socket(socket.AF_UNIX); s.connect(os.path.basename(path)); os.chdir(here); f = s.makefile('rb')\n"
        "def send(m): s.sendall(json.dumps(m).encode() + b'\\n')\n"
        "send({'jsonrpc': '2.0', 'id': 1, 'method': 'initialize',"
        " 'params': {'_meta': {'rebench/role': 'observer'}}})\n"
        "send({'jsonrpc': '2.0', 'id': 2, 'method': 'rebench/subscribe'})\n"
        "while json.loads(f.readline()).get('id') != 2: pass\n"
        "print('marker line', flush=True)\n"
        "s.settimeout(20)\n"
        "while True:\n"
        "    m = json.loads(f.readline())\n"
        "    e = m.get('params', {}).get('event', {})\n"
        "    if e.get('kind') == 'agent_output' and 'marker line' in e['result']['text']:\n"
        "        print('seen live by', e['client'], file=sys.stderr, flush=True); break\n"
    )
    summary, _ = run_agent(home, "--env", "selftest", "--budget", "10m", "--json", "--", sys.executable, "-c", script)
    recorded = events(home, summary["session"], "agent_output")
    # Per stream: stdout's and stderr's chunks interleave in the record (an unbuffered print is
    # several writes), so only one stream's chunks, in order, make its text.
    said = "".join(e["result"]["text"] for e in recorded if e["name"] == "stderr")
    assert summary["agent_returncode"] == 0 and "seen live by unix:agent-runner:operator" in said, said
    assert all(e["client"] == "unix:agent-runner:operator" and e["status"] == "done" for e in recorded)
    names = [e["name"] for e in events(home, summary["session"], "lifecycle")]
    assert "agent_started" in names and "agent_exited" in names
