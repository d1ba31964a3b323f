"""Replay and report at scale.

1. Opening the replay of a session with 100,000 events (recorded through the recorder):
   our event index and the first screen of the replay app, beside a naive full load
   of every event row with its JSON decoded (baseline "naive full load").
2. A report over 200 sessions: loading every session's score log and computing the
   score@k curves, beside just opening each recording and counting its scores
   (baseline "open + count", the I/O floor).

    .venv/bin/python bench/replay_report_bench.py [--events 100000] [--sessions 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from rebench_tui.replay_app import open_replay
from recorder.replay import Replay
from recorder.store import Recorder
from session.layout import session_paths
from session.report import load_sessions, summarize
from session.session import Session


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return (time.perf_counter() - start) * 1000, result


def make_big_session(home: Path, events: int) -> str:
    with Session.create(home, "selftest", budget_s=8 * 3600, kind="agent", hold=False) as s:
        sid = s.id
    recorder = Recorder(session_paths(home, sid).database)
    t0 = time.time()
    names = ["run", "status", "note", "score_log", "snapshot"]
    for i in range(events):
        recorder.record_event(
            wall=t0 + i * 0.2, working_s=i * 0.2, kind="tool", name=names[i % 5], client="bench",
            args={"command": f"echo {i}"}, result={"text": f"output {i}", "structured": {"exit_code": 0}},
        )  # fmt: skip
    recorder.close()
    return sid


def make_many_sessions(home: Path, count: int) -> None:
    rng = random.Random(3)
    for i in range(count):
        kind = "human" if i % 3 == 0 else "agent"
        with Session.create(home, "selftest", budget_s=8 * 3600, kind=kind, participant=f"p{i % 4}", hold=False) as s:
            for _ in range(rng.randint(0, 30)):
                raw = rng.random()
                s.recorder.add_score(
                    wall=time.time(), working_s=rng.uniform(0, 8 * 3600), raw=raw, normalized=raw,
                    message={}, details={}, snapshot_id=None, duration_s=0.1,
                )  # fmt: skip


async def first_screen(home: Path, sid: str) -> float:
    start = time.perf_counter()
    app = open_replay(home, sid)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        elapsed = (time.perf_counter() - start) * 1000
        assert app.position == 0 and len(app.replay) > 0
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rebench-bench-") as tmp:
        big_home, many_home = Path(tmp, "big"), Path(tmp, "many")
        print(f"recording {args.events} events through the recorder ...", flush=True)
        gen_ms, sid = timed(lambda: make_big_session(big_home, args.events))
        paths = session_paths(big_home, sid)

        def naive_load() -> int:
            conn = sqlite3.connect(paths.database)
            rows = conn.execute("select * from events").fetchall()
            decoded = [(json.loads(r[6]), json.loads(r[7])) for r in rows]
            conn.close()
            return len(decoded)

        def open_index() -> int:
            replay = Replay(paths.database, paths.snapshot_git, paths.workspace)
            n = len(replay)
            replay.close()
            return n

        naive_ms, _ = timed(naive_load)
        index_ms, n = timed(open_index)
        screen_ms = asyncio.run(first_screen(big_home, sid))
        assert n >= args.events

        print(f"creating {args.sessions} sessions with score logs ...", flush=True)
        make_many_sessions(many_home, args.sessions)

        def open_and_count() -> int:
            total = 0
            for s in many_home.glob("sessions/*/private/recorder.db"):
                conn = sqlite3.connect(s)
                total += conn.execute("select count(*) from scores").fetchone()[0]
                conn.close()
            return total

        floor_ms, _ = timed(open_and_count)
        report_ms, rows = timed(lambda: summarize(load_sessions(many_home)))
        assert sum(r["sessions"] for r in rows) == args.sessions

    print(f"\n(recording {args.events} events took {gen_ms / 1000:.1f} s)\n")
    rows_out = [
        (f"replay: open the event index, {n} events", index_ms, naive_ms),
        ("replay: app first screen (index + mount + render)", screen_ms, naive_ms),
        (f"report over {args.sessions} sessions (load + score@k)", report_ms, floor_ms),
    ]
    print(f"{'case':58} {'ms':>9} {'baseline ms':>12} {'ratio':>7}")
    for name, ms, base in rows_out:
        print(f"{name:58} {ms:9.1f} {base:12.1f} {ms / base:7.2f}")
    print(
        "\nbaselines: 'naive full load' (every event row, JSON decoded) for the replay; 'open + count' for the report"
    )
    print("targets: replay opens in under 1,000 ms; the report in under 2,000 ms")


if __name__ == "__main__":
    main()
