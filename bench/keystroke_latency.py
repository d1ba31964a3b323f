"""Keystroke echo latency: a shell window of the tmux workspace over SSH, beside a plain SSH shell
(`ssh host shell`, the baseline) on the same server, in one run.

    .venv/bin/python bench/keystroke_latency.py [--keys 200]

Each key is one byte sent on the SSH channel; its latency is the time until that byte comes back
in the channel's output (bash echoes it; in the workspace tmux redraws it). Both paths run the
same server, session and account, so the difference is tmux and the shell window's recorder.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncssh

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rebench_tui.ssh import Server, ServerConfig, current_session
from rebench_tui.tmux_workspace import SESSION, socket_name
from session.client import DaemonClient, ensure_daemon

KEYS = "abcdefghijklmnopqrstuvwxyz"


async def _read_until(stdout: asyncssh.SSHReader, wanted: bytes, timeout: float = 10.0) -> None:
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        seen += await asyncio.wait_for(stdout.read(4096), max(deadline - time.monotonic(), 0.01))


async def _echo_latencies(process: asyncssh.SSHClientProcess, keys: int) -> list[float]:
    """ms per key: write one letter, wait for it in the output (then erase it, untimed)."""
    out = []
    for i in range(keys):
        key = KEYS[i % len(KEYS)].encode()
        started = time.perf_counter()
        process.stdin.write(key)
        await _read_until(process.stdout, key)
        out.append((time.perf_counter() - started) * 1e3)
        process.stdin.write(b"\x7f")  # backspace: the line stays short
        await asyncio.sleep(0.02)
        with contextlib.suppress(TimeoutError):  # what the backspace printed
            await asyncio.wait_for(process.stdout.read(4096), 0.05)
    return out


async def measure(keys: int) -> dict[str, list[float]]:
    base = Path(tempfile.mkdtemp(prefix="rebench-keys-"))
    home = base / "home"
    key = asyncssh.generate_private_key("ssh-ed25519")
    authorized = base / "authorized"
    authorized.mkdir(parents=True)
    (authorized / "bench").write_text(key.export_public_key().decode())
    config = ServerConfig(home=home, authorized_dir=authorized, host_key=base / "host_key", env_id="selftest",
                          budget_s=3600)  # fmt: skip
    server = Server(config)
    acceptor = await server.start("127.0.0.1", 0)
    port = acceptor.sockets[0].getsockname()[1]
    sid = await asyncio.to_thread(current_session, config, "bench")
    with DaemonClient(await asyncio.to_thread(ensure_daemon, home, sid)) as rpc:
        rpc.initialize("bench")
        rpc.call_tool("resume", {"reason": "bench"})
    results: dict[str, list[float]] = {}
    try:
        async with asyncssh.connect("127.0.0.1", port, username="bench", client_keys=[key], known_hosts=None) as conn:
            plain = await conn.create_process("shell", term_type="xterm", term_size=(100, 30), encoding=None)
            await asyncio.sleep(2.0)
            results["plain SSH shell (baseline)"] = await _echo_latencies(plain, keys)
            plain.close()
        async with asyncssh.connect("127.0.0.1", port, username="bench", client_keys=[key], known_hosts=None) as conn:
            workspace = await conn.create_process(term_type="xterm", term_size=(100, 30), encoding=None)
            tmux = ["tmux", "-L", socket_name(sid)]
            deadline = time.monotonic() + 60
            while subprocess.run([*tmux, "has-session", "-t", SESSION], capture_output=True).returncode:
                assert time.monotonic() < deadline, "the workspace did not start"
                await asyncio.sleep(0.2)
            await asyncio.sleep(3.0)
            subprocess.run([*tmux, "new-window", "-t", f"{SESSION}:"], check=True)  # a shell, selected
            await asyncio.sleep(3.0)
            with contextlib.suppress(TimeoutError):  # the screen so far
                await asyncio.wait_for(workspace.stdout.read(1 << 20), 0.5)
            results["tmux workspace shell over SSH"] = await _echo_latencies(workspace, keys)
            workspace.close()
            subprocess.run([*tmux, "kill-server"], capture_output=True)
    finally:
        acceptor.close()
        await acceptor.wait_closed()
        with DaemonClient(ensure_daemon(home, sid)) as rpc:
            rpc.initialize("bench")
            rpc.call_tool("submit")
    return results


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=200)
    args = parser.parse_args()
    os.environ.setdefault("TERM", "xterm")
    results = asyncio.run(measure(args.keys))
    baseline = statistics.median(results["plain SSH shell (baseline)"])
    print(f"\n{args.keys} keystrokes each, echo latency\n")
    print(f"{'path':36} {'p50 ms':>8} {'p90 ms':>8} {'p50 x baseline':>15}")
    for name, values in results.items():
        p50 = statistics.median(values)
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"{name:36} {p50:8.2f} {p90:8.2f} {p50 / baseline:15.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
