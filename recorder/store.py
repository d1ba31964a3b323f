"""The session recording: the only code that reads or writes the session's SQLite file.

Writes go through the writer thread; reads use a read-only connection per thread.
JSON columns are decoded on the way out, so callers see plain Python values.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
from pathlib import Path
from typing import Any

from recorder.schema import check_schema, create_schema
from recorder.writer import WriterThread, connect, rows

_JSON_COLUMNS = {"args", "result", "message", "details", "changed", "left_out", "data", "hardware"}


def _json(value: Any) -> str:
    return json.dumps(value, default=str, allow_nan=False)


def _float_or_none(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for key in _JSON_COLUMNS & row.keys():
        if isinstance(row[key], str):
            with contextlib.suppress(ValueError):
                row[key] = json.loads(row[key])
    return row


class Recorder:
    """One session's recording. `create=True` makes the schema; otherwise it must exist and match."""

    def __init__(self, path: Path, *, create: bool = False) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise FileNotFoundError(f"no recording at {self.path}")
        self._writer = WriterThread(self.path, create_schema if create else check_schema)
        self._local = threading.local()

    def close(self) -> None:
        self._writer.close()

    # -- reads -------------------------------------------------------------------------
    def _reader(self):
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = connect(self.path, readonly=True)
        return db

    def query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        return [_decode(r) for r in rows(self._reader(), sql, params)]

    def session(self) -> dict[str, Any]:
        found = self.query("select * from session limit 1")
        if not found:
            raise LookupError(f"{self.path} records no session")
        return found[0]

    def pauses(self) -> list[dict[str, Any]]:
        return self.query("select * from pauses order by start_wall, id")

    def scores(self) -> list[dict[str, Any]]:
        return self.query("select * from scores order by id")

    def notes(self) -> list[dict[str, Any]]:
        return self.query("select * from notes order by id")

    def snapshots(self) -> list[dict[str, Any]]:
        return self.query("select * from snapshots order by id")

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        if kind is None:
            return self.query("select * from events order by id")
        return self.query("select * from events where kind = ? order by id", (kind,))

    def event_index(self) -> list[tuple[int, float, float, str, str, int]]:
        """(id, wall, working_s, kind, name, is_error) of every event: cheap even for 100k events."""
        cursor = self._reader().execute("select id, wall, working_s, kind, name, is_error from events order by id")
        return cursor.fetchall()

    def heartbeat(self) -> dict[str, Any] | None:
        found = self.query("select * from heartbeat where id = 1")
        return found[0] if found else None

    # -- writes ------------------------------------------------------------------------
    def create_session(self, row: dict[str, Any]) -> None:
        row = {**row, "hardware": _json(row.get("hardware"))}
        self._writer.write(lambda db: db["session"].insert(row))

    def update_session(self, **fields: Any) -> None:
        def write(db):
            (session_id,) = db.execute("select id from session").fetchone()
            db["session"].update(session_id, fields)

        self._writer.write(write)

    def record_event(
        self,
        *,
        wall: float,
        working_s: float,
        kind: str,
        name: str,
        client: str = "",
        args: Any = None,
        result: Any = None,
        is_error: bool = False,
        duration_ms: float = 0.0,
    ) -> int:
        row = {
            "wall": wall,
            "working_s": working_s,
            "kind": kind,
            "name": name,
            "client": client,
            "args": _json(args),
            "result": _json(result),
            "is_error": int(is_error),
            "duration_ms": duration_ms,
        }
        return self._writer.write(lambda db: db["events"].insert(row).last_pk)

    def add_score(
        self,
        *,
        wall: float,
        working_s: float,
        raw: float,
        normalized: float | None,
        message: Any,
        details: Any,
        snapshot_id: int | None,
        duration_s: float,
        event_id: int | None = None,
    ) -> int:
        row = {
            "wall": wall,
            "working_s": working_s,
            "raw": _float_or_none(raw),
            "normalized": _float_or_none(normalized),
            "valid": int(not math.isnan(raw)),
            "message": _json(message),
            "details": _json(details),
            "snapshot_id": snapshot_id,
            "duration_s": duration_s,
            "event_id": event_id,
        }
        return self._writer.write(lambda db: db["scores"].insert(row).last_pk)

    def set_score_normalized(self, score_id: int, normalized: float | None) -> None:
        """Normalize a logged score again (the session's calibration was measured since)."""
        value = _float_or_none(normalized) if normalized is not None else None
        self._writer.write(lambda db: db["scores"].update(score_id, {"normalized": value}))

    def open_pause(self, start_wall: float, reason: str) -> int:
        row = {"start_wall": start_wall, "reason": reason}
        return self._writer.write(lambda db: db["pauses"].insert(row).last_pk)

    def close_pause(self, pause_id: int, end_wall: float, resume_reason: str) -> None:
        self._writer.write(
            lambda db: db["pauses"].update(pause_id, {"end_wall": end_wall, "resume_reason": resume_reason})
        )

    def add_closed_pause(self, start_wall: float, end_wall: float, reason: str, resume_reason: str) -> int:
        row = {"start_wall": start_wall, "end_wall": end_wall, "reason": reason, "resume_reason": resume_reason}
        return self._writer.write(lambda db: db["pauses"].insert(row).last_pk)

    def add_note(self, wall: float, working_s: float, text: str) -> int:
        row = {"wall": wall, "working_s": working_s, "text": text}
        return self._writer.write(lambda db: db["notes"].insert(row).last_pk)

    def add_snapshot(
        self,
        *,
        wall: float,
        working_s: float,
        trigger: str,
        commit_sha: str,
        files_changed: int,
        changed: list[str],
        left_out: list[dict[str, Any]],
        duration_ms: float,
    ) -> int:
        row = {
            "wall": wall,
            "working_s": working_s,
            "trigger": trigger,
            "commit_sha": commit_sha,
            "files_changed": files_changed,
            "changed": _json(changed),
            "left_out": _json(left_out),
            "duration_ms": duration_ms,
        }
        return self._writer.write(lambda db: db["snapshots"].insert(row).last_pk)

    def add_resource_sample(self, wall: float, working_s: float, data: dict[str, Any]) -> int:
        row = {"wall": wall, "working_s": working_s, "data": _json(data)}
        return self._writer.write(lambda db: db["resource_samples"].insert(row).last_pk)

    def add_cast(self, started_wall: float, ended_wall: float, working_s: float, cast: str) -> int:
        row = {
            "started_wall": started_wall,
            "ended_wall": ended_wall,
            "working_s": working_s,
            "cast": cast,
            "bytes": len(cast.encode()),
        }
        return self._writer.write(lambda db: db["casts"].insert(row).last_pk)

    def casts(self) -> list[dict[str, Any]]:
        return self.query("select * from casts order by id")

    def add_usage(self, row: dict[str, Any]) -> int:
        return self._writer.write(lambda db: db["usage"].insert(row).last_pk)

    def usage_totals(self) -> dict[str, Any]:
        (row,) = self.query(
            "select count(*) as reports, coalesce(sum(input_tokens), 0) as input_tokens, "
            "coalesce(sum(output_tokens), 0) as output_tokens, coalesce(sum(cost_usd), 0.0) as cost_usd from usage"
        )
        return row

    def set_meta(self, key: str, value: Any) -> None:
        """A named JSON value stored once per recording (e.g. the session's confinement)."""
        row = {"key": key, "value": _json(value)}
        self._writer.write(lambda db: db["meta"].upsert(row, pk="key"))

    def meta(self, key: str) -> Any:
        found = self.query("select value from meta where key = ?", (key,))
        return json.loads(found[0]["value"]) if found else None

    def set_heartbeat(self, holder: str | None, pid: int | None, wall: float) -> None:
        row = {"id": 1, "holder": holder, "pid": pid, "wall": wall}
        self._writer.write(lambda db: db["heartbeat"].upsert(row, pk="id"))
