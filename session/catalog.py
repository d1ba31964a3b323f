"""Every session under a home, as its recorded session row (for listings and the TUI's default)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recorder.store import Recorder
from session.layout import list_session_ids, session_paths


def session_rows(home: Path) -> list[dict[str, Any]]:
    rows = []
    for sid in list_session_ids(home):
        recorder = Recorder(session_paths(home, sid).database, readonly=True)
        try:
            rows.append(recorder.session())
        finally:
            recorder.close()
    return rows


def latest_open_session(home: Path, participant: str) -> str | None:
    """The participant's most recent unfinished human session, if any."""
    mine = [
        r
        for r in session_rows(home)
        if r["participant"] == participant and r["kind"] == "human" and r["ended_at"] is None
    ]
    return max(mine, key=lambda r: r["created_at"])["id"] if mine else None
