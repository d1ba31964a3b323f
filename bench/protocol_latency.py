"""Protocol latency, start-up and recording throughput of the session daemon, in one run.

Latency: N sequential `status` calls through the session daemon (DaemonClient over its
Unix socket), beside a bare newline-delimited JSON-RPC echo over a Unix socket (the
floor), the official `mcp` SDK's own stdio server (FastMCP / MCPServer, a trivial tool
returning a constant) called through the SDK's stdio client (the baseline), and `status`
through `rebench-tui mcp` with the same SDK client.

Start-up: `rebench-tui call SID status` (daemon already running) and `rebench-tui mcp SID`
up to its first reply to `initialize`, each the median of several runs, beside
`python -c pass`.

Throughput: events committed per second through `rebench/record_event`, one client and
eight concurrent clients (each its own process and connection), each either waiting for
every answer or keeping 64 requests in flight (JSON-RPC pipelining), checked against the
recording afterwards.

Baselines in the same run: the echo floor, the SDK's own server, the same daemon on
asyncio's standard event loop (`REBENCH_EVENT_LOOP=asyncio`) beside uvloop, and the same
daemon not polling after its answers (`REBENCH_POLL_US=0`), and a client that sleeps at once
while it waits for its answer (`spin_s=0`, what `REBENCH_CLIENT_SPIN_US=0` sets).

    .venv/bin/python bench/protocol_latency.py [--calls 2000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from session import protocol as p
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

# The SDK's own high-level server over stdio: FastMCP in mcp 1.x, renamed MCPServer in 2.x.
SDK_SERVER = r"""
try:
    from mcp.server.fastmcp import FastMCP as Server
except ModuleNotFoundError:
    from mcp.server.mcpserver import MCPServer as Server
server = Server("baseline")

@server.tool()
def status() -> str:
    return "ok"

server.run()
"""

PIPELINE_WINDOW = 64  # requests one client keeps in flight in the pipelined runs
TARGETS = {
    "status_p50_ms": 0.4,
    "status_vs_sdk": 5.0,
    "call_s": 0.15,
    "mcp_first_reply_s": 0.3,
    "events_1": 5000.0,
    "events_8": 30000.0,
}


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


# -- latency ---------------------------------------------------------------------------
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
        server.wait()


def bench_daemon(socket_path: Path, calls: int, spin_s: float | None = None) -> list[float]:
    """`calls` sequential `status` calls; `spin_s` 0: a client that sleeps at once while it waits."""
    out = []
    with DaemonClient(socket_path, spin_s=spin_s) as client:
        client.initialize("bench")
        for _ in range(calls):
            start = time.perf_counter()
            client.call_tool("status")
            out.append((time.perf_counter() - start) * 1000)
    return out


async def bench_sdk_stdio(args: list[str], env: dict[str, str], tool: str, calls: int) -> list[float]:
    """`calls` sequential `tools/call`s through the mcp SDK's stdio client to the server `args` starts."""
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(command=sys.executable, args=args, env=env)
    out = []
    async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
        await client.initialize()
        for _ in range(calls):
            start = time.perf_counter()
            result = await client.call_tool(tool, {})
            out.append((time.perf_counter() - start) * 1000)
        if getattr(result, "isError", False) or getattr(result, "is_error", False):
            raise RuntimeError(f"{tool} through the SDK client failed: {result}")
    return out


def bench_sdk_server(calls: int) -> list[float]:
    return asyncio.run(bench_sdk_stdio(["-c", SDK_SERVER], dict(os.environ), "status", calls))


def bench_sdk_bridge(home: Path, session_id: str, calls: int) -> list[float]:
    env = {**os.environ, "REBENCH_HOME": str(home)}
    return asyncio.run(bench_sdk_stdio(["-m", "rebench_tui.cli", "mcp", session_id], env, "status", calls))


@contextlib.contextmanager
def one_cpu(pid: int) -> Iterator[bool]:
    """This process and every thread of `pid` on the first CPU, then as they were: what the same
    round trips cost without a wake-up across CPUs (a diagnosis, not a target). False where the
    machine has one CPU or affinity cannot be set."""
    if (os.cpu_count() or 1) < 2 or not hasattr(os, "sched_setaffinity"):
        yield False
        return
    threads = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    saved = {tid: os.sched_getaffinity(tid) for tid in [0, *threads]}
    first = {min(saved[0])}
    try:
        for tid in saved:
            os.sched_setaffinity(tid, first)
        yield True
    finally:
        for tid, cpus in saved.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, cpus)


