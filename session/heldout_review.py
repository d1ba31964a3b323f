"""Flags for the review: did the participant's work touch the held-out text?

The language-model environments hold out documents of Python's own documentation (the
shared corpus, environments/text_corpus.py). That documentation is on the participant's
machine (it is part of every Python), so it cannot be hidden; instead each session records,
for the review, every sign that the participant's work reached for it:

- a command (`run`, or typed in the shell) or a workspace file that names the ways to rebuild
  it (`pydoc_data`, `getdoc`, the corpus module or its files);
- a workspace file that contains passages found only in the held-out documents (Python's
  docstrings repeat a lot: passages the training text shares are not evidence).

These are flags, not verdicts (a docstring may be read for good reasons), and a determined
participant can evade the name check; the passage check catches held-out text that was saved
to the workspace to train on. The verdict is the reviewer's.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable
from functools import cache
from pathlib import Path

MARKERS = ("pydoc_data", "getdoc", "text_corpus", "python_documents", "validation.json", "DOCSTRING_MODULES")
PASSAGE_BYTES = 64
MIN_PASSAGES = 8  # a file with fewer matching passages is not flagged (shared boilerplate)
MAX_FILE_BYTES = 16 * 2**20


def markers_in(text: str) -> list[str]:
    return [m for m in MARKERS if m in text]


def _passages(text: bytes) -> Iterable[bytes]:
    """The PASSAGE_BYTES-long pieces of `text` that start after a space (a cheap, stable sampling)."""
    start = 0
    while (start := text.find(b" ", start) + 1) and start + PASSAGE_BYTES <= len(text):
        yield text[start : start + PASSAGE_BYTES]


def _digests(text: bytes) -> set[bytes]:
    return {hashlib.blake2b(p, digest_size=8).digest() for p in _passages(text)}


@cache
def _heldout_digests() -> frozenset[bytes]:
    """Passages of the held-out documents that the training text (which participants get) lacks."""
    from environments.text_corpus import build_corpus

    corpus = build_corpus()
    return frozenset(_digests(corpus.validation) - _digests(corpus.train))


def heldout_passages(content: bytes) -> int:
    """How many passages of the held-out documents `content` contains."""
    digests = _heldout_digests()
    return sum(hashlib.blake2b(p, digest_size=8).digest() in digests for p in _passages(content))


def _read_regular(path: Path) -> bytes | None:
    """A regular file's bytes, never following a link (the workspace is the participant's)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
            return None
        return f.read(MAX_FILE_BYTES)


def review_files(workspace: Path, names: Iterable[str]) -> list[dict[str, object]]:
    """Flags for the given workspace files (those a snapshot found changed)."""
    flags = []
    for name in names:
        content = _read_regular(workspace / name)
        if content is None or b"\0" in content[:4096]:  # binary: weights, archives
            continue
        found = markers_in(content.decode("utf-8", errors="replace"))
        passages = heldout_passages(content)
        if found or passages >= MIN_PASSAGES:
            flags.append({"file": name, "markers": found, "heldout_passages": passages})
    return flags
