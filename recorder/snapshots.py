"""Git snapshots of the workspace in a shadow repository kept in the private state.

The shadow repository has its own git dir and a persistent index, with the workspace
as its work tree, so the participant's own `.git`, branches and index are never
touched, and an incremental snapshot only re-hashes the files whose stat changed.
Only git plumbing is used (through GitPython's command wrapper, with a timeout):
GitPython's object layer is not meant for long-running processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git

DEFAULT_SIZE_CAP = 10 * 2**20
# ML artefacts and environments: big, regenerable, and not the participant's work.
DEFAULT_EXCLUDES = (
    "*.pt",
    "*.pth",
    "*.ckpt",
    "*.safetensors",
    "*.bin",
    "*.onnx",
    "*.h5",
    "*.pkl",
    ".venv/",
    "venv/",
    "__pycache__/",
    "*.pyc",
    ".ipynb_checkpoints/",
    ".cache/",
    "wandb/",
    ".pytest_cache/",
    ".mypy_cache/",
    ".ruff_cache/",
    "node_modules/",
)
BRANCH = "refs/heads/snapshots"
_LEFT_OUT_LISTED = 200


class SnapshotError(RuntimeError):
    pass


@dataclass
class SnapshotInfo:
    commit: str
    files_changed: int
    changed: list[str]
    left_out: list[dict[str, Any]] = field(default_factory=list)
    duration_ms: float = 0.0


def _split_nul(out: str) -> list[str]:
    return [p for p in out.split("\0") if p]


class SnapshotRepo:
    def __init__(
        self,
        git_dir: Path,
        workspace: Path,
        *,
        size_cap: int = DEFAULT_SIZE_CAP,
        excludes: tuple[str, ...] = DEFAULT_EXCLUDES,
        timeout_s: float = 300,
    ) -> None:
        self.git_dir = Path(git_dir).resolve()
        self.workspace = Path(workspace).resolve()
        self.size_cap = size_cap
        self.excludes = excludes
        self.timeout_s = timeout_s
        self._thread_lock = threading.Lock()

    # -- plumbing ----------------------------------------------------------------------
    def _run(self, *args: str, index: Path | None = None, cwd: Path | None = None, **kwargs: Any) -> str:
        env = {
            "GIT_DIR": str(self.git_dir),
            "GIT_WORK_TREE": str(self.workspace),
            "GIT_INDEX_FILE": str(index or self.git_dir / "index"),
            "GIT_LITERAL_PATHSPECS": "1",
            "GIT_AUTHOR_NAME": "rebench-tui",
            "GIT_AUTHOR_EMAIL": "rebench-tui@localhost",
            "GIT_COMMITTER_NAME": "rebench-tui",
            "GIT_COMMITTER_EMAIL": "rebench-tui@localhost",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
        }
        runner = git.Git(str(cwd or self.workspace))
        try:
            with runner.custom_environment(**env):
                return runner.execute(
                    ["git", *args], kill_after_timeout=self.timeout_s, strip_newline_in_stdout=False, **kwargs
                )
        except git.GitCommandError as exc:
            raise SnapshotError(f"git {args[0]} failed: {exc.stderr.strip() or exc}") from exc

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One snapshot at a time, across threads and processes."""
        with self._thread_lock, open(self.git_dir / "rebench.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def init(self) -> None:
        self.git_dir.mkdir(parents=True, exist_ok=True)
        if not (self.git_dir / "HEAD").exists():
            self._run("init", "--quiet")
        for key, value in (
            ("core.bare", "false"),
            ("core.autocrlf", "false"),
            ("core.fileMode", "true"),
            ("core.symlinks", "true"),
            ("gc.auto", "0"),
            ("commit.gpgSign", "false"),
        ):
            self._run("config", key, value)
        info = self.git_dir / "info"
        info.mkdir(exist_ok=True)
        (info / "exclude").write_text("# written by rebench-tui\n" + "\n".join(self.excludes) + "\n")

    def head(self) -> str | None:
        try:
            return self._run("rev-parse", "-q", "--verify", BRANCH).strip() or None
        except SnapshotError:
            return None

    # -- taking a snapshot -------------------------------------------------------------
    def take(self, message: str) -> SnapshotInfo:
        started = time.monotonic()
        with self._locked():
            left_out = self._stage()
            tree = self._run("write-tree").strip()
            parent = self.head()
            parent_args = ["-p", parent] if parent else []
            commit = self._run("commit-tree", tree, *parent_args, "-m", message).strip()
            changed = self._changed(parent, commit)
            self._run("update-ref", BRANCH, commit)
        return SnapshotInfo(
            commit=commit,
            files_changed=len(changed),
            changed=changed[:_LEFT_OUT_LISTED],
            left_out=left_out,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )

    def _stage(self) -> list[dict[str, Any]]:
        """Bring the index in line with the workspace, except what is left out; say what was."""
        candidates = _split_nul(
            self._run("ls-files", "-z", "--others", "--modified", "--deleted", "--exclude-standard")
        )
        to_add: list[str] = []
        to_unstage: list[str] = []
        left_out: list[dict[str, Any]] = []
        for rel in dict.fromkeys(candidates):
            if rel.endswith("/"):
                left_out.append({"path": rel, "reason": "nested git repository"})
                continue
            try:
                st = os.lstat(self.workspace / rel)
            except FileNotFoundError:
                to_add.append(rel)  # a deletion
                continue
            if stat.S_ISREG(st.st_mode) and st.st_size > self.size_cap:
                left_out.append({"path": rel, "reason": "size", "bytes": st.st_size})
                to_unstage.append(rel)
            else:
                to_add.append(rel)
        if to_add:
            self._pathspec_command(["add", "-A"], to_add)
        if to_unstage:
            self._pathspec_command(["rm", "--cached", "-q", "-f", "--ignore-unmatch"], to_unstage)
        ignored = _split_nul(self._run("ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory"))
        left_out += [{"path": p, "reason": "excluded"} for p in ignored[:_LEFT_OUT_LISTED]]
        if len(ignored) > _LEFT_OUT_LISTED:
            left_out.append({"path": "...", "reason": f"{len(ignored) - _LEFT_OUT_LISTED} more excluded"})
        return left_out

    def _pathspec_command(self, command: list[str], paths: list[str]) -> None:
        with tempfile.NamedTemporaryFile("wb", dir=self.git_dir, prefix="pathspec-") as f:
            f.write(b"\0".join(p.encode("utf-8", "surrogateescape") for p in paths) + b"\0")
            f.flush()
            self._run(*command, f"--pathspec-from-file={f.name}", "--pathspec-file-nul")

    def _changed(self, parent: str | None, commit: str) -> list[str]:
        if parent is None:
            return _split_nul(self._run("ls-tree", "-r", "-z", "--name-only", commit))
        return _split_nul(self._run("diff-tree", "-r", "-z", "--no-commit-id", "--name-only", parent, commit))

    # -- reading back ------------------------------------------------------------------
    def restore(self, commit: str, dest: Path) -> int:
        """Write the snapshot's files into `dest` (new or empty), byte for byte, modes included."""
        dest = Path(dest).resolve()
        if dest.exists() and any(dest.iterdir()):
            raise SnapshotError(f"{dest} is not empty")
        dest.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="rebench-restore-") as tmp:
            index = Path(tmp, "index")
            self._run("read-tree", commit, index=index)
            self._run("checkout-index", "-a", "-f", f"--prefix={dest}/", index=index)
        return len(_split_nul(self._run("ls-tree", "-r", "-z", "--name-only", commit)))

    def diff(self, base: str, commit: str) -> str:
        """A stat summary and the patch between two snapshots."""
        return self._run("diff", "--stat", "--patch", base, commit)

    def files(self, commit: str) -> list[str]:
        return _split_nul(self._run("ls-tree", "-r", "-z", "--name-only", commit))