def daemon_with(home: Path, variable: str, value: str) -> tuple[str, Path]:
    """A session of its own and its daemon, started with `variable=value` (a baseline's setting)."""
    with Session.create(home, "selftest", kind="agent", budget_s=3600, hold=False) as s:
        session_id = s.id
    os.environ[variable] = value
    try:
        return session_id, ensure_daemon(home, session_id)
    finally:
        del os.environ[variable]


def bench_record_here(socket_path: Path, events: int) -> float:
    """record_event from this process, each waiting for its answer: events per second."""
    with DaemonClient(socket_path) as client:
        client.initialize("bench-one-cpu", role="operator")
        start = time.perf_counter()
        for i in range(events):
            client.request("rebench/record_event", {"kind": "bench1cpu", "name": "w", "args": {"i": i}, "result": None})
        return events / (time.perf_counter() - start)


# -- start-up --------------------------------------------------------------------------
def time_process(argv: list[str], runs: int) -> float:
    """Median wall seconds of running `argv` to its end (it must succeed)."""
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True)
        out.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise RuntimeError(f"{argv} exited with {done.returncode}: {done.stderr.decode(errors='replace')[-500:]}")
    return statistics.median(out)


def time_mcp_first_reply(home: Path, session_id: str, runs: int) -> float:
    """Median seconds from starting `rebench-tui mcp SID` to its first reply line to `initialize`."""
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": p.initialize_params("bench")}
    del init["params"]["_meta"]  # what a plain MCP client sends
    line = json.dumps(init).encode() + b"\n"
    argv = [sys.executable, "-m", "rebench_tui.cli", "--home", str(home), "mcp", session_id]
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        proc.stdin.write(line)
        proc.stdin.flush()
        reply = proc.stdout.readline()
        out.append(time.perf_counter() - start)
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        message = json.loads(reply) if reply else {}
        if "result" not in message:
            raise RuntimeError(f"`rebench-tui mcp` answered initialize with {reply!r}")
    return statistics.median(out)


# -- recording throughput --------------------------------------------------------------
def _record_worker(
    socket_path: str, kind: str, index: int, events: int, seconds: float, window: int, barrier, results
) -> None:
    """One client: `rebench/record_event` as fast as it can, with `window` requests in flight
    (1: each waits for its answer; more: JSON-RPC's pipelining, as a client streaming output may)."""
    done, errors, first_error = 0, 0, ""
    with DaemonClient(Path(socket_path)) as client:
        client.initialize(f"bench-{index}", role="operator")
        barrier.wait()
        start = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes
        deadline = start + seconds
        in_flight, sent = 0, 0
        while True:
            while in_flight < window and sent < events and (sent & 63 or time.perf_counter() < deadline):
                params = {"kind": kind, "name": f"w{index}", "args": {"i": sent}, "result": None}
                client.send({"jsonrpc": "2.0", "id": sent, "method": "rebench/record_event", "params": params})
                sent += 1
                in_flight += 1
            if not in_flight:
                break
            reply = client.receive()
            in_flight -= 1
            if "error" in reply:
                errors += 1
                first_error = first_error or str(reply["error"])
            else:
                done += 1
        end = time.perf_counter()
    results.put({"done": done, "errors": errors, "first_error": first_error, "start": start, "end": end})


