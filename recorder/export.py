"""A whole recording as JSON lines: one object per row, its table named in `type`.

`view(table, row)` decides what of each row may be written (session.visibility applies
the reader's role); without it, everything is (the operator's own export).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import IO, Any

from recorder.store import Recorder

# In an order a reader can replay: who and what first, then everything that happened.
TABLES = ("session", "events", "pauses", "scores", "notes", "snapshots", "casts", "usage", "resource_samples")

View = Callable[[str, dict[str, Any]], dict[str, Any]]


def export_rows(recorder: Recorder, view: View | None = None) -> Iterator[dict[str, Any]]:
    yield {"type": "meta", **{r["key"]: r["value"] for r in recorder.query("select * from meta")}}
    for table in TABLES:
        for row in recorder.query(f"select * from {table} order by 1"):  # fixed table names
            yield {"type": table, **(view(table, row) if view else row)}


def export_jsonl(recorder: Recorder, out: IO[str], view: View | None = None) -> int:
    count = 0
    for row in export_rows(recorder, view):
        out.write(json.dumps(row, default=str, allow_nan=False) + "\n")
        count += 1
    return count
