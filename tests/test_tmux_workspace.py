"""The expert's terminal in tmux: the dashboard in window 0, recorded shells beside it, all living
on when the terminal goes away. Real tmux servers, the real command line, real processes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import libtmux
import pytest
from conftest import REPO, cli

from rebench_tui.tmux_workspace import SESSION, socket_name
from session.session import Session

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def until(predicate: Callable[[], object], timeout: float = 30, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or predicate}")


class Terminal:
    """An outer tmux standing in for the participant's terminal (an SSH client's, or a local one)."""

    def __init__(self, home: Path, argv: list[str]) -> None:
        self.name = f"rbt-{uuid.uuid4().hex[:8]}"
        env = {**os.environ, "REBENCH_HOME": str(home)}
        env.pop("TMUX", None)
        command = " ".join([sys.executable, "-m", "rebench_tui.cli", *argv]) + "; sleep 60"
        size = ["-x", "100", "-y", "30"]
        argv = ["tmux", "-L", self.name, "new-session", "-d", *size, "-c", str(REPO), command]
        subprocess.run(argv, check=True, env=env)

    def close(self) -> None:
        """The terminal goes away (a dropped connection): its tmux client dies with it."""
        subprocess.run(["tmux", "-L", self.name, "kill-server"], capture_output=True)


class Workspace:
    def __init__(self, home: Path, sid: str) -> None:
        self.home, self.sid = home, sid
        self.server = libtmux.Server(socket_name=socket_name(sid))

    def tmux(self, *args: str) -> list[str]:
        return self.server.cmd(*args).stdout

    def screen(self, window: int) -> str:
        return "\n".join(self.tmux("capture-pane", "-p", "-t", f"{SESSION}:{window}"))

    def windows(self) -> list[str]:
        return self.tmux("list-windows", "-t", SESSION, "-F", "#{window_index}:#{window_name}")

    def send(self, window: int, *keys: str) -> None:
        self.tmux("send-keys", "-t", f"{SESSION}:{window}", *keys)


@pytest.fixture
def workspace(home: Path) -> Iterator[tuple[Workspace, Terminal]]:
    with Session.create(home, "selftest", budget_s=3600, kind="human", participant="expert", hold=False) as s:
        sid = s.id
    cli("call", sid, "resume", "--arg", "reason=start", home=home)
    terminal = Terminal(home, ["attach", sid])
    ws = Workspace(home, sid)
    try:
        until(lambda: "RUNNING" in ws.screen(0) if ws.server.is_alive() else False, 60, "the dashboard")
        yield ws, terminal
    finally:
        terminal.close()
        subprocess.run(["tmux", "-L", socket_name(sid), "kill-server"], capture_output=True)


def open_shell(ws: Workspace) -> int:
    ws.send(0, "x")
    until(lambda: any(w.endswith(":shell") for w in ws.windows()), 20, "a shell window")
    window = int(next(w for w in ws.windows() if w.endswith(":shell")).split(":")[0])
    until(lambda: re.search(r"workspace [$#]", ws.screen(window)), 30, "the shell's prompt")
    return window


def test_the_dashboard_and_a_shell_update_at_the_same_time(workspace: tuple[Workspace, Terminal]) -> None:
    ws, _ = workspace
    shell = open_shell(ws)
    assert "Ctrl-b 0: dashboard" in ws.screen(shell)  # the banner says how to get back
    ws.send(shell, "for i in $(seq 3000); do echo tick$i; sleep 0.1; done", "Enter")
    until(lambda: "tick5" in ws.screen(shell), 20, "the shell's loop")
    cli("call", ws.sid, "note", "--arg", "text=while the loop runs", home=ws.home)
    scored = cli("call", ws.sid, "score", "--json", home=ws.home)
    assert json.loads(scored.stdout)["valid"]
    # The dashboard shows the new score while the shell is still printing.
    until(lambda: "answer=0.0" in ws.screen(0), 20, "the score in the dashboard")
    assert "tick3000" not in ws.screen(shell)
    status = ws.tmux("show-options", "-g", "status-right")
    assert any("RUNNING" in line and "left" in line for line in status), status


def test_a_dropped_terminal_leaves_the_shells_running_and_the_next_attach_finds_them(
    workspace: tuple[Workspace, Terminal], home: Path
) -> None:
    ws, terminal = workspace
    shell = open_shell(ws)
    ws.send(shell, "sleep 600 & echo pid=$!", "Enter")
    pid = int(until(lambda: next((line.split("=")[1] for line in ws.screen(shell).splitlines()
                                  if line.startswith("pid=")), None), 20, "the sleep's pid"))  # fmt: skip
    terminal.close()
    time.sleep(1.0)
    assert ws.server.is_alive() and Path(f"/proc/{pid}").exists()
    again = Terminal(home, ["attach", ws.sid])
    try:
        until(lambda: ws.tmux("list-clients"), 30, "the next terminal attached")
        assert f"{shell}:shell" in ws.windows() and Path(f"/proc/{pid}").exists()
        ws.send(shell, "echo still-here", "Enter")
        until(lambda: "still-here" in ws.screen(shell).split("pid=")[-1], 20, "the same shell answering")
    finally:
        again.close()


def test_the_end_of_the_session_ends_the_shells_and_leaves_a_complete_record(
    workspace: tuple[Workspace, Terminal],
) -> None:
    ws, _ = workspace
    shell = open_shell(ws)
    ws.send(shell, "echo before-the-end > made.txt", "Enter")
    until(lambda: (Path(ws.home, "sessions", ws.sid, "workspace", "made.txt")).exists(), 20, "the command")
    cli("call", ws.sid, "submit", home=ws.home)
    until(lambda: "the session has ended" in ws.screen(shell), 30, "the end in the shell's window")
    until(lambda: "Session over" in ws.screen(0), 30, "the end in the dashboard")
    final = " ".join(ws.screen(0).split())  # the modal's words, unwrapped
    # The clock says "ended" before the end is written: the modal waits for the final score, never
    # calling a visible score hidden (selftest's start is its final score without a valid one).
    assert "hidden in this environment" not in final and "not recorded yet" not in final, ws.screen(0)
    ws.send(shell, "echo after-the-end > late.txt", "Enter")
    time.sleep(1.0)
    assert not Path(ws.home, "sessions", ws.sid, "workspace", "late.txt").exists()
    assert "Traceback" not in ws.screen(0) + ws.screen(shell)
    with Session.open(ws.home, ws.sid, hold=False) as s:
        casts = s.recorder.casts()
        ended = [e["result"] for e in s.recorder.events("shell") if e["name"] == "cast"]
    assert len(casts) == 1 and "before-the-end" in casts[0]["cast"], [
        (c["cast"][:300], c["cast"][-300:]) for c in casts
    ]
    assert ended and ended[0]["cut_off"] is False


async def test_over_ssh_a_dropped_connection_leaves_the_shell_and_its_process_for_the_next_login(
    home: Path, tmp_path: Path
) -> None:
    """A real asyncssh server and client: the login opens the tmux workspace; a `sleep 600` started in
    a shell survives the dropped connection, and the next login finds the same shell and process."""
    import asyncio

    from sshkit import ssh_server, start_clock

    async with ssh_server(home, tmp_path / "keys", ("erin",)) as running:
        sid = start_clock(running.config, "erin")
        ws = Workspace(home, sid)
        async with running.connect("erin") as conn:
            first = await conn.create_process(term_type="xterm-256color", term_size=(100, 30), encoding=None)
            await asyncio.to_thread(until, lambda: ws.server.is_alive() and "RUNNING" in ws.screen(0), 60, "dashboard")
            shell = await asyncio.to_thread(open_shell, ws)
            ws.send(shell, "sleep 600 & echo pid=$!", "Enter")
            found = await asyncio.to_thread(
                until,
                lambda: next((ln[4:] for ln in ws.screen(shell).splitlines() if ln.startswith("pid=")), None),
                20,
                "the sleep",
            )
            pid = int(found)
            first.close()
        try:  # the connection is gone: its tmux client with it
            await asyncio.to_thread(until, lambda: not ws.tmux("list-clients"), 20, "the tmux client gone")
            assert Path(f"/proc/{pid}").exists()
            async with running.connect("erin") as conn:
                again = await conn.create_process(term_type="xterm-256color", term_size=(100, 30), encoding=None)
                await asyncio.to_thread(until, lambda: ws.tmux("list-clients"), 30, "the next login attached")
                assert f"{shell}:shell" in ws.windows() and Path(f"/proc/{pid}").exists()
                ws.send(shell, "echo still-here", "Enter")
                await asyncio.to_thread(until, lambda: "still-here" in ws.screen(shell), 20, "the same shell")
                again.close()
        finally:
            subprocess.run(["tmux", "-L", socket_name(sid), "kill-server"], capture_output=True)


@pytest.mark.serial  # accounts and cgroups are host-wide
@pytest.mark.skipif(os.geteuid() != 0, reason="the front and work groups need root (CI runs as root)")
def test_a_command_started_by_tmux_itself_is_frozen_while_paused_and_stopped_at_the_end(open_home: Path) -> None:
    """The attack: skip the recorded shell and ask one's own tmux server for a window running a command
    of one's own. tmux runs it in the front group (the dashboard's, never frozen); the daemon's sweep
    must move it into the work group, recorded, so that a pause freezes it and the end stops it."""
    import psutil

    from session.participant import participant_environment

    with Session.create(open_home, "selftest", budget_s=3600, kind="human", participant="tmuxer", hold=False) as s:
        sid, confinement, workspace = s.id, s.confinement, s.workspace
    if not confinement.can_freeze:
        pytest.skip("this host cannot group processes (no writable cgroups)")
    cli("call", sid, "resume", "--arg", "reason=start", home=open_home)
    terminal = Terminal(open_home, ["attach", sid])

    def processes(argv: list[str]) -> list[psutil.Process]:
        return [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == argv]

    def group_of(proc: psutil.Process) -> str:
        """The session group a process is in (the last part of its cgroup paths, which agree)."""
        groups = {line.rsplit("/", 1)[-1] for line in Path(f"/proc/{proc.pid}/cgroup").read_text().splitlines()}
        return next(iter(groups & {"front", "work"}), "")

    def tmux_server_up() -> bool:
        return any(f"rebench-{sid}" in (p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"]))

    try:
        until(tmux_server_up, 60, "the workspace's tmux server")
        time.sleep(2)  # the dashboard up in window 0
        # As the participant would, from a shell of theirs: their own tmux server starts the command.
        attack = ["tmux", "-L", socket_name(sid), "new-window", "-d", "sleep 309"]
        argv = confinement.wrap(attack, "participant", group="work", cwd=workspace)
        subprocess.run(argv, env=participant_environment(confinement.environment("participant")), check=True)
        until(lambda: processes(["sleep", "309"]), 10, "the unrecorded command")
        stray = processes(["sleep", "309"])[0]
        until(lambda: group_of(stray) == "work", 10, "the sweep to move it into work")
        with Session.open(open_home, sid, hold=False) as s:
            strays = [e for e in s.recorder.events("isolation") if e["name"] == "front_strays"]
        assert any("sleep 309" in json.dumps(e["args"]) for e in strays), strays
        assert not any("utempter" in json.dumps(e["args"]) for e in strays), strays  # tmux's own helper stays
        # A process that keeps changing what it runs (exec from sh to python and back, every 0.2 s)
        # is no front end at any sweep: it is caught as well.
        hop = workspace / "hop.sh"
        hop.write_text(
            "sleep 0.2\n"
            f"exec python3 -c \"import os, time; time.sleep(0.2); os.execv('/bin/sh', ['sh', '{hop}', 'hop-309'])\"\n"
        )
        os.chmod(hop, 0o755)
        hopping = ["tmux", "-L", socket_name(sid), "new-window", "-d", f"exec sh {hop} hop-309"]
        subprocess.run(
            confinement.wrap(hopping, "participant", group="work", cwd=workspace),
            env=participant_environment(confinement.environment("participant")),
            check=True,
        )

        def hopper() -> list[psutil.Process]:
            return [p for p in psutil.process_iter(["cmdline"]) if "hop-309" in " ".join(p.info["cmdline"] or [])]

        until(hopper, 10, "the hopping command")
        until(lambda: all(group_of(p) == "work" for p in hopper()), 10, "the sweep to move the hopper into work")
        # The dashboard and the tmux server stay in front: only the stray moved.
        ours = [p for p in psutil.process_iter(["cmdline"]) if f"rebench-{sid}" in (p.info["cmdline"] or [])]
        assert ours and all(group_of(p) == "front" for p in ours)
        # Paused: it is frozen like the rest of the work.
        cli("call", sid, "pause", "--arg", "reason=lunch", home=open_home)
        until(lambda: _frozen(stray), 10, "the stray to be frozen")
        cli("call", sid, "resume", "--arg", "reason=back", home=open_home)
        cli("call", sid, "submit", home=open_home)
        until(lambda: not processes(["sleep", "309"]), 15, "the end to stop it")
    finally:
        terminal.close()
        for p in processes(["sleep", "309"]):
            p.kill()


def _frozen(proc: object) -> bool:
    """Whether a process's cgroup says it is frozen (cgroup v1's freezer or v2's cgroup.freeze)."""
    for line in Path(f"/proc/{getattr(proc, 'pid', 0)}/cgroup").read_text().splitlines():
        _, controllers, group = line.split(":", 2)
        if controllers == "freezer":
            state = Path("/sys/fs/cgroup/freezer", group.lstrip("/"), "freezer.state")
            if state.exists() and state.read_text().strip() == "FROZEN":
                return True
        elif controllers == "":  # cgroup v2, mounted at /sys/fs/cgroup or beside v1 at .../unified
            for root in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
                events = Path(root, group.lstrip("/"), "cgroup.events")
                if events.exists() and "frozen 1" in events.read_text():
                    return True
    return False
