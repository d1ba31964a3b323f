"""`rebench-tui campaign`: agent sessions fanned out as tasks of a real local Ray (2 CPUs)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from conftest import REPO, cli

from rebench_tui.campaign import Plan, load_plan, run_campaign

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.usefixtures("local_ray")  # one local Ray for the module (conftest)
PLAN = REPO / "examples" / "campaign_selftest.toml"


def run(plan: Plan, home: Path, **kwargs) -> tuple[dict, list[str]]:
    lines: list[str] = []
    result = run_campaign(plan, home, log=lines.append, **kwargs)
    return result, lines


def sleeper_plan(folder: Path, name: str, *, budget: str, sleep_s: int) -> Path:
    """A plan of one attempt whose agent says it works, then sleeps (`time.sleep(sleep_s)` marks it)."""
    path = folder / "plan.toml"
    path.write_text(
        f'name = "{name}"\nenvironments = ["selftest"]\nbudget = "{budget}"\nattempts = 1\n[resources]\ncpus = 1\n'
        '[[agents]]\nname = "sleeper"\n'
        f'command = ["python3", "-c", "import time; print(\'working\', flush=True); time.sleep({sleep_s})"]\n'
    )
    return path


def by_agent(result: dict, agent: str) -> list[dict]:
    return [a for a in result["attempts"] if a["agent"] == agent]


def test_a_plan_runs_to_completion_retries_failures_and_resumes_without_rerunning(home: Path) -> None:
    plan = load_plan(PLAN)
    result, lines = run(plan, home, max_retries=1)
    assert result["total"] == 4 and result["counts"]["done"] == 2 and result["counts"]["failed"] == 2, lines
    for attempt in by_agent(result, "scripted"):
        assert attempt["state"] == "done" and attempt["tries"] == 1
        assert attempt["final_score"] == pytest.approx(0.9) and attempt["end_reason"] == "submitted"
        assert attempt["sessions"] == [attempt["session_id"]] and attempt["worker_pid"] > 0
        assert (home / "sessions" / attempt["session_id"]).is_dir()
    for attempt in by_agent(result, "always-fails"):
        assert attempt["state"] == "failed" and attempt["tries"] == 2  # its first run and one retry
        assert [f["reason"] for f in attempt["failures"]] == ["agent exited with status 3"] * 2
        assert len(attempt["sessions"]) == 2  # each try is a session of its own, kept
    assert result["best"] == {"scripted": {"selftest": pytest.approx(0.9)}, "always-fails": {"selftest": None}}
    database = home / "campaigns" / "selftest-demo" / "campaign.db"

    # Run again: nothing is left (the failed ones used their retries).
    again, lines = run(plan, home, max_retries=1)
    assert not any(line.startswith("started") for line in lines), lines
    assert again["counts"] == result["counts"]

    # A dead run left one attempt `running`: the next run runs that one only, and keeps its session.
    scripted = by_agent(result, "scripted")[0]
    with sqlite3.connect(database) as db:
        db.execute("UPDATE attempts SET state = 'running' WHERE id = ?", [scripted["id"]])
    resumed, lines = run(plan, home, max_retries=1)
    assert [line.split(" (")[0] for line in lines if line.startswith("started")] == [
        "started   scripted on selftest #0"
    ], lines
    [redone] = [a for a in resumed["attempts"] if a["id"] == scripted["id"]]
    assert redone["state"] == "done" and redone["tries"] == 2
    assert redone["sessions"][0] == scripted["session_id"] and len(redone["sessions"]) == 2

    # The status, from the command line, by name.
    status = json.loads(cli("campaign", "status", "selftest-demo", "--json", home=home).stdout)
    assert status["counts"]["done"] == 2 and status["counts"]["failed"] == 2 and status["total"] == 4
    table = cli("campaign", "status", str(database.parent), home=home).stdout
    assert "scripted" in table and "0.900" in table and "agent exited with status 3" in table


def test_a_killed_ray_worker_fails_the_attempt_which_is_retried(home: Path, tmp_path: Path) -> None:
    # The budget must outlast the way from the attempt's start to the kill below (the runner's
    # report through Ray, the driver's row, this poll): seconds under a heavy load.
    plan = load_plan(sleeper_plan(tmp_path, "kill", budget="10s", sleep_s=120))
    database = home / "campaigns" / "kill" / "campaign.db"
    outcome: dict = {}
    runner = threading.Thread(target=lambda: outcome.update(result=run(plan, home, max_retries=1)), daemon=True)
    runner.start()
    deadline = time.monotonic() + 60
    pid = None
    while pid is None and time.monotonic() < deadline:
        time.sleep(0.2)
        if database.exists():
            with sqlite3.connect(database) as db:
                row = db.execute("SELECT worker_pid, session_id FROM attempts WHERE state = 'running'").fetchone()
            pid = row[0] if row and row[1] else None
    assert pid, "the attempt never started"
    os.kill(pid, signal.SIGKILL)
    runner.join(timeout=90)
    result, lines = outcome["result"]
    [attempt] = result["attempts"]
    assert attempt["state"] == "done" and attempt["end_reason"] == "budget" and attempt["tries"] == 2, lines
    [failure] = attempt["failures"]
    assert failure["reason"].startswith("ray task died:") and failure["try"] == 1
    assert len(attempt["sessions"]) == 2
    # The first try's agent lost its runner with the worker; the driver ended it.
    import psutil

    left = [p for p in psutil.process_iter(["cmdline"]) if "time.sleep(120)" in " ".join(p.info["cmdline"] or [])]
    assert left == []


def test_ctrl_c_stops_cleanly_and_marks_the_attempt_interrupted(home: Path, tmp_path: Path) -> None:
    """`campaign run --address` joins the module's Ray; SIGINT marks the attempt interrupted and stops its agent."""
    import subprocess
    import sys

    import psutil

    plan_file = sleeper_plan(tmp_path, "stop", budget="60s", sleep_s=121)
    address = ray.get_runtime_context().gcs_address
    command = [sys.executable, "-m", "rebench_tui.cli", "--home", str(home), "campaign", "run", str(plan_file)]
    driver = subprocess.Popen([*command, "--address", address], stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert driver.stdout is not None
    for line in driver.stdout:
        if line.startswith("session"):
            break
    driver.send_signal(signal.SIGINT)
    out = driver.stdout.read()
    assert driver.wait(timeout=60) == 130 and "resume with: rebench-tui" in out, out
    status = json.loads(cli("campaign", "status", "stop", "--json", home=home).stdout)
    assert status["counts"]["interrupted"] == 1, status

    def left() -> list[psutil.Process]:
        return [p for p in psutil.process_iter(["cmdline"]) if "time.sleep(121)" in " ".join(p.info["cmdline"] or [])]

    deadline = time.monotonic() + 10
    while left():
        assert time.monotonic() < deadline, left()
        time.sleep(0.2)


def test_a_plan_can_name_a_task_standard_familys_task(home: Path, tmp_path: Path) -> None:
    """`environments` takes `{ task_family = FOLDER, task = NAME }` beside ids: each attempt is an agent
    session on that family's task, as `agent --task-family FOLDER --task NAME` makes it."""
    from session.session import Session

    family = REPO / "tests" / "task_families" / "mirror_word"
    agent = "import pathlib; pathlib.Path('answer.txt').write_text('lantern')"  # it runs in the workspace
    plan_file = tmp_path / "plan.toml"
    plan_file.write_text(
        f'name = "family-demo"\nenvironments = [{{ task_family = "{family}", task = "lantern" }}]\n'
        f'budget = "30s"\nattempts = 1\n\n[[agents]]\nname = "writer"\ncommand = ["python3", "-c", "{agent}"]\n'
    )
    plan = load_plan(plan_file)
    assert plan.environments == [f"task-family:{family}#lantern"]
    result, lines = run(plan, home, max_retries=0)
    [attempt] = result["attempts"]
    assert attempt["state"] == "done", (attempt, lines)
    with Session.open(home, attempt["session_id"], hold=False) as s:
        assert s.env_id.startswith("ts-mirror_word-") and s.recorder.session()["ended_at"] is not None
    bad = tmp_path / "bad.toml"
    bad.write_text(plan_file.read_text().replace(str(family), str(tmp_path / "nowhere")))
    with pytest.raises(ValueError, match="does not exist"):
        load_plan(bad)
