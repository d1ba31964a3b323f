"""The clock survives a SIGKILL of the process holding it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO, last_alive

from session.session import Session

HOLDER = """
import sys, time
from pathlib import Path
from session.session import Session
s = Session.open(Path(sys.argv[1]), sys.argv[2])
assert s.holding
print("holding", flush=True)
time.sleep(600)
"""


def test_clock_survives_sigkill_of_its_holder(home: Path) -> None:
    with Session.create(home, "selftest", budget_s=3600, kind="agent") as s:
        s.call("status")  # an agent's first call starts the clock
        session_id = s.id
        started_at = s.recorder.session()["started_at"]

    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(home), session_id], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        time.sleep(2.0)
        killed_at = time.time()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    finally:
        if holder.poll() is None:
            holder.kill()
    alive = last_alive(home, session_id)
    assert killed_at - 5.0 <= alive <= killed_at + 0.1  # it beat while it lived (every 0.5 s unless starved)
    time.sleep(3.0)  # the outage

    with Session.open(home, session_id) as s:
        assert s.holding
        working = s.clock().working_s
        outages = [p for p in s.recorder.pauses() if p["reason"] == "outage"]
        assert len(outages) == 1
        assert outages[0]["start_wall"] == alive  # from when it was last known alive
        assert outages[0]["end_wall"] >= killed_at + 3.0
        # That much, plus what the clock ran since this holder took over (it resumes at once).
        assert -1e-6 <= working - (alive - started_at) <= 1.0, (working, alive - started_at)
        assert [e["name"] for e in s.recorder.events("lifecycle")].count("outage") == 1


def test_clean_close_is_not_an_outage(home: Path) -> None:
    with Session.create(home, "selftest", budget_s=3600, kind="agent") as s:
        s.call("status")
        session_id = s.id
    time.sleep(1.2)
    with Session.open(home, session_id) as s:
        assert s.recorder.pauses() == []
        assert s.clock().working_s >= 1.2


def test_second_process_does_not_take_the_clock_from_a_live_holder(home: Path) -> None:
    with Session.create(home, "selftest", budget_s=3600, kind="agent") as first:
        first.call("status")
        with Session.open(home, first.id) as second:
            assert first.holding and not second.holding
            assert not second.call("note", {"text": "from a guest"}).is_error
        assert [n["text"] for n in first.recorder.notes()] == ["from a guest"]
        assert first.recorder.pauses() == []
