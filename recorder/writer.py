"""One thread owns the only write connection; callers queue a function and wait.

Each queued function runs in its own transaction and is committed before its caller
is released, so "recorded" always means "on disk". Async callers wrap the returned
future with `asyncio.wrap_future`.
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database

T = TypeVar("T")
_STOP = object()


def connect(path: Path, *, readonly: bool = False) -> Database:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30, check_same_thread=False)
    else:
        conn = sqlite3.connect(str(path), timeout=30)
    conn.execute("PRAGMA busy_timeout = 30000")
    return Database(conn, execute_plugins=False, recursive_triggers=False)


class WriterThread:
    def __init__(self, path: Path, setup: Callable[[Database], None]) -> None:
        self._queue: queue.Queue = queue.Queue()
        self._ready: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, args=(path, setup), name="recorder-writer", daemon=True)
        self._thread.start()
        self._ready.result()

    def _run(self, path: Path, setup: Callable[[Database], None]) -> None:
        try:
            db = connect(path)
            db.enable_wal()
            db.execute("PRAGMA synchronous = NORMAL")
            with _immediate(db):
                setup(db)
        except BaseException as exc:
            self._ready.set_exception(exc)
            return
        self._ready.set_result(None)
        while (item := self._queue.get()) is not _STOP:
            fn, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                with _immediate(db):
                    result = fn(db)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)
        db.close()

    def submit(self, fn: Callable[[Database], T]) -> Future[T]:
        if not self._thread.is_alive():
            raise RuntimeError("the recorder is closed")
        future: Future[T] = Future()
        self._queue.put((fn, future))
        return future

    def write(self, fn: Callable[[Database], T]) -> T:
        return self.submit(fn).result()

    def close(self) -> None:
        """Drain the queued writes, then close the connection."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()


@contextlib.contextmanager
def _immediate(db: Database) -> Iterator[None]:
    """A write transaction that takes the write lock up front.

    A deferred transaction that reads first (sqlite-utils looks up the table) and writes
    later fails at once with "database is locked" if another process committed in
    between; BEGIN IMMEDIATE waits for the lock (busy_timeout) instead.
    """
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    db.conn.execute("COMMIT")


def rows(db: Database, sql: str, params: Any = ()) -> list[dict[str, Any]]:
    cursor = db.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
