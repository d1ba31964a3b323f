"""The `rebench-tui` command line, run as a real subprocess."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import cli


def test_new_call_checkout_round_trip(home: Path, tmp_path: Path) -> None:
    created = json.loads(
        cli("new", "--env", "selftest", "--budget", "1h", "--kind", "agent", "--json", home=home).stdout
    )
    sid, workspace = created["id"], Path(created["workspace"])
    assert workspace.is_dir() and (workspace / "solution.py").exists()

    (workspace / "solution.py").write_text("def answer():\n    return 0.6\n")
    score = json.loads(cli("call", sid, "score", "--json", home=home).stdout)
    assert score["valid"] and score["raw"] == 0.6 and score["normalized"] == 0.6 and score["best_normalized"] == 0.6
    assert {"raw", "normalized", "valid", "message"} <= score.keys()

    ran = json.loads(cli("call", sid, "run", "--arg", "command=echo $REBENCH_SESSION", "--json", home=home).stdout)
    assert ran["output"].strip() == sid

    status = json.loads(cli("call", sid, "status", "--json", home=home).stdout)
    assert status["clock"]["running"] and status["best_normalized"] == 0.6

    (workspace / "solution.py").write_text("def answer():\n    return 0.1\n")
    cli("call", sid, "snapshot", home=home)
    cli("checkout", sid, "--at", "0s", str(tmp_path / "start"), home=home)
    assert "return 0.0" in (tmp_path / "start" / "solution.py").read_text()
    cli("checkout", sid, str(tmp_path / "latest"), home=home)
    assert "return 0.1" in (tmp_path / "latest" / "solution.py").read_text()

    listed = json.loads(cli("sessions", "--json", home=home).stdout)
    assert [s["id"] for s in listed] == [sid]


def test_cli_errors_are_clear(home: Path) -> None:
    sid = cli("new", "--env", "selftest", home=home).stdout.strip()
    refused = cli("call", sid, "run", "--arg", "command=true", home=home, check=False)
    assert refused.returncode == 1 and "paused" in refused.stderr
    bad = cli("call", sid, "run", "--arg", "timeout_s=soon", home=home, check=False)
    assert bad.returncode == 2 and "not a valid number" in bad.stderr
    missing = cli("call", "nope", "status", home=home, check=False)
    assert missing.returncode == 2 and "no session 'nope'" in missing.stderr
    unknown = cli("call", sid, "fly", home=home, check=False)
    assert unknown.returncode == 2 and "unknown tool 'fly'" in unknown.stderr


def test_calibrate_into_home(home: Path) -> None:
    out = cli("calibrate", "selftest", "--runs", "1", home=home)
    assert "start 0.0000, reference 1.0000" in out.stdout
    stored = json.loads((home / "calibrations.json").read_text())["calibrations"]
    assert stored[0]["env_id"] == "selftest" and stored[0]["start_runs"] == [0.0]


def test_tools_list_has_schemas(home: Path) -> None:
    tools = json.loads(cli("tools", "--json", home=home).stdout)
    by_name = {t["name"]: t for t in tools}
    assert by_name["run"]["inputSchema"]["required"] == ["command"]
    assert set(by_name) == {
        "status",
        "instructions",
        "run",
        "score",
        "score_log",
        "note",
        "snapshot",
        "pause",
        "resume",
        "submit",
        "snapshots",
        "report_usage",
    }
