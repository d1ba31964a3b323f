"""Compile a Rust program and run it on tests, with limits it cannot escape.

Used by the scorer and copied into the participant's workspace (stdlib only, one file).

Each program is written to a fresh temporary folder and compiled with `rustc -O
--edition 2021` under a compile timeout. Each test runs the binary with stdin and
stdout redirected to files, in its own process group, under a wall-clock timeout and
`setrlimit` caps (address space, CPU seconds, file size, processes), then the group is
killed. Where namespaces are available (as root, or through an unprivileged user
namespace), the program runs in new network, PID and mount namespaces, in a **root of its
own**: a scratch file system holding read-only copies (bind mounts) of the system's
`/usr`, `/lib*`, `/bin`, `/sbin` and `/etc/alternatives`, a few devices, its own `/proc`,
and its folder as `/work`, then with every capability dropped (as root, also as the user
`nobody`). The compiler runs there too, with its own toolchain shown read-only:
`include_str!` and friends read files at compile time. So the
program sees no network, no other process and no file of the machine but the system's
programs and libraries: not the scorer's private state nor the hidden tests, which the
scorer's own account can read. Where none of this is allowed, the program runs with the
rlimits only, and `sandbox` in every result says so. Output is compared after whitespace
normalization (tokens separated by any whitespace).
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


# Run inside the new namespaces (as their root): a scratch root with the system's programs and
# libraries read-only, the program's folder as /work, then chroot, drop every capability (and, as
# the machine's root, become nobody) and run "$@". $1 is the program's folder, $2 nobody's uid or
# "", $3 a folder to show read-only at its own path too (the compiler's) or "".
_ROOT_SCRIPT = r"""
set -e
work=$1; drop=$2; extra=$3; shift 3
new=$work/.root
mkdir -p "$new"
mount -t tmpfs -o size=4m,mode=755 rebench-sandbox "$new"
for d in usr lib lib32 lib64 libx32 bin sbin; do
  if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$new/$d"
  elif [ -d "/$d" ]; then mkdir "$new/$d"; mount --rbind "/$d" "$new/$d"; mount -o remount,bind,ro "$new/$d"
  fi
done
mkdir "$new/work" "$new/dev" "$new/proc" "$new/tmp" "$new/etc"
if [ -d /etc/alternatives ]; then  # where Debian's `cc` points
  mkdir "$new/etc/alternatives"; mount --rbind /etc/alternatives "$new/etc/alternatives"
fi
if [ -f /etc/ld.so.cache ]; then
  touch "$new/etc/ld.so.cache"; mount --bind /etc/ld.so.cache "$new/etc/ld.so.cache"
fi
mount --bind "$work" "$new/work"
if [ -n "$extra" ]; then
  mkdir -p "$new$extra"; mount --rbind "$extra" "$new$extra"; mount -o remount,bind,ro "$new$extra"
fi
for f in null zero random urandom; do touch "$new/dev/$f"; mount --bind "/dev/$f" "$new/dev/$f"; done
mount -t proc -o nosuid,nodev,noexec proc "$new/proc"
if [ -n "$drop" ]; then who="--reuid=$drop --regid=$drop --clear-groups"; else who=""; fi
cd /
exec chroot "$new" setpriv $who --bounding-set=-all --inh-caps=-all --no-new-privs -- "$@"
"""


@functools.lru_cache(maxsize=1)
def sandbox() -> tuple[tuple[str, ...], str, bool]:
    """(command prefix, description, drop to nobody) for running an untrusted binary here.

    The prefix is followed by the program's folder, nobody's uid or "", a folder to show too
    or "", and the command (as it is seen from inside: the folder is /work)."""
    unshare = shutil.which("unshare")
    namespaces = ("--mount", "--net", "--pid", "--fork", "--kill-child")
    root = ("/bin/sh", "-c", _ROOT_SCRIPT, "rebench-sandbox")
    if unshare and os.geteuid() == 0:
        prefix: tuple[str, ...] = (unshare, *namespaces, *root)
        if _probe(prefix, str(NOBODY)):
            return prefix, "network, PID and mount namespaces, a root of its own, user nobody, rlimits", True
    if unshare:
        prefix = (unshare, "--user", "--map-root-user", *namespaces, *root)
        if _probe(prefix, ""):
            return prefix, "user, network, PID and mount namespaces (unprivileged), a root of its own, rlimits", False
    return (
        (),
        "rlimits and a process group only: no namespaces available here (not root, no user namespaces)",
        False,
    )


def _probe(prefix: tuple[str, ...], drop: str) -> bool:
    """Whether the sandbox works here: a program inside sees its folder, and only that."""
    folder = Path(tempfile.mkdtemp(prefix="rust-sandbox-probe-"))
    try:
        os.chmod(folder, 0o755)
        (folder / "seen").write_text("ok")
        os.chmod(folder / "seen", 0o644)
        argv = [*prefix, str(folder), drop, "", "/bin/sh", "-c", f"cat /work/seen && ! ls {folder} >/dev/null 2>&1"]
        return subprocess.run(argv, capture_output=True, timeout=20).stdout == b"ok"
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        shutil.rmtree(folder, ignore_errors=True)


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
            # Once more, for a child the program was forking while the group was killed (it carries
            # the group's id). Defensive: the survivor once blamed on this was another process's.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
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
    # The compiler runs in the sandbox too: `include_str!("/any/path")` reads files at compile time.
    prefix, _, _ = sandbox()
    compile_argv = [rustc, "-O", "--edition", "2021", "-o", "/work/main", "/work/main.rs"]
    if prefix:
        sysroot = str(Path(rustc).resolve().parent.parent)
        argv = [*prefix, str(folder), "", sysroot, "/usr/bin/env", "TMPDIR=/work", *compile_argv]
    else:
        argv = [rustc, "-O", "--edition", "2021", "-o", str(binary), "main.rs"]
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
    # A shell in between: the first process of a PID namespace ignores signals it does not handle
    # (SIGXCPU at the CPU limit included), so the program must not be that process.
    inside = ["/bin/sh", "-c", '"$@"; exit $?', "sh", f"/work/{binary.name}"]
    argv = [*prefix, str(folder), str(NOBODY) if drop else "", "", *inside] if prefix else [str(binary)]
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
        if not compiled.ok or compiled.binary is None:
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
