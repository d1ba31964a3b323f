"""The session layer end to end on real files, SQLite, git and scorer processes."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest
from conftest import FakeTime, GatedAnswer, write_solution

from session.session import Session
from session.tools import REGISTRY


def tool_events(session: Session) -> list[dict]:
    return session.recorder.events(kind="tool")


def test_every_tool_call_is_recorded_in_the_database(selftest: Session) -> None:
    calls = [
        ("status", {}),
        ("instructions", {}),
        ("run", {"command": "echo hello"}),
        ("note", {"text": "first idea"}),
        ("snapshot", {}),
        ("snapshots", {}),
        ("score", {}),
        ("score_log", {}),
        ("report_usage", {"input_tokens": 1200, "output_tokens": 300, "model": "m"}),
        ("pause", {"reason": "coffee"}),
        ("resume", {"reason": "back"}),
        ("no_such_tool", {}),
        ("run", {"wrong": 1}),
        ("submit", {}),
    ]
    for name, args in calls:
        selftest.call(name, args, client="test")
    assert {name for name, _ in calls} >= set(REGISTRY)

    # Read with a separate connection: what the database file holds, not what the process remembers.
    with sqlite3.connect(selftest.paths.database) as conn:
        rows = conn.execute(
            "select name, args, is_error, client from events where kind = 'tool' order by id"
        ).fetchall()
    assert [r[0] for r in rows] == [name for name, _ in calls]
    assert all(r[3] == "test" for r in rows)
    errors = {r[0] for r in rows if r[2]}
    assert errors == {"no_such_tool", "run"}  # unknown tool and bad arguments only
    assert '"first idea"' in rows[3][1]
    listed = selftest.recorder.events("tool")[5]["result"]["structured"]["snapshots"]
    assert [s["trigger"] for s in listed] == ["start", "manual"]
    assert selftest.recorder.usage_totals()["input_tokens"] == 1200


def test_bad_arguments_get_a_clear_error(selftest: Session) -> None:
    result = selftest.call("run", {"command": "true", "timeout_s": -1})
    assert result.is_error and "bad arguments for run" in result.text
    result = selftest.call("note", {})
    assert result.is_error and "'text' is a required property" in result.text


def test_score_records_row_snapshot_and_best(selftest: Session) -> None:
    write_solution(selftest, "def answer():\n    return 0.25\n")
    first = selftest.call("score")
    write_solution(selftest, "def answer():\n    return 0.75\n")
    selftest.call("score")
    write_solution(selftest, "def answer():\n    return 0.5\n")
    third = selftest.call("score")

    assert not first.is_error
    assert first.structured["raw"] == 0.25 and first.structured["normalized"] == 0.25
    assert third.structured["best_normalized"] == 0.75  # aggregation max
    assert "details" not in third.structured

    scores = selftest.recorder.scores()
    assert [s["raw"] for s in scores] == [0.25, 0.75, 0.5]
    assert scores[0]["details"]["secret_checked"] is True  # recorded, never shown
    snap = next(s for s in selftest.recorder.snapshots() if s["id"] == scores[1]["snapshot_id"])
    assert snap["trigger"] == "score"
    assert "return 0.75" in selftest.snapshots._run("show", f"{snap['commit_sha']}:solution.py")


def test_wrong_solution_scores_nan_with_reason_and_session_goes_on(selftest: Session) -> None:
    write_solution(selftest, "def answer():\n    return 'not a number'\n")
    bad = selftest.call("score")
    assert not bad.is_error  # the tool worked; the submission is invalid
    assert bad.structured["valid"] is False and bad.structured["raw"] is None
    assert "not a finite number" in bad.text

    write_solution(selftest, "def answer():\n    raise RuntimeError('boom')\n")
    crashed = selftest.call("score")
    assert "RuntimeError: boom" in crashed.structured["message"]["error"]
    assert "Traceback" not in crashed.text

    write_solution(selftest, "def answer():\n    return 0.5\n")
    good = selftest.call("score")
    assert good.structured["valid"] and good.structured["normalized"] == 0.5
    rows = selftest.recorder.scores()
    assert [bool(r["valid"]) for r in rows] == [False, False, True]
    assert "Traceback" in rows[1]["details"]["traceback"]


def test_run_tool_output_exit_code_and_timeout(selftest: Session) -> None:
    result = selftest.call("run", {"command": "echo out; echo err >&2; exit 3"})
    assert result.structured["exit_code"] == 3
    assert "out" in result.structured["output"] and "err" in result.structured["output"]

    marker = selftest.workspace / "child-alive"
    result = selftest.call("run", {"command": f"(sleep 2; touch {marker}) & sleep 30", "timeout_s": 0.5})
    assert result.structured["timed_out"] and "timed out" in result.text
    import time

    time.sleep(2.5)
    assert not marker.exists(), "the command's background child survived the timeout"


def test_run_output_is_capped_keeping_start_and_end(selftest: Session) -> None:
    result = selftest.call("run", {"command": "echo START; head -c 300000 /dev/zero | tr '\\0' x; echo; echo END"})
    out = result.structured["output"]
    assert out.startswith("START") and out.rstrip().endswith("END")
    assert result.structured["truncated_bytes"] > 200_000
    assert len(out) < 70_000


def test_human_clock_starts_paused_and_paused_clock_refuses_work(home: Path) -> None:
    with Session.create(home, "selftest", budget_s=3600, kind="human") as s:
        assert s.clock().paused_reason == "not started"
        refused = s.call("run", {"command": "true"})
        assert refused.is_error and "paused" in refused.text
        assert s.call("instructions").is_error  # hidden while paused
        assert not s.call("status").is_error
        s.call("resume", {"reason": "start"})
        assert s.clock().running
        assert "Harness self-test" in s.call("instructions").text
        s.call("pause", {"reason": "lunch"})
        assert s.clock().paused_reason == "lunch"
        assert s.call("pause", {"reason": "again"}).is_error


def test_budget_end_refuses_changes_takes_final_snapshot_and_aggregates(home: Path) -> None:
    clock = FakeTime()
    s = Session.create(home, "selftest", budget_s=60, kind="agent", time_source=clock, hold=False)
    try:
        write_solution(s, "def answer():\n    return 0.4\n")
        s.call("score")
        clock.advance(61)
        refused = s.call("run", {"command": "true"})
        assert refused.is_error and "ended (budget)" in refused.text
        assert s.call("score").is_error
        row = s.recorder.session()
        assert row["end_reason"] == "budget" and row["final_raw"] == 0.4
        assert s.recorder.snapshots()[-1]["trigger"] == "final"
        status = s.call("status").structured
        assert status["ended"] and status["final_normalized"] == 0.4
        assert status["clock"]["working_s"] == 60
    finally:
        s.close()


def test_final_score_without_valid_scores_is_the_start(home: Path) -> None:
    with Session.create(home, "selftest", budget_s=60, kind="agent") as s:
        write_solution(s, "def answer():\n    return None\n")
        s.call("score")
        summary = s.call("submit").structured
        assert summary["final_normalized"] == 0.0 and summary["final_raw"] == 0.0


def test_ceiling_ends_a_session_paused_forever(home: Path) -> None:
    clock = FakeTime()
    with Session.create(home, "selftest", budget_s=60, ceiling_s=100, kind="human", time_source=clock, hold=False) as s:
        s.call("resume", {"reason": "go"})
        clock.advance(10)
        s.call("pause", {"reason": "away"})
        clock.advance(95)
        assert s.call("status").structured["clock"]["end_reason"] == "ceiling"
        assert s.recorder.session()["end_reason"] == "ceiling"
        assert math.isclose(s.clock().working_s, 10)


def test_concurrent_second_scoring_is_refused(selftest: Session) -> None:
    import threading

    with GatedAnswer(0.1) as gated:  # the first scoring runs until the second was tried
        write_solution(selftest, gated.solution)
        results = []
        t = threading.Thread(target=lambda: results.append(selftest.call("score")))
        t.start()
        gated.wait_started()
        second = selftest.call("score")
        gated.open()
        t.join()
    assert second.is_error and "already running" in second.text
    assert results[0].structured["valid"], results[0].text


def test_recorder_refuses_another_schema_version(selftest: Session) -> None:
    from recorder.schema import SchemaMismatch
    from recorder.store import Recorder

    path = selftest.paths.database
    with sqlite3.connect(path) as conn:
        conn.execute("update meta set value = '999' where key = 'schema_version'")
    with pytest.raises(SchemaMismatch, match="schema version 999"):
        Recorder(path)


def test_private_state_is_outside_the_workspace(selftest: Session) -> None:
    ws = selftest.workspace.resolve()
    for private in (selftest.paths.database, selftest.paths.snapshot_git, selftest.paths.env_private / "secret.json"):
        assert private.exists()
        assert ws not in private.resolve().parents
    assert sorted(p.name for p in ws.iterdir()) == ["solution.py"]


def test_periodic_snapshots_follow_working_time_and_samples_are_recorded(home: Path) -> None:
    clock = FakeTime()
    with Session.create(
        home, "selftest", budget_s=3600, kind="agent", snapshot_interval_s=60, time_source=clock, hold=False
    ) as s:
        s.call("status")  # starts the agent's clock
        s.tick()
        assert [r["trigger"] for r in s.recorder.snapshots()] == ["start"]
        clock.advance(61)
        s.tick()
        assert [r["trigger"] for r in s.recorder.snapshots()] == ["start", "periodic"]
        s.call("pause", {"reason": "break"})
        clock.advance(600)  # paused time is not working time: no snapshot is due
        s.tick()
        assert len(s.recorder.snapshots()) == 2
        samples = s.recorder.query("select * from resource_samples")
        assert samples and "cpu_percent" in samples[0]["data"] and "gpu_status" in samples[0]["data"]


def test_hidden_score_environment_shows_only_validity_and_message(home: Path) -> None:
    with Session.create(home, "selftest_hidden", budget_s=3600, kind="agent") as s:
        write_solution(s, "def answer():\n    return 0.7\n")
        scored = s.call("score")
        assert set(scored.structured) == {"id", "working_s", "valid", "message", "snapshot", "snapshot_status"}
        assert scored.structured["valid"] and "0.7" not in scored.text
        logged = s.call("score_log").structured["scores"][0]
        assert "raw" not in logged and "normalized" not in logged
        assert "best_normalized" not in s.call("status").structured
        submitted = s.call("submit").structured
        assert "final_normalized" not in submitted and "final_raw" not in submitted
        assert s.recorder.session()["final_raw"] == 0.7  # recorded, never shown
