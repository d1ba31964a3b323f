"""Unix socket paths that fit: AF_UNIX paths are capped at 107 bytes on Linux.

A session's socket lives deep in its private state; when its full path is too long,
we reach it through `/proc/self/fd/N/<name>`, where N is an O_PATH descriptor of its
folder. Both the daemon (bind) and clients (connect) use this.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

MAX_UNIX_PATH = 107


@contextlib.contextmanager
def reachable(path: Path) -> Iterator[str]:
    text = str(path)
    if len(text.encode()) <= MAX_UNIX_PATH:
        yield text
        return
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)
