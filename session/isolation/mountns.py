"""A per-session mount namespace that hides every environment's secrets from participants.

The source checkout stays as it is (no mode is changed in it): instead, every participant
process of an isolated session enters a mount namespace, made once per session, in which
each protected path of every environment (reference solutions, held-out data, sweeps,
build metadata, the repository's history and tests) is covered by an empty, unreadable
mount, and `/proc` shows only the participant's own processes (`hidepid=2`). The mounts
are locked for the participant: an unprivileged user namespace cannot unmount them to see
below. Scorers run outside it and read what they need from the checkout.

The namespace is kept alive by a bind mount of its file under `/run/rebench/mnt` (like
`ip netns`), re-made after a reboot and removed at the session's end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

RUN_DIR = Path("/run/rebench")
MNT_DIR = RUN_DIR / "mnt"
# Bound over a protected file: reading it says "Permission denied", as a protected folder does.
SEALED_FILE = RUN_DIR / "sealed"

# Inside the new namespace, as root: a /proc that shows only one's own processes, then the
# masks. $1 is the sealed file; each further argument is "d:PATH" (a folder) or "f:PATH".
_MASK_SCRIPT = r"""
set -e
sealed=$1; shift
mount -t proc -o hidepid=2 proc /proc
for item in "$@"; do
  path=${item#?:}
  case $item in
    d:*) mount -t tmpfs -o ro,nosuid,nodev,noexec,size=4k,mode=000 rebench-sealed "$path" ;;
    f:*) mount --bind -o ro "$sealed" "$path" ;;
  esac
done
"""


def available() -> bool:
    return os.geteuid() == 0 and all(shutil.which(tool) for tool in ("unshare", "nsenter", "mount", "umount"))


def _is_mount_point(path: Path) -> bool:
    target = str(path)
    with contextlib.suppress(OSError), open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == target for line in f)
    return False


def _prepare_run_dir() -> None:
    """/run/rebench/mnt must be a private mount for namespace files to be bound in it."""
    MNT_DIR.mkdir(parents=True, exist_ok=True)
    os.chmod(RUN_DIR, 0o711)
    os.chmod(MNT_DIR, 0o700)
    if not _is_mount_point(MNT_DIR):
        subprocess.run(["mount", "--bind", str(MNT_DIR), str(MNT_DIR)], check=True, capture_output=True)
    subprocess.run(["mount", "--make-private", str(MNT_DIR)], check=True, capture_output=True)
    if not SEALED_FILE.exists():
        SEALED_FILE.touch()
    os.chown(SEALED_FILE, 0, 0)
    os.chmod(SEALED_FILE, 0)


def masks_for(paths: Iterable[Path]) -> list[str]:
    """The mask arguments for the paths that exist (a path made later is not covered: say so)."""
    items: list[str] = []
    hidden: list[Path] = []
    for path in sorted({Path(p).resolve() for p in paths}):
        if any(path.is_relative_to(folder) for folder in hidden):
            continue  # inside a folder already hidden (a worktree's git folder inside the main one)
        if path.is_dir():
            hidden.append(path)
            items.append(f"d:{path}")
        elif path.exists():
            items.append(f"f:{path}")
    return items


def path_of(name: str) -> Path:
    return MNT_DIR / name


def exists(name: str) -> bool:
    return _is_mount_point(path_of(name))


def make(name: str, protected: Iterable[Path]) -> tuple[str | None, str]:
    """Make (or re-make) the namespace; (its name, what it hides) or (None, why not)."""
    if not available():
        return None, "needs root and util-linux's unshare, nsenter and mount"
    try:
        _prepare_run_dir()
        remove(name)
        target = path_of(name)
        target.touch()
        items = masks_for(protected)
        made = subprocess.run(
            ["unshare", f"--mount={target}", "--propagation", "private", "--",
             "/bin/sh", "-c", _MASK_SCRIPT, "rebench-masks", str(SEALED_FILE), *items],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"could not make a mount namespace: {exc}"
    if made.returncode != 0:
        remove(name)
        return None, f"could not make a mount namespace: {made.stderr.strip()[-300:]}"
    return name, f"{len(items)} protected paths hidden, /proc shows one's own processes only"


def remove(name: str) -> None:
    target = path_of(name)
    if _is_mount_point(target):
        subprocess.run(["umount", str(target)], capture_output=True)
    with contextlib.suppress(OSError):
        target.unlink()
