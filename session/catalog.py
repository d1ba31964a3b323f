"""Every session under a home, as its recorded session row (for listings and the TUI's default)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recorder.store import Recorder
from session.layout import list_session_ids, session_paths


def session_rows(home: Path) -> list[dict[str, Any]]:
    rows = []
    for sid in list_session_ids(home):
        recorder = Recorder(session_paths(home, sid).database)
        try:
            rows.append(recorder.session())
        finally:
            recorder.close()
    return rows
