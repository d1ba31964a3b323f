"""Loading the participant's Python code inside a scorer process (which runs with `python -I`).

One way for every environment: the module is compiled from its source (never from a
cached .pyc that could predate the last edit), the workspace is on sys.path only while
needed (so the code can import its own helper modules), and any failure becomes an
`Invalid` whose reason the participant sees and whose traceback goes to the details.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any


class Invalid(Exception):
    """The submission is invalid; `details` go into the score log, never to the participant."""

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(reason)
        self.reason, self.details = reason, details


@contextlib.contextmanager
def on_sys_path(folder: Path) -> Iterator[None]:
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        if str(folder) in sys.path:
            sys.path.remove(str(folder))


def import_from_workspace(workspace: Path, filename: str) -> ModuleType:
    """Import workspace/filename by path as the module named after it."""
    path = workspace / filename
    if not path.is_file():
        raise Invalid(f"{filename} is missing from the workspace")
    name = path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise Invalid(f"{filename} cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    with on_sys_path(workspace):
        try:
            exec(compile(path.read_bytes(), str(path), "exec", dont_inherit=True), module.__dict__)
        except BaseException as exc:
            raise Invalid(
                f"{filename} failed to import: {type(exc).__name__}: {exc}"[:2000],
                traceback=traceback.format_exc()[-8000:],
            ) from None
    return module
