"""Shared fixtures: a temporary home with real sessions, and a controllable time source."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

# Three test workers share this machine's two cores. Each torch (in a worker, a scorer or a
# workspace script it starts) would run a thread per core that busy-waits between operations;
# so many spinning threads took the fix_embedding tests 87 s instead of 67 s, and half again
# the CPU. One thread each in the parallel part; the serial part, which times things, keeps the
# default. Set before anything imports torch; children inherit it.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

# Imported now, not by hypothesis's plugin at the end of the run: after the asyncssh and
# isolation tests, CPython 3.11.7's ast.parse there failed with "AST constructor recursion
# depth mismatch" (an interpreter bug, not ours), which broke the terminal summary.
import hypothesis.internal.observability  # noqa: F401
import pytest

from environments.calibration import Calibration
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


def last_alive(home: Path, sid: str) -> float:
    """When the dead holder of `sid` was last known alive, as the next holder will take it: its
    last heartbeat, or the end of the last call it answered, if later."""
    with Session.open(home, sid, hold=False) as s:
        beat = s.recorder.heartbeat()["wall"]
        answered = s.recorder.last_answer_wall()
    return max(beat, answered if answered is not None else beat)


def stop_front_ends(home: Path) -> None:
    """End what still serves `home`'s sessions besides their daemons: tmux servers (with the
    dashboards and shells in them) and TUIs an SSH server started. They outlive connections on
    purpose, and a TUI restarts a daemon it finds gone, so they go before the daemons do."""
    import psutil

    from session.layout import list_session_ids

    sids = list_session_ids(home)
    if not sids:
        return
    me = os.getpid()
    family: list[psutil.Process] = []
    for proc in psutil.process_iter(["cmdline"]):
        argv = proc.info["cmdline"] or []
        if proc.pid == me or "session.daemon" in argv or not any(sid in arg for arg in argv for sid in sids):
            continue
        try:
            family += [*proc.children(recursive=True), proc]
        except psutil.Error:
            continue
    victims = [member for member in family if "session.daemon" not in _argv(member)]  # daemons: SIGTERM next
    for member in victims:
        with contextlib.suppress(psutil.Error):
            member.kill()
    psutil.wait_procs(victims, timeout=5)


def _argv(proc: object) -> list[str]:
    try:
        return proc.cmdline()  # type: ignore[attr-defined]
    except Exception:
        return []


def stop_daemons(home: Path) -> None:
    """End every session daemon started under `home` (tests must not leave processes behind)."""
    stop_front_ends(home)
    for info in home.glob("sessions/*/private/daemon.json"):
        try:
            pid = json.loads(info.read_text())["pid"]
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError, KeyError):
            continue
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def open_home() -> Iterator[Path]:
    """A home other users can enter, for sessions isolated as root (pytest's own tmp folders are
    0700, which isolation refuses); its sessions' processes, cgroups and namespaces go with it."""
    import shutil
    import tempfile

    from session.layout import list_session_ids

    base = Path(tempfile.mkdtemp(prefix="rebench-open-", dir="/tmp"))
    os.chmod(base, 0o711)
    home = base / "home"
    home.mkdir()
    yield home
    stop_daemons(home)
    for sid in list_session_ids(home):
        with Session.open(home, sid, hold=False) as s:
            if s.confinement.cgroup:
                s.confinement.cgroup.kill_all()
            s.confinement.release()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One embedded Ray for a module (starting one takes seconds), capped to the machine's 2 CPUs."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "home"
    path.mkdir()
    yield path
    stop_daemons(path)


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


class GatedAnswer:
    """A selftest solution whose `answer()` says it started, then returns `value` only once the
    test opens the gate: a scoring held open as long as a test needs, however slow the machine
    (a solution that sleeps races selftest's 5 s limit). Its files lie in a folder of /tmp that
    the scorer's own account (as root) can write."""

    def __init__(self, value: float) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="rebench-gate-"))
        self.folder.chmod(0o777)
        self.started, self.gate = self.folder / "started", self.folder / "go"
        self.solution = (
            f"import os, time\ndef answer():\n    open({str(self.started)!r}, 'w').close()\n"
            f"    while not os.path.exists({str(self.gate)!r}):\n        time.sleep(0.02)\n    return {value!r}\n"
        )

    def wait_started(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self.started.exists():
            assert time.monotonic() < deadline, "the scoring never started the solution"
            time.sleep(0.02)

    def open(self) -> None:
        self.gate.write_text("")

    def __enter__(self) -> GatedAnswer:
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


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


def assert_timed_calibration_holds(
    calibration: Calibration, start: dict, reference: dict, *, gap: tuple[float, float]
) -> None:
    """Check a timing environment's calibration where it can be checked on any machine.

    A runtime score is ln(seconds), so a machine uniformly k times faster than the one that
    calibrated shifts both normalized scores by ln(k)/(start - reference) and keeps their gap.
    The gap (the reference's speedup over the start, in calibrated units) must therefore be
    about 1 everywhere; the levels themselves are only about 0 and 1 on the calibrating
    machine (CI's machine of the same kind ran finetune_runtime's start 1.6x faster than here),
    so they get bounds wide enough for that.
    """
    assert start["valid"] and reference["valid"], (start, reference)
    measured_gap = (start["raw"] - reference["raw"]) / (calibration.start - calibration.reference)
    assert gap[0] <= measured_gap <= gap[1], (measured_gap, start, reference)
    assert -0.8 <= start["normalized"] <= 0.8, start
    assert reference["best_normalized"] == reference["normalized"]  # aggregation min of ln(time)


# rust_codecontests' scripted model: a real OpenAI-compatible HTTP server on loopback.
@pytest.fixture(scope="module")
def model_server() -> Iterator:
    from environments.rust_codecontests.scripted_server import make_server

    server = make_server()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def model_env(model_server, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"http://127.0.0.1:{model_server.server_address[1]}/v1"
    monkeypatch.setenv("REBENCH_MODEL_URL", url)
    monkeypatch.setenv("REBENCH_MODEL_NAME", "scripted")
    return url
