"""A whole recording as JSON lines: one object per row, its table named in `type`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

from recorder.store import Recorder

# In an order a reader can replay: who and what first, then everything that happened.
TABLES = ("session", "events", "pauses", "scores", "notes", "snapshots", "casts", "usage", "resource_samples")


def export_rows(recorder: Recorder) -> Iterator[dict[str, Any]]:
    yield {"type": "meta", **{r["key"]: r["value"] for r in recorder.query("select * from meta")}}
    for table in TABLES:
        for row in recorder.query(f"select * from {table} order by 1"):  # fixed table names
            yield {"type": table, **row}


def export_jsonl(recorder: Recorder, out: IO[str]) -> int:
    count = 0
    for row in export_rows(recorder):
        out.write(json.dumps(row, default=str, allow_nan=False) + "\n")
        count += 1
    return count
