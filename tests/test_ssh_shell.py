"""`ssh -t host shell`: a plain recorded shell beside the TUI, with a real server and client."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import psutil
from sshkit import (
    end_session,
    needs_openssh,
    pause_clock,
    read_until,
    run_client,
    ssh_server,
    start_clock,
    wait_for,
)

from session.layout import session_paths
from session.session import Session


def casts(home: Path, session_id: str) -> list[str]:
    with Session.open(home, session_id, hold=False) as s:
        return [row["cast"] for row in s.recorder.query("select * from casts order by id")]


def parse_cast(text: str) -> tuple[dict, list[list]]:
    """asciinema v2: a header object, then [time, code, data] events in time order."""
    header, *events = [json.loads(line) for line in text.splitlines()]
    assert header["version"] == 2 and header["width"] > 0 and header["height"] > 0, header
    assert all(len(e) == 3 and e[1] in ("o", "i", "r", "m") for e in events), events[:5]
    times = [e[0] for e in events]
    assert times == sorted(times)
    return header, events


async def test_a_shell_runs_in_the_workspace_and_is_recorded_with_input_output_and_resizes(
    home: Path, tmp_path: Path
) -> None:
    async with ssh_server(home, tmp_path / "keys") as server:
        session_id = await asyncio.to_thread(start_clock, server.config, "alice")
        async with server.connect("alice") as conn:
            shell = await conn.create_process("shell", term_type="xterm-256color", term_size=(90, 30), encoding=None)
            shell.stdin.write(b"echo at-$PWD; echo home-$REBENCH_HOME; echo $((6*7))-$REBENCH_SESSION\n")
            seen = await read_until(shell.stdout, f"42-{session_id}".encode())
            assert f"home-{home}".encode() in seen  # so `rebench-tui call $REBENCH_SESSION status` works
            assert f"at-{session_paths(home, session_id).workspace}".encode() in seen
            shell.change_terminal_size(120, 40)
            await asyncio.sleep(0.3)
            shell.stdin.write(b"stty size\n")
            await read_until(shell.stdout, b"40 120")
            shell.stdin.write(b"exit 3\n")
            result = await shell.wait(timeout=30)
            assert result.exit_status == 3
        await wait_for(lambda: casts(home, session_id), what="the shell's cast")
    header, events = parse_cast(casts(home, session_id)[0])
    assert (header["width"], header["height"]) == (90, 30)
    typed = "".join(e[2] for e in events if e[1] == "i")
    shown = "".join(e[2] for e in events if e[1] == "o")
    assert "echo $((6*7))" in typed and "exit 3" in typed
    assert f"42-{session_id}" in shown and "40 120" in shown
    assert ["r", "120x40"] in [e[1:] for e in events]
    with Session.open(home, session_id, hold=False) as s:
        started, event = s.recorder.events("shell")  # recorded as it opened, then completed
        assert [started["name"], event["name"]] == ["cast_started", "cast"]
        assert event["client"] == "unix:ssh-server:operator" and event["result"]["cast_id"] == 1
        assert event["result"]["cut_off"] is False


async def test_a_shell_is_refused_with_a_message_without_a_terminal_or_while_paused(home: Path, tmp_path: Path) -> None:
    async with ssh_server(home, tmp_path / "keys") as server:
        async with server.connect("alice") as conn:
            result = await conn.run("shell", encoding=None, timeout=30)  # no terminal asked for
            assert result.exit_status == 1 and b"needs a terminal" in result.stderr
            result = await conn.run("shell", term_type="xterm", encoding=None, timeout=30)
            assert result.exit_status == 1 and b"has not started" in result.stderr
        session_id = await asyncio.to_thread(start_clock, server.config, "alice")
        await asyncio.to_thread(pause_clock, server.config, session_id)
        async with server.connect("alice") as conn:
            result = await conn.run("shell", term_type="xterm", encoding=None, timeout=30)
            assert result.exit_status == 1 and b"the clock is paused (test)" in result.stderr
    entries = [json.loads(line) for line in server.config.log_path.read_text().splitlines()]
    refused = [e for e in entries if e["event"] == "refused" and e["what"] == "shell"]
    assert len(refused) == 3 and {e["user"] for e in refused} == {"alice"}


async def test_a_dropped_connection_hangs_up_the_shell_and_keeps_its_recording(home: Path, tmp_path: Path) -> None:
    async with ssh_server(home, tmp_path / "keys") as server:
        session_id = await asyncio.to_thread(start_clock, server.config, "alice")
        conn = await server.connect("alice")
        shell = await conn.create_process("shell", term_type="xterm", encoding=None)
        shell.stdin.write(b"echo started-$((1+1)); sleep 307\n")
        await read_until(shell.stdout, b"started-2")

        def sleeping() -> list[psutil.Process]:
            return [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "307"]]

        await wait_for(lambda: sleeping(), what="the sleep")
        conn.abort()
        await wait_for(lambda: not sleeping(), what="the hang-up")
        await wait_for(lambda: casts(home, session_id), what="the cut-off shell's cast")
    _, events = parse_cast(casts(home, session_id)[0])
    assert "started-2" in "".join(e[2] for e in events if e[1] == "o")


@needs_openssh
async def test_openssh_gets_a_shell_with_ssh_t(home: Path, tmp_path: Path) -> None:
    async with ssh_server(home, tmp_path / "keys") as server:
        session_id = await asyncio.to_thread(start_clock, server.config, "alice")
        ssh = ["ssh", *server.openssh("alice"), "-p", str(server.port), "-tt", "alice@127.0.0.1", "shell"]
        rc, out, err = await run_client(*ssh, stdin=b"echo openssh-$((20+22))\nexit\n")
        assert rc == 0 and "openssh-42" in out, (rc, out, err)
        rc, out, err = await run_client(
            "ssh", *server.openssh("alice"), "-p", str(server.port), "alice@127.0.0.1", "shell"
        )
        assert rc == 1 and "ssh -t" in err, (rc, err)
        await wait_for(lambda: casts(home, session_id), what="the cast")


async def test_the_end_of_the_session_closes_the_shell_and_keeps_its_recording(home: Path, tmp_path: Path) -> None:
    async with ssh_server(home, tmp_path / "keys") as server:
        session_id = await asyncio.to_thread(start_clock, server.config, "alice")
        async with server.connect("alice") as conn:
            shell = await conn.create_process("shell", term_type="xterm", encoding=None)
            shell.stdin.write(b"echo before-$((2+2))\n")
            await read_until(shell.stdout, b"before-4")
            await asyncio.to_thread(end_session, server.config, session_id)
            await read_until(shell.stdout, b"the session has ended")
            result = await shell.wait(timeout=30)
            assert result.exit_status != 0  # hung up
        await wait_for(lambda: casts(home, session_id), what="the cast")
    _, events = parse_cast(casts(home, session_id)[0])
    shown = "".join(e[2] for e in events if e[1] == "o")
    assert "before-4" in shown and "this shell is closed" in shown


async def test_a_killed_server_leaves_the_shells_cast_up_to_its_last_output(home: Path, tmp_path: Path) -> None:
    """The cast goes to the daemon as the shell runs: a SIGKILL of the whole SSH server (a separate
    process here) loses none of what the client already saw, and asciinema reads it."""
    import os
    import re
    import signal
    import subprocess
    import sys

    import asyncssh
    from conftest import REPO
    from test_casts import asciinema_parses, wait_for_bytes

    from session.client import DaemonClient, ensure_daemon

    keys = tmp_path / "keys"
    keys.mkdir()
    key = asyncssh.generate_private_key("ssh-ed25519")
    (keys / "alice").write_text(key.export_public_key().decode())
    server = subprocess.Popen(
        [sys.executable, "-m", "rebench_tui.cli", "--home", str(home), "serve", "--port", "0", "--env", "selftest",
         "--budget", "1h", "--authorized-keys", str(keys), "--host-key", str(tmp_path / "host_key")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        port = int(re.search(r"on 127\.0\.0\.1:(\d+)", server.stdout.readline()).group(1))
        connect = dict(port=port, username="alice", client_keys=[key], known_hosts=None)
        async with asyncssh.connect("127.0.0.1", **connect) as conn:  # the first login makes the session
            result = await conn.run("shell", term_type="xterm", encoding=None, timeout=30)
            assert b"has not started" in result.stderr
        (session_id,) = [p.name for p in (home / "sessions").iterdir()]
        with DaemonClient(ensure_daemon(home, session_id)) as client:
            client.initialize("test")
            client.call_tool("resume", {"reason": "test"})
        conn = await asyncssh.connect("127.0.0.1", **connect)
        shell = await conn.create_process("shell", term_type="xterm", encoding=None)
        shell.stdin.write(b"echo seen-$((40+2))\n")
        await read_until(shell.stdout, b"seen-42")
        await asyncio.to_thread(wait_for_bytes, home, session_id, "seen-42")  # flushed to the recording
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
        conn.abort()
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
    (left,) = (session_paths(home, session_id).private / "casts").glob("*.cast")
    text = left.read_text()
    assert "seen-42" in asciinema_parses(text, tmp_path)
    _, events = parse_cast(text)
    assert "echo seen-$((40+2))" in "".join(e[2] for e in events if e[1] == "i")
