"""Compile a Rust program and run it on tests, with limits it cannot escape.

Used by the scorer and copied into the participant's workspace (stdlib only, one file).

Each program is written to a fresh temporary folder and compiled with `rustc -O
--edition 2021` under a compile timeout. Each test runs the binary with stdin and
stdout redirected to files, in its own process group, under a wall-clock timeout and
`setrlimit` caps (address space, CPU seconds, file size, processes), then the group is
killed. When this process is root, the program also runs inside new network and PID
namespaces (`unshare --net --pid --fork --kill-child`: no network at all, and every
process it starts dies with it) as the unprivileged user `nobody`. Without root it
tries an unprivileged user namespace (`unshare -r --net`); where that is not allowed
either, the program runs with the rlimits only and `sandbox` in every result says so.
Output is compared after whitespace normalization (tokens separated by any whitespace).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

COMPILE_TIMEOUT_S = 30.0
COMPILE_MEMORY_MB = 2048
RUN_MEMORY_MB = 256
TIME_LIMIT_S = 2.0
OUTPUT_LIMIT_BYTES = 16 * 2**20
MAX_PROCESSES = 32
NOBODY = 65534
# At most two compilers at a time (each takes ~120 MB and one core).
_COMPILE_SLOTS = threading.BoundedSemaphore(2)


class RustcMissing(RuntimeError):
    pass


@functools.lru_cache(maxsize=1)
def find_rustc() -> str:
    """The real rustc binary (not the rustup proxy, which depends on $HOME): REBENCH_RUSTC, PATH, ~/.cargo/bin."""
    candidates = [os.environ.get("REBENCH_RUSTC"), shutil.which("rustc"), str(Path("~/.cargo/bin/rustc").expanduser())]
    candidates += ["/root/.cargo/bin/rustc", "/usr/local/cargo/bin/rustc", "/usr/local/bin/rustc", "/usr/bin/rustc"]
    for c in candidates:
        if not c or not os.access(c, os.X_OK):
            continue
        try:
            out = subprocess.run([c, "--print", "sysroot"], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            continue
        if out.returncode == 0:
            real = Path(out.stdout.strip()) / "bin" / "rustc"
            return str(real) if os.access(real, os.X_OK) else c
    raise RustcMissing("rustc not found (set REBENCH_RUSTC, or install Rust so that `rustc` is on PATH)")


def _try(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.lru_cache(maxsize=1)
def sandbox() -> tuple[tuple[str, ...], str, bool]:
    """(command prefix, description, drop to nobody) for running an untrusted binary here."""
    unshare, setpriv = shutil.which("unshare"), shutil.which("setpriv")
    if os.geteuid() == 0 and unshare:
        prefix = (unshare, "--net", "--pid", "--fork", "--kill-child")
        if setpriv and _try([*prefix, setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "true"]):
            return prefix, "network and PID namespaces, user nobody, rlimits", True
        if _try([*prefix, "true"]):
            return prefix, "network and PID namespaces, rlimits (as root: setpriv unavailable)", False
    if unshare:
        prefix = (unshare, "--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child")
        if _try([*prefix, "true"]):
            return prefix, "user, network and PID namespaces (unprivileged), rlimits", False
    return (
        (),
        "rlimits and a process group only: no network isolation available here (not root, no user namespaces)",
        False,
    )


def _limits(memory_mb: int, cpu_s: float, nproc: int | None) -> None:
    """In the child, before exec: caps that the program and its children inherit."""
    mem = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    cpu = max(1, int(cpu_s + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (OUTPUT_LIMIT_BYTES, OUTPUT_LIMIT_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if nproc is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))


def _run_limited(
    argv: list[str], cwd: Path, stdin_path: Path | None, stdout_path: Path, timeout_s: float, preexec
) -> tuple[int | None, bool, float]:
    """Run in a new process group; kill the whole group at the timeout and afterwards. (rc, timed out, seconds)."""
    started = time.monotonic()
    with open(stdout_path, "wb") as out, open(stdin_path or os.devnull, "rb") as inp:
        proc = subprocess.Popen(
            argv, cwd=cwd, stdin=inp, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=preexec
        )
        timed_out = False
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            rc = proc.wait()
    return (None if timed_out else rc), timed_out, time.monotonic() - started


@dataclass
class Compiled:
    ok: bool
    folder: Path | None
    binary: Path | None
    error: str = ""
    seconds: float = 0.0


@dataclass
class TestResult:
    passed: bool
    verdict: str  # "ok" | "wrong answer" | "time limit" | "runtime error" | "output limit"
    seconds: float
    output_head: str = ""


@dataclass
class Judgement:
    """The verdict for one program on a list of tests."""

    verdict: str  # "accepted" | "compile error" | "wrong answer" | "time limit" | "runtime error" | ...
    passed: int
    total: int
    compile_error: str = ""
    tests: list[dict] = field(default_factory=list)
    sandbox: str = ""
    seconds: float = 0.0

    @property
    def accepted(self) -> bool:
        return self.verdict == "accepted"

    def to_json(self) -> dict:
        return asdict(self)


def _traversable(path: Path) -> bool:
    """Every folder from / to `path` may be entered by other users."""
    path = path.resolve()
    return all(os.stat(p).st_mode & 0o001 for p in [path, *path.parents])


def compile_rust(source: str, workdir: Path | None = None, timeout_s: float = COMPILE_TIMEOUT_S) -> Compiled:
    """Compile `source` in a fresh folder (inside `workdir` if given). The caller removes `folder`."""
    rustc = find_rustc()
    if sandbox()[2] and workdir is not None and not _traversable(Path(workdir)):
        workdir = None  # the unprivileged user must reach the binary: fall back to the system's temp folder
    folder = Path(tempfile.mkdtemp(prefix="rust-judge-", dir=workdir))
    os.chmod(folder, 0o755)
    (folder / "main.rs").write_text(source)
    binary = folder / "main"
    prefix, _, _ = sandbox()
    argv = [*prefix, rustc, "-O", "--edition", "2021", "-o", str(binary), "main.rs"]
    log = folder / "compile.log"
    with _COMPILE_SLOTS:
        rc, timed_out, secs = _run_limited(
            argv, folder, None, log, timeout_s, lambda: _limits(COMPILE_MEMORY_MB, timeout_s + 1, None)
        )
    text = log.read_text(errors="replace")[-4000:]
    if timed_out:
        return Compiled(False, folder, None, f"compilation timed out after {timeout_s:g} s", secs)
    if rc != 0 or not binary.exists():
        return Compiled(False, folder, None, text or f"rustc exited with {rc}", secs)
    os.chmod(binary, 0o755)
    return Compiled(True, folder, binary, "", secs)


def normalize(text: str) -> list[str]:
    return text.split()


def run_test(
    binary: Path, input_text: str, expected: str, time_limit_s: float = TIME_LIMIT_S, memory_mb: int = RUN_MEMORY_MB
) -> TestResult:
    folder = binary.parent
    tag = hashlib.sha1(input_text.encode()).hexdigest()[:12] + f"-{threading.get_ident()}"
    stdin_path, stdout_path = folder / f"in-{tag}.txt", folder / f"out-{tag}.txt"
    stdin_path.write_text(input_text)
    os.chmod(stdin_path, 0o644)
    prefix, _, drop = sandbox()
    if drop:
        setpriv = shutil.which("setpriv")
        prefix = (*prefix, setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--")
    # A shell in between: the first process of a PID namespace ignores signals it does not handle
    # (SIGXCPU at the CPU limit included), so the program must not be that process.
    argv = [*prefix, "/bin/sh", "-c", '"$@"; exit $?', "sh", str(binary)] if prefix else [str(binary)]
    # RLIMIT_NPROC counts every process of the user: only meaningful once we are not root.
    nproc = MAX_PROCESSES if drop or os.geteuid() != 0 else None
    try:
        rc, timed_out, secs = _run_limited(
            argv, folder, stdin_path, stdout_path, time_limit_s + 1.0, lambda: _limits(memory_mb, time_limit_s, nproc)
        )
        size = stdout_path.stat().st_size
        with open(stdout_path, "rb") as f:
            output = f.read(min(size, OUTPUT_LIMIT_BYTES)).decode("utf-8", errors="replace")
    finally:
        stdin_path.unlink(missing_ok=True)
        stdout_path.unlink(missing_ok=True)
    head = output[:200]
    if timed_out:
        return TestResult(False, "time limit", secs, head)
    if rc is not None and rc in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
        return TestResult(False, "time limit", secs, head)
    if rc is not None and rc in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ):
        return TestResult(False, "output limit", secs, head)
    if rc != 0:
        return TestResult(False, "runtime error", secs, head)
    if normalize(output) != normalize(expected):
        return TestResult(False, "wrong answer", secs, head)
    return TestResult(True, "ok", secs, head)


def judge(
    source: str,
    tests: list[dict],
    time_limit_s: float = TIME_LIMIT_S,
    memory_mb: int = RUN_MEMORY_MB,
    stop_at_first_failure: bool = True,
    workdir: Path | None = None,
) -> Judgement:
    """Compile `source`, run it on `tests` ([{"input": ..., "output": ...}]); "accepted" when all pass."""
    started = time.monotonic()
    desc = sandbox()[1]
    compiled = compile_rust(source, workdir)
    try:
        if not compiled.ok:
            return Judgement("compile error", 0, len(tests), compiled.error, [], desc, time.monotonic() - started)
        results, verdict = [], "accepted"
        for t in tests:
            r = run_test(compiled.binary, t["input"], t["output"], time_limit_s, memory_mb)
            results.append(asdict(r))
            if not r.passed:
                verdict = r.verdict
                if stop_at_first_failure:
                    break
        passed = sum(1 for r in results if r["passed"])
        return Judgement(verdict, passed, len(tests), "", results, desc, time.monotonic() - started)
    finally:
        if compiled.folder is not None:
            shutil.rmtree(compiled.folder, ignore_errors=True)


def extract_code(text: str) -> str:
    """The first fenced code block of a model's answer (```rust preferred), else the whole text."""
    blocks = re.findall(r"```([\w+-]*)[ \t]*\n(.*?)```", text, flags=re.S)
    for lang, body in blocks:
        if lang.lower() in ("rust", "rs"):
            return body
    return blocks[0][1] if blocks else text
