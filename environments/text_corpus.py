"""The shared small English corpus and byte-level tokenizer of the language-model environments.

Text that ships with Python itself, so nothing is fetched from a hub: the reference
topics of `pydoc_data` (~465k characters) and the docstrings of a fixed list of
standard-library modules. Documents are split into train and held-out validation by a
hash of their name, so the split never depends on order or on the machine; the
validation part belongs in a session's private state only. Tokens are bytes of UTF-8
(vocabulary 256) plus two specials (`PAD`, `MASK`), which keeps every environment's
model small and its tokenizer trivially exact.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import warnings
from dataclasses import dataclass

PAD = 256
MASK = 257
VOCAB_SIZE = 258

# Fixed and ordered: the corpus must be the same on every machine with the same Python.
DOCSTRING_MODULES = (
    "abc", "argparse", "ast", "asyncio", "base64", "bisect", "calendar", "collections", "contextlib", "copy",
    "csv", "dataclasses", "datetime", "decimal", "difflib", "email", "enum", "fractions", "functools", "glob",
    "gzip", "hashlib", "heapq", "html", "http", "inspect", "io", "ipaddress", "itertools", "json", "logging",
    "mailbox", "math", "mimetypes", "operator", "os", "pathlib", "pickle", "pprint", "queue", "random", "re",
    "sched", "secrets", "shlex", "shutil", "socket", "sqlite3", "statistics", "string", "struct", "subprocess",
    "tarfile", "tempfile", "textwrap", "threading", "time", "tokenize", "typing", "unittest", "urllib", "uuid",
    "warnings", "weakref", "xml", "zipfile",
)  # fmt: skip


@dataclass(frozen=True)
class Corpus:
    train: bytes
    validation: bytes
    train_names: tuple[str, ...] = ()
    validation_names: tuple[str, ...] = ()

    @property
    def sizes(self) -> dict[str, int]:
        return {"train_bytes": len(self.train), "validation_bytes": len(self.validation)}


def documents() -> list[tuple[str, str]]:
    """(name, text) pairs, deterministic for a given Python version."""
    from pydoc_data.topics import topics

    docs = [(f"topic:{name}", topics[name]) for name in sorted(topics)]
    for module_name in DOCSTRING_MODULES:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = importlib.import_module(module_name)
        except ImportError:
            continue
        for name, obj in sorted(vars(module).items()):
            # Submodules appear as attributes only once something imported them: skip them,
            # or the corpus would depend on what else the process has imported.
            if name.startswith("_") or inspect.ismodule(obj):
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                doc = inspect.getdoc(obj)
            if doc and len(doc) >= 200 and getattr(obj, "__module__", module_name).startswith(module_name):
                docs.append((f"doc:{module_name}.{name}", doc))
    return docs


def in_validation(name: str, fraction: float) -> bool:
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def build_corpus(validation_fraction: float = 0.12) -> Corpus:
    parts: dict[bool, list[tuple[str, bytes]]] = {False: [], True: []}
    seen: set[str] = set()
    for name, text in documents():
        if text in seen:  # the same docstring reached through two names
            continue
        seen.add(text)
        parts[in_validation(name, validation_fraction)].append((name, text.encode("utf-8")))
    separator = b"\n\n"
    return Corpus(
        separator.join(t for _, t in parts[False]),
        separator.join(t for _, t in parts[True]),
        tuple(n for n, _ in parts[False]),
        tuple(n for n, _ in parts[True]),
    )


def encode(text: str | bytes) -> list[int]:
    return list(text.encode("utf-8") if isinstance(text, str) else text)


def decode(tokens: list[int]) -> str:
    return bytes(t for t in tokens if t < 256).decode("utf-8", errors="replace")
