"""Incremental snapshot time: rebench-tui's shadow repository vs the plain git command line.

Workspace: 10,000 small files plus 20 files of 10 MiB. Both sides take a first full
snapshot, then, for each round, 10 files change and each side snapshots again: ours
with `SnapshotRepo.take`, the baseline with `git add -A && git commit` on a separate
git dir over the same work tree. Prints the median per side and the ratio.

    .venv/bin/python bench/snapshot_bench.py [--rounds 7] [--small 10000] [--large 20]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from recorder.snapshots import SnapshotRepo

MiB = 2**20


def build_workspace(root: Path, small: int, large: int) -> list[Path]:
    rng = random.Random(1)
    files = []
    for i in range(small):
        d = root / f"pkg{i % 100:02d}" / f"sub{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"mod{i}.py"
        path.write_bytes(rng.randbytes(rng.randint(100, 2000)))
        files.append(path)
    for i in range(large):
        (root / "data").mkdir(exist_ok=True)
        (root / "data" / f"blob{i}.dat").write_bytes(os.urandom(10 * MiB))
    return files


def plain_git(git_dir: Path, workspace: Path) -> Callable[[], None]:
    env = {
        **os.environ,
        "GIT_DIR": str(git_dir),
        "GIT_WORK_TREE": str(workspace),
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@b",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@b",
    }
    subprocess.run(["git", "init", "-q"], env=env, check=True)
    subprocess.run(["git", "config", "gc.auto", "0"], env=env, check=True)

    def snapshot() -> None:
        subprocess.run(["git", "add", "-A"], env=env, check=True, cwd=workspace)
        subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "snap"], env=env, check=True, cwd=workspace)

    return snapshot


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="rebench-bench-") as tmp:
        ws = Path(tmp, "workspace")
        ws.mkdir()
        print(f"building workspace: {args.small} small files + {args.large} x 10 MiB ...", flush=True)
        files = build_workspace(ws, args.small, args.large)
        ours = SnapshotRepo(Path(tmp, "shadow.git"), ws)
        ours.init()
        baseline = plain_git(Path(tmp, "plain.git"), ws)

        first_ours = timed(lambda: ours.take("first"))
        first_plain = timed(baseline)
        rng = random.Random(2)
        t_ours, t_plain, changed = [], [], []
        for r in range(args.rounds):
            for path in rng.sample(files, 10):
                path.write_bytes(rng.randbytes(rng.randint(100, 2000)))

            # Alternate who goes first so the page cache favours neither side.
            def take_ours(label: str = f"round {r}") -> None:
                changed.append(ours.take(label))

            if r % 2:
                t_plain.append(timed(baseline))
                t_ours.append(timed(take_ours))
            else:
                t_ours.append(timed(take_ours))
                t_plain.append(timed(baseline))
        assert all(c.files_changed == 10 for c in changed), [c.files_changed for c in changed]

    med_ours, med_plain = statistics.median(t_ours), statistics.median(t_plain)
    rows = [
        ("first snapshot (full hash)", first_ours, first_plain),
        (f"incremental, 10 files changed (median of {args.rounds})", med_ours, med_plain),
        ("incremental, best", min(t_ours), min(t_plain)),
    ]
    print(f"\n{'case':48} {'rebench-tui ms':>15} {'plain git ms':>13} {'ratio':>7}")
    for name, a, b in rows:
        print(f"{name:48} {a:15.1f} {b:13.1f} {a / b:7.2f}")
    print("\nratio = rebench-tui / plain git CLI (git add -A && git commit); baseline named 'plain git'.")


if __name__ == "__main__":
    main()
