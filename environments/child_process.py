"""One child process run to its end or its time limit, with its output in a log file.

Scorers start the participant's programs this way (finetune.sh, rust's `solve` runner): the
child leads its own process group, so whatever it left running in the background is killed
with it, and the time is measured from its start to its exit (not the cleanup).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Ran:
    returncode: int | None  # None: killed at the time limit
    seconds: float
    output: bytes


def run_logged(argv: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path, timeout_s: float) -> Ran:
    """Run `argv` with stdout and stderr into `log`; kill its whole process group when it ends."""
    with open(log, "wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            code: int | None = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            code = None
        seconds = time.perf_counter() - started
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return Ran(code, seconds, log.read_bytes())
