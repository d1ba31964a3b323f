"""The shared small English corpus and byte-level tokenizer of the language-model environments.

Text that ships with Python itself, so nothing is fetched from a hub: the reference
topics of `pydoc_data` (~465k characters) and the docstrings of a fixed list of
standard-library modules. That text changes between Python releases (3.11.2 and 3.11.7
differ), and every shipped model and calibration was made on one corpus, so the corpus is
extracted once (`python -m environments.text_corpus`, run with Python 3.11.7) and shipped
in data/corpus/ (about 160 kB of xz). Documents are split into train and held-out validation
by a hash of their name; the validation file is a protected path (root-only when the harness
isolates) and its text reaches sessions only through their private state. Tokens are bytes
of UTF-8 (vocabulary 256) plus two specials (`PAD`, `MASK`), which keeps every environment's
model small and its tokenizer trivially exact.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import lzma
import sys
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parent.parent / "data" / "corpus"
TRAIN_FILE = CORPUS_DIR / "train.json.xz"
VALIDATION_FILE = CORPUS_DIR / "validation.json.xz"
VALIDATION_FRACTION = 0.12

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


def python_documents() -> list[tuple[str, str]]:
    """(name, text) pairs extracted from this Python's own documentation (differs between releases)."""
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


def in_validation(name: str, fraction: float = VALIDATION_FRACTION) -> bool:
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def _deduplicated(docs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: set[str] = set()
    out = []
    for name, text in docs:
        if text not in seen:  # the same docstring reached through two names
            seen.add(text)
            out.append((name, text))
    return out


def write_shipped(docs: list[tuple[str, str]], folder: Path = CORPUS_DIR) -> None:
    """Ship `docs` (deduplicated, in order) as the train and validation files, each entry with its position."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = [(i, name, text) for i, (name, text) in enumerate(_deduplicated(docs))]
    for path, held_out in ((folder / TRAIN_FILE.name, False), (folder / VALIDATION_FILE.name, True)):
        part = [e for e in entries if in_validation(e[1]) == held_out]
        path.write_bytes(lzma.compress(json.dumps(part, ensure_ascii=False).encode(), preset=9))


@cache
def _read_shipped(path: Path) -> tuple[tuple[int, str, str], ...]:
    return tuple((int(i), str(n), str(t)) for i, n, t in json.loads(lzma.decompress(path.read_bytes())))


def documents(*, include_validation: bool = True, folder: Path = CORPUS_DIR) -> list[tuple[str, str]]:
    """The shipped (name, text) pairs, deduplicated, the same on every machine and Python.

    Without `include_validation`, only the training documents: what a scorer that runs as
    its own account may read (the validation file is root's when the harness isolates).
    """
    entries = list(_read_shipped(folder / TRAIN_FILE.name))
    if include_validation:
        entries += _read_shipped(folder / VALIDATION_FILE.name)
    return [(name, text) for _, name, text in sorted(entries)]


def build_corpus(*, include_validation: bool = True) -> Corpus:
    parts: dict[bool, list[tuple[str, bytes]]] = {False: [], True: []}
    for name, text in documents(include_validation=include_validation):
        parts[in_validation(name)].append((name, text.encode("utf-8")))
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


if __name__ == "__main__":
    # Re-extract the shipped corpus from this Python (every model and calibration depends on it).
    write_shipped(python_documents())
    print(f"wrote {TRAIN_FILE} and {VALIDATION_FILE} from Python {sys.version.split()[0]}")
