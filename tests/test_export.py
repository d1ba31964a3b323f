"""Export to JSON lines, and a session folder that moves to another home still opens."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import cli, write_solution

from session.session import Session


def test_export_jsonl_holds_every_row(home: Path, tmp_path: Path) -> None:
    with Session.create(home, "selftest", budget_s=3600, kind="agent") as s:
        write_solution(s, "def answer():\n    return 0.4\n")
        s.call("score")
        s.call("note", {"text": "exported"})
        s.call("pause", {"reason": "r"})
        s.call("resume", {"reason": "r"})
        s.call("submit")
        sid = s.id
        expected_events = len(s.recorder.events())
    out = tmp_path / "session.jsonl"
    cli("export", sid, "--format", "jsonl", "--output", str(out), home=home)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    by_type: dict[str, list[dict]] = {}
    for row in rows:
        by_type.setdefault(row["type"], []).append(row)
    assert by_type["meta"][0]["schema_version"] == "2"
    assert by_type["session"][0]["id"] == sid
    assert len(by_type["events"]) == expected_events
    assert [r["raw"] for r in by_type["scores"]] == [0.4]
    assert by_type["notes"][0]["text"] == "exported"
    assert len(by_type["pauses"]) == 1
    assert all(len(r["commit_sha"]) == 40 for r in by_type["snapshots"])


def test_a_copied_session_folder_opens_elsewhere(home: Path, tmp_path: Path) -> None:
    with Session.create(home, "selftest", budget_s=3600, kind="agent") as s:
        write_solution(s, "def answer():\n    return 0.3\n")
        s.call("snapshot")
        sid = s.id
    other = tmp_path / "other-home"
    shutil.copytree(home / "sessions" / sid, other / "sessions" / sid)
    shutil.rmtree(home / "sessions" / sid)
    cli("checkout", sid, str(tmp_path / "restored"), home=other)
    assert "return 0.3" in (tmp_path / "restored" / "solution.py").read_text()
    with Session.open(other, sid) as s:
        write_solution(s, "def answer():\n    return 0.6\n")
        assert s.call("snapshot").structured["files_changed"] == 1
        assert s.workspace == other / "sessions" / sid / "workspace"
