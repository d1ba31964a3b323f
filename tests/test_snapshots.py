"""Shadow-git snapshots against real git repositories and files."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from recorder.snapshots import SnapshotError, SnapshotRepo


def tree_digest(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if any(rel == s or rel.startswith(s + "/") for s in skip):
            continue
        if path.is_symlink():
            out[rel] = "link:" + os.readlink(path)
        elif path.is_file():
            mode = "x" if os.access(path, os.X_OK) else "-"
            out[rel] = mode + hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "workspace"
    (ws / "pkg").mkdir(parents=True)
    (ws / "solution.py").write_text("def f():\n    return 1\n")
    (ws / "pkg" / "data.bin.txt").write_bytes(bytes(range(256)) * 40)
    script = ws / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    (ws / "weird name [1]*.txt").write_text("glob characters are literal")
    os.symlink("solution.py", ws / "link.py")
    return ws


@pytest.fixture
def repo(tmp_path: Path, workspace: Path) -> SnapshotRepo:
    r = SnapshotRepo(tmp_path / "private" / "snapshots.git", workspace, size_cap=1_000_000)
    r.init()
    return r


def test_restore_is_byte_for_byte_with_modes_and_links(tmp_path: Path, workspace: Path, repo: SnapshotRepo) -> None:
    first = repo.take("first")
    (workspace / "solution.py").write_text("def f():\n    return 2\n")
    (workspace / "pkg" / "new.py").write_text("x = 1\n")
    second = repo.take("second")
    assert second.files_changed == 2 and set(second.changed) == {"solution.py", "pkg/new.py"}

    before = tree_digest(workspace)
    repo.restore(second.commit, tmp_path / "out2")
    assert tree_digest(tmp_path / "out2") == before

    repo.restore(first.commit, tmp_path / "out1")
    assert (tmp_path / "out1" / "solution.py").read_text() == "def f():\n    return 1\n"
    assert not (tmp_path / "out1" / "pkg" / "new.py").exists()


def test_deletions_are_snapshotted(tmp_path: Path, workspace: Path, repo: SnapshotRepo) -> None:
    repo.take("first")
    (workspace / "run.sh").unlink()
    info = repo.take("second")
    assert info.changed == ["run.sh"]
    repo.restore(info.commit, tmp_path / "out")
    assert not (tmp_path / "out" / "run.sh").exists()


def test_participants_own_git_is_untouched(tmp_path: Path, workspace: Path) -> None:
    git("init", "-q", "-b", "main", cwd=workspace)
    git("-c", "user.name=p", "-c", "user.email=p@x", "add", "solution.py", cwd=workspace)
    git("-c", "user.name=p", "-c", "user.email=p@x", "commit", "-qm", "mine", cwd=workspace)
    (workspace / "solution.py").write_text("changed, not staged\n")
    git_before = tree_digest(workspace / ".git")
    status_before = git("status", "--porcelain", cwd=workspace)

    repo = SnapshotRepo(tmp_path / "shadow.git", workspace)
    repo.init()
    info = repo.take("snap")

    assert tree_digest(workspace / ".git") == git_before
    assert git("status", "--porcelain", cwd=workspace) == status_before
    assert git("branch", "--list", cwd=workspace).split() == ["*", "main"]
    assert not any(p.startswith(".git/") for p in repo.files(info.commit))
    repo.restore(info.commit, tmp_path / "out")
    assert (tmp_path / "out" / "solution.py").read_text() == "changed, not staged\n"


def test_oversized_and_artefact_files_are_left_out_and_listed(
    tmp_path: Path, workspace: Path, repo: SnapshotRepo
) -> None:
    (workspace / "big.dat").write_bytes(os.urandom(1_000_001))
    (workspace / "model.pt").write_bytes(b"weights")
    (workspace / ".venv" / "lib").mkdir(parents=True)
    (workspace / ".venv" / "lib" / "x.py").write_text("")
    info = repo.take("snap")
    files = repo.files(info.commit)
    assert "big.dat" not in files and "model.pt" not in files
    assert not any(f.startswith(".venv") for f in files)
    reasons = {e["path"]: e["reason"] for e in info.left_out}
    assert reasons["big.dat"] == "size"
    assert reasons["model.pt"] == "excluded"
    assert reasons[".venv/"] == "excluded"
    assert "solution.py" in files


def test_file_that_grows_over_the_cap_leaves_the_snapshot(workspace: Path, repo: SnapshotRepo) -> None:
    (workspace / "grows.txt").write_text("small")
    assert "grows.txt" in repo.files(repo.take("a").commit)
    (workspace / "grows.txt").write_bytes(b"x" * 1_000_001)
    info = repo.take("b")
    assert "grows.txt" not in repo.files(info.commit)
    assert {"path": "grows.txt", "reason": "size", "bytes": 1_000_001} in info.left_out


def test_unchanged_workspace_gives_an_empty_change(repo: SnapshotRepo) -> None:
    repo.take("a")
    assert repo.take("b").files_changed == 0


def test_restore_refuses_a_non_empty_destination(tmp_path: Path, repo: SnapshotRepo) -> None:
    info = repo.take("a")
    dest = tmp_path / "full"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(SnapshotError, match="not empty"):
        repo.restore(info.commit, dest)
    assert (dest / "keep.txt").read_text() == "mine"
