"""What a killed daemon leaves behind: its scorer and `run` processes are ended by the next
daemon (by their recorded process groups), stale verdict files removed, and clients say in
one line that the daemon went away."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
from conftest import REPO

from session import orphans
from session.client import daemon_info, ensure_daemon
from session.session import Session
from session.sockets import reachable


def wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def send_call(path: Path, name: str, arguments: dict | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with reachable(path) as address:
        sock.connect(address)
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments or {}}}
    sock.sendall(json.dumps(call).encode() + b"\n")
    return sock


def test_sigkill_during_a_score_leaves_no_orphan_after_the_next_start(home: Path) -> None:
    with Session.create(home, "selftest", kind="agent", hold=False) as s:
        sid, workspace, private = s.id, s.workspace, s.paths.private
        (workspace / "solution.py").write_text(
            "import os, time\n"
            "def answer():\n"
            "    open('scorer.pid', 'w').write(str(os.getpid()))\n"
            "    time.sleep(60)\n"
            "    return 1.0\n"
        )
    path = ensure_daemon(home, sid)
    sock = send_call(path, "score")
    assert wait_for(lambda: (workspace / "scorer.pid").exists() and (workspace / "scorer.pid").read_text())
    scorer = psutil.Process(int((workspace / "scorer.pid").read_text()))
    pgid = os.getpgid(scorer.pid)
    assert wait_for(lambda: str(pgid) in (private / orphans.REGISTRY_NAME).read_text(), 5)  # on file while it runs
    os.kill(daemon_info(home, sid)["pid"], signal.SIGKILL)
    sock.close()
    time.sleep(1.0)
    assert scorer.is_running()  # unowned now: nobody will stop it at its timeout
    stale = private / "env" / "score-results" / "left-behind.json"
    stale.write_text('{"raw": 99}')  # a verdict file an unowned scorer left

    ensure_daemon(home, sid)
    assert wait_for(lambda: not scorer.is_running(), 10)
    assert not stale.exists() and not list((private / "env" / "score-results").iterdir())
    with Session.open(home, sid, hold=False) as s:
        report = next(e for e in s.recorder.events("lifecycle") if e["name"] == "orphans")["result"]
        assert [g["pgid"] for g in report["killed_process_groups"]] == [pgid]
        assert report["killed_process_groups"][0]["what"] == "score"
        assert "left-behind.json" in report["removed_verdict_files"]
        (score,) = s.recorder.events("tool")
        assert score["status"] == "interrupted"
        assert s.recorder.scores() == []


def test_a_run_left_running_by_a_killed_daemon_is_ended_with_its_children(home: Path) -> None:
    with Session.create(home, "selftest", kind="agent", hold=False) as s:
        sid, workspace = s.id, s.workspace
    path = ensure_daemon(home, sid)
    sock = send_call(path, "run", {"command": "sleep 120 & echo $! > child.pid; sleep 120"})
    assert wait_for(lambda: (workspace / "child.pid").exists() and (workspace / "child.pid").read_text().strip())
    child = psutil.Process(int((workspace / "child.pid").read_text()))
    time.sleep(0.2)
    os.kill(daemon_info(home, sid)["pid"], signal.SIGKILL)
    sock.close()
    time.sleep(0.5)
    assert child.is_running()
    ensure_daemon(home, sid)
    assert wait_for(lambda: not child.is_running(), 10)


def test_the_registry_holds_a_group_only_while_it_runs(tmp_path: Path) -> None:
    private, workspace = tmp_path / "private", tmp_path / "ws"
    private.mkdir()
    workspace.mkdir()
    groups = orphans.ProcessGroups(private, workspace)
    with groups.watching("run"):
        proc = subprocess.Popen(["sleep", "30"], cwd=workspace, start_new_session=True)
        assert wait_for(lambda: (private / orphans.REGISTRY_NAME).exists(), 5)
        (entry,) = json.loads((private / orphans.REGISTRY_NAME).read_text())
        assert entry["pgid"] == proc.pid and entry["what"] == "run"
        proc.kill()
        proc.wait()
    assert json.loads((private / orphans.REGISTRY_NAME).read_text()) == []
    # A process in the workspace that does not lead its own group (not ours to track) is left alone.
    with groups.watching("run"):
        other = subprocess.Popen(["sleep", "30"], cwd=workspace)
        time.sleep(0.2)
    other.kill()
    other.wait()
    assert json.loads((private / orphans.REGISTRY_NAME).read_text()) == []
    assert orphans.reap(private) == {}


def test_call_says_in_one_line_that_the_daemon_went_away(home: Path) -> None:
    with Session.create(home, "selftest", kind="agent", hold=False) as s:
        sid, workspace = s.id, s.workspace
    ensure_daemon(home, sid)
    call = subprocess.Popen(
        [sys.executable, "-m", "rebench_tui.cli", "call", sid, "run", "--arg", "command=touch started; sleep 60"],
        env={**os.environ, "REBENCH_HOME": str(home)},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert wait_for(lambda: (workspace / "started").exists(), 30)
    os.kill(daemon_info(home, sid)["pid"], signal.SIGKILL)
    out, err = call.communicate(timeout=30)
    assert call.returncode == 3, (out, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "daemon went away" in err