def bench_record(socket_path: Path, kind: str, clients: int, events: int, seconds: float, window: int = 1) -> dict:
    """Each client its own process and connection, `rebench/record_event` as fast as it can."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(clients), ctx.Queue()
    procs = [
        ctx.Process(target=_record_worker, args=(str(socket_path), kind, i, events, seconds, window, barrier, results))
        for i in range(clients)
    ]
    for proc in procs:
        proc.start()
    got = [results.get(timeout=seconds + 120) for _ in procs]
    for proc in procs:
        proc.join()
    wall = max(r["end"] for r in got) - min(r["start"] for r in got)
    done = sum(r["done"] for r in got)
    errors = sum(r["errors"] for r in got)
    first_error = next((r["first_error"] for r in got if r["first_error"]), "")
    return {"done": done, "errors": errors, "first_error": first_error, "wall": wall, "rate": done / wall}


# -- report ----------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=None, help="sequential calls per latency path (default 2000)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer calls, runs and events")
    args = parser.parse_args()
    calls = args.calls or (200 if args.quick else 2000)
    runs = 3 if args.quick else 10
    events, seconds = (500, 1.0) if args.quick else (3000, 3.0)

    with tempfile.TemporaryDirectory(prefix="rebench-latency-") as tmp:
        home = Path(tmp, "home")
        with Session.create(home, "selftest", kind="agent", budget_s=3600, hold=False) as s:
            session_id = s.id
        # The same daemon on asyncio's own event loop (what it ran on before uvloop), side by side.
        plain_session_id, plain_socket_path = daemon_with(home, "REBENCH_EVENT_LOOP", "asyncio")
        # And without polling after its answers: every request wakes it.
        sleepy_session_id, sleepy_socket_path = daemon_with(home, "REBENCH_POLL_US", "0")
        socket_path = ensure_daemon(home, session_id)
        try:
            echo = bench_echo(Path(tmp), calls)
            daemon = bench_daemon(socket_path, calls)
            sleepy_client = bench_daemon(socket_path, calls, spin_s=0)
            plain_daemon = bench_daemon(plain_socket_path, calls)
            sleepy_daemon = bench_daemon(sleepy_socket_path, calls)
            sleepy_record = bench_record_here(sleepy_socket_path, events)
            sdk_server = bench_sdk_server(calls)
            sdk_bridge = bench_sdk_bridge(home, session_id, calls)
            py_pass = time_process([sys.executable, "-c", "pass"], runs)
            call_s = time_process(
                [sys.executable, "-m", "rebench_tui.cli", "--home", str(home), "call", session_id, "status"], runs
            )
            mcp_s = time_mcp_first_reply(home, session_id, runs)
            records = {
                (n, window): bench_record(socket_path, f"bench{n}x{window}", n, events, seconds, window)
                for n in (1, 8)
                for window in (1, PIPELINE_WINDOW)
            }
            daemon_pid = (daemon_info(home, session_id) or {}).get("pid")
            pinned = None
            if daemon_pid:
                with one_cpu(daemon_pid) as can:
                    if can:
                        pinned = (bench_daemon(socket_path, calls), bench_record_here(socket_path, events))
        finally:
            for sid in (session_id, plain_session_id, sleepy_session_id):
                info = daemon_info(home, sid)
                if info:
                    os.kill(info["pid"], signal.SIGTERM)
        with Session.open(home, session_id, hold=False) as s:
            recorded = {key: s.recorder.event_count(f"bench{key[0]}x{key[1]}") for key in records}

    echo_p50, echo_p99 = percentiles(echo)
    d_p50, d_p99 = percentiles(daemon)
    s_p50, s_p99 = percentiles(sdk_server)
    b_p50, b_p99 = percentiles(sdk_bridge)
    a_p50, a_p99 = percentiles(plain_daemon)
    n_p50, n_p99 = percentiles(sleepy_daemon)
    c_p50, c_p99 = percentiles(sleepy_client)
    speedup = s_p50 / d_p50

    def ok(good: bool) -> str:
        return "ok" if good else "MISS"

    rows = [
        # name, p50 / value, p99, baseline, ratio, target, verdict
        ("bare JSON-RPC echo, Unix socket (floor)", f"{echo_p50:.3f} ms", f"{echo_p99:.3f} ms", "", "", "", ""),
        (
            "status, daemon (DaemonClient, Unix socket)",
            f"{d_p50:.3f} ms",
            f"{d_p99:.3f} ms",
            f"SDK {s_p50:.3f} ms",
            f"{speedup:.1f}x faster",
            f"<= {TARGETS['status_p50_ms']} ms, >= {TARGETS['status_vs_sdk']:g}x",
            ok(d_p50 <= TARGETS["status_p50_ms"] and speedup >= TARGETS["status_vs_sdk"]),
        ),
        (
            "status, the same daemon on asyncio's loop",
            f"{a_p50:.3f} ms",
            f"{a_p99:.3f} ms",
            f"uvloop {d_p50:.3f} ms",
            f"{a_p50 / d_p50:.2f}x",
            "",
            "",
        ),
        (
            "status, the same daemon not polling after answers",
            f"{n_p50:.3f} ms",
            f"{n_p99:.3f} ms",
            f"polling {d_p50:.3f} ms",
            f"{n_p50 / d_p50:.2f}x",
            "",
            "",
        ),
        (
            "status, the same daemon, client not polling for answers",
            f"{c_p50:.3f} ms",
            f"{c_p99:.3f} ms",
            f"polling {d_p50:.3f} ms",
            f"{c_p50 / d_p50:.2f}x",
            "",
            "",
        ),
        ("mcp SDK stdio server (trivial tool), SDK client", f"{s_p50:.3f} ms", f"{s_p99:.3f} ms", "", "", "", ""),
        (
            "status, SDK client -> `rebench-tui mcp` bridge",
            f"{b_p50:.3f} ms",
            f"{b_p99:.3f} ms",
            f"SDK {s_p50:.3f} ms",
            f"{s_p50 / b_p50:.1f}x faster",
            "",
            "",
        ),
        ("start-up: python -c pass (median)", f"{py_pass:.3f} s", "", "", "", "", ""),
        (
            "start-up: rebench-tui call SID status",
            f"{call_s:.3f} s",
            "",
            f"py {py_pass:.3f} s",
            f"{call_s / py_pass:.1f}x",
            f"<= {TARGETS['call_s']} s",
            ok(call_s <= TARGETS["call_s"]),
        ),
        (
            "start-up: rebench-tui mcp, to 1st reply",
            f"{mcp_s:.3f} s",
            "",
            f"py {py_pass:.3f} s",
            f"{mcp_s / py_pass:.1f}x",
            f"<= {TARGETS['mcp_first_reply_s']} s",
            ok(mcp_s <= TARGETS["mcp_first_reply_s"]),
        ),
    ]
    one = records[(1, 1)]["rate"]
    for (clients, window), rec in records.items():
        target = TARGETS["events_1" if clients == 1 else "events_8"]
        how = "each waits for its answer" if window == 1 else f"{window} in flight"
        rows.append(
            (
                f"record_event, {clients} client{'s' * (clients > 1)}, {how} (events/s)",
                f"{rec['rate']:.0f}/s",
                "",
                "" if (clients, window) == (1, 1) else f"1 client {one:.0f}/s",
                "" if (clients, window) == (1, 1) else f"{rec['rate'] / one:.1f}x",
                f">= {target:.0f}/s",
                ok(rec["rate"] >= target),
            )
        )
    rows.append(
        (
            "record_event, 1 waiting client (this process), not polling",
            f"{sleepy_record:.0f}/s",
            "",
            f"polling {one:.0f}/s",
            f"{one / sleepy_record:.2f}x",
            "",
            "",
        )
    )
    if pinned is not None:
        p_p50, p_p99 = percentiles(pinned[0])
        rows += [
            (
                "diagnosis: status, client and daemon on one CPU",
                f"{p_p50:.3f} ms",
                f"{p_p99:.3f} ms",
                f"on 2 CPUs {d_p50:.3f} ms",
                f"{d_p50 - p_p50:+.3f} ms",
                "",
                "",
            ),
            (
                "diagnosis: record_event, 1 waiting client, one CPU",
                f"{pinned[1]:.0f}/s",
                "",
                f"on 2 CPUs {one:.0f}/s",
                f"{pinned[1] / one:.2f}x",
                "",
                "",
            ),
        ]
    print(f"\n{calls} sequential calls per latency path; start-up medians of {runs} runs; {os.cpu_count()} CPUs\n")
    header = ("path", "p50/value", "p99", "baseline", "ratio", "target", "")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [f"{row[0]:{widths[0]}}"] + [f"{c:>{w}}" for c, w in zip(row[1:], widths[1:], strict=True)]
        print("  ".join(cells))
    print(f"\nratio SDK stdio server p50 / daemon status p50: {speedup:.1f}x (echo floor {echo_p50:.3f} ms)")
    if pinned is not None:
        print(
            "diagnosis rows: the same calls with this client and all the daemon's threads on one CPU, so that\n"
            "no answer or request wakes a process on the other CPU; the difference is what those wake-ups\n"
            "cost on this machine (no target: a session's daemon serves clients on any CPU)"
        )
    for (clients, window), rec in records.items():
        label = f"{clients} client(s), window {window}"
        check = "matches" if recorded[(clients, window)] == rec["done"] else "DOES NOT MATCH"
        print(
            f"record_event {label}: {rec['done']} acknowledged in {rec['wall']:.2f} s, "
            f"{rec['errors']} errors; recording holds {recorded[(clients, window)]} ({check})"
        )
        if rec["first_error"]:
            print(f"  first error: {rec['first_error']}")


if __name__ == "__main__":
    main()
