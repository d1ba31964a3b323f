"""Shared fixtures: a temporary home with real sessions, and a controllable time source."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from session.clock import TimeSource
from session.session import Session

REPO = Path(__file__).resolve().parents[1]


class FakeTime(TimeSource):
    """Wall time that moves only when a test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def selftest(home: Path) -> Iterator[Session]:
    """A running agent session on the seconds-long self-test environment."""
    session = Session.create(home, "selftest", budget_s=3600, kind="agent", participant="tester")
    try:
        yield session
    finally:
        session.close()


def write_solution(session: Session, body: str) -> None:
    (session.workspace / "solution.py").write_text(body)


def cli(*args: str, home: Path, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the real `rebench-tui` command line in a subprocess."""
    env = {**os.environ, "REBENCH_HOME": str(home)}
    proc = subprocess.run(
        [sys.executable, "-m", "rebench_tui.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=REPO,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"rebench-tui {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc
