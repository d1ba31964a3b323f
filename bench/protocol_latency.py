"""Protocol latency: 2,000 sequential `status` calls through the session daemon, beside
a bare newline-delimited JSON-RPC echo over a Unix socket (the floor) and the same calls
through the official `mcp` SDK client over stdio (`rebench-tui mcp`), in one run.

    .venv/bin/python bench/protocol_latency.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from session.client import DaemonClient, daemon_info, ensure_daemon
from session.session import Session

ECHO_SERVER = r"""
import json, os, socket, sys
path = sys.argv[1]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path); srv.listen(1)
print("ready", flush=True)
conn, _ = srv.accept()
f = conn.makefile("rb")
for line in f:
    msg = json.loads(line)
    conn.sendall(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": {}}).encode() + b"\n")
"""


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def bench_echo(tmp: Path, calls: int) -> list[float]:
    path = tmp / "echo.sock"
    server = subprocess.Popen([sys.executable, "-c", ECHO_SERVER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        server.stdout.readline()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(path))
        f = sock.makefile("rb")
        out = []
        for i in range(calls):
            start = time.perf_counter()
            message = {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": "status"}}
            sock.sendall(json.dumps(message).encode() + b"\n")
            json.loads(f.readline())
            out.append((time.perf_counter() - start) * 1000)
        sock.close()
        return out
    finally:
        server.kill()


def bench_daemon(socket_path: Path, calls: int) -> list[float]:
    out = []
    with DaemonClient(socket_path) as client:
        client.initialize("bench")
        for _ in range(calls):
            start = time.perf_counter()
            client.call_tool("status")
            out.append((time.perf_counter() - start) * 1000)
    return out


async def bench_sdk(home: Path, session_id: str, calls: int) -> list[float]:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "rebench_tui.cli", "mcp", session_id],
        env={**os.environ, "REBENCH_HOME": str(home)},
    )
    out = []
    async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
        await client.initialize()
        for _ in range(calls):
            start = time.perf_counter()
            await client.call_tool("status", {})
            out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rebench-latency-") as tmp:
        home = Path(tmp, "home")
        with Session.create(home, "selftest", kind="agent", budget_s=3600, hold=False) as s:
            session_id = s.id
        socket_path = ensure_daemon(home, session_id)
        try:
            rows = [
                ("bare JSON-RPC echo, Unix socket (baseline)", bench_echo(Path(tmp), args.calls)),
                ("rebench-tui daemon, Unix socket, status", bench_daemon(socket_path, args.calls)),
                ("mcp SDK client over stdio bridge, status", asyncio.run(bench_sdk(home, session_id, args.calls))),
            ]
        finally:
            info = daemon_info(home, session_id)
            if info:
                os.kill(info["pid"], signal.SIGTERM)
    base_p50, base_p99 = percentiles(rows[0][1])
    print(f"\n{args.calls} sequential calls each\n")
    print(f"{'path':46} {'p50 ms':>8} {'p99 ms':>8} {'p50 x echo':>11} {'p99 x echo':>11}")
    for name, samples in rows:
        p50, p99 = percentiles(samples)
        print(f"{name:46} {p50:8.3f} {p99:8.3f} {p50 / base_p50:11.1f} {p99 / base_p99:11.1f}")
    daemon_p50 = percentiles(rows[1][1])[0]
    sdk_p50 = percentiles(rows[2][1])[0]
    print(f"\nmcp SDK over stdio / daemon direct (p50): {sdk_p50 / daemon_p50:.1f}x")


if __name__ == "__main__":
    main()
