"""The recording's schema. A database of another schema version is refused, never reused."""

from __future__ import annotations

from sqlite_utils import Database

SCHEMA_VERSION = 1


class SchemaMismatch(RuntimeError):
    pass


_TABLES: dict[str, tuple[dict[str, type], str]] = {
    "meta": ({"key": str, "value": str}, "key"),
    "session": (
        {
            "id": str,
            "env_id": str,
            "scale": str,
            "participant": str,
            "kind": str,
            "budget_s": float,
            "ceiling_s": float,
            "snapshot_interval_s": float,
            "created_at": float,
            "started_at": float,
            "ended_at": float,
            "end_reason": str,
            "final_raw": float,
            "final_normalized": float,
            "workspace": str,
            "hardware": str,
        },
        "id",
    ),
    "events": (
        {
            "id": int,
            "wall": float,
            "working_s": float,
            "kind": str,
            "name": str,
            "client": str,
            "args": str,
            "result": str,
            "is_error": int,
            "duration_ms": float,
        },
        "id",
    ),
    "scores": (
        {
            "id": int,
            "event_id": int,
            "wall": float,
            "working_s": float,
            "raw": float,
            "normalized": float,
            "valid": int,
            "message": str,
            "details": str,
            "snapshot_id": int,
            "duration_s": float,
        },
        "id",
    ),
    "pauses": (
        {"id": int, "start_wall": float, "end_wall": float, "reason": str, "resume_reason": str},
        "id",
    ),
    "notes": ({"id": int, "wall": float, "working_s": float, "text": str}, "id"),
    "snapshots": (
        {
            "id": int,
            "wall": float,
            "working_s": float,
            "trigger": str,
            "commit_sha": str,
            "files_changed": int,
            "changed": str,
            "left_out": str,
            "duration_ms": float,
        },
        "id",
    ),
    "resource_samples": ({"id": int, "wall": float, "working_s": float, "data": str}, "id"),
    # Terminal recordings of the participant's shell, as asciinema v2 casts.
    "casts": (
        {"id": int, "started_wall": float, "ended_wall": float, "working_s": float, "cast": str, "bytes": int},
        "id",
    ),
    # Model-token usage an agent reports, so human and agent sessions compare on cost.
    "usage": (
        {
            "id": int,
            "wall": float,
            "working_s": float,
            "client": str,
            "model": str,
            "input_tokens": int,
            "output_tokens": int,
            "cost_usd": float,
        },
        "id",
    ),
    # One row: who holds the clock and when it last said so (crash detection).
    "heartbeat": ({"id": int, "holder": str, "pid": int, "wall": float}, "id"),
}


def create_schema(db: Database) -> None:
    for name, (columns, pk) in _TABLES.items():
        db[name].create(columns, pk=pk, not_null={pk}, if_not_exists=True, strict=True)
    db["meta"].upsert({"key": "schema_version", "value": str(SCHEMA_VERSION)}, pk="key")
    db["events"].create_index(["kind", "name"], if_not_exists=True)


def check_schema(db: Database) -> None:
    if "meta" not in db.table_names():
        raise SchemaMismatch("not a rebench-tui recording (no meta table)")
    row = db.execute("select value from meta where key = 'schema_version'").fetchone()
    version = int(row[0]) if row else None
    if version != SCHEMA_VERSION:
        raise SchemaMismatch(f"recording has schema version {version}; this rebench-tui reads {SCHEMA_VERSION}")
