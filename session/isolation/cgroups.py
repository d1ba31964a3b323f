"""Per-session control groups: the kernel's memory, process-count and CPU-set limits.

cgroup v2 is used where its controllers are available; otherwise the v1 hierarchies
(memory, pids, cpuset) that many container hosts still mount. Only root can create
them; callers fall back (and say so) when `SessionCgroup.create` returns None.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

CONTROLLERS = ("memory", "pids", "cpuset")
PARENT = "rebench"


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(type, mount point, options) of every cgroup file system."""
    out = []
    with contextlib.suppress(OSError), open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 4 and parts[2] in ("cgroup", "cgroup2"):
                out.append((parts[2], parts[1], set(parts[3].split(","))))
    return out


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _counter(text: str, key: str) -> int:
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0


def available_controllers() -> dict[str, tuple[str, Path]]:
    """controller -> ("v2" | "v1", mount point) for the controllers this host offers."""
    found: dict[str, tuple[str, Path]] = {}
    for kind, mount, _options in _mounts():
        if kind == "cgroup2":
            offered = set(_read(Path(mount, "cgroup.controllers")).split())
            for c in CONTROLLERS:
                if c in offered and c not in found:
                    found[c] = ("v2", Path(mount))
    for kind, mount, options in _mounts():
        if kind == "cgroup":
            for c in CONTROLLERS:
                if c in options and c not in found:
                    found[c] = ("v1", Path(mount))
    return found


@dataclass
class SessionCgroup:
    """The cgroup folders of one session, one per controller (v1) or one shared (v2)."""

    dirs: dict[str, tuple[str, str]] = field(default_factory=dict)  # controller -> (version, folder)

    @classmethod
    def create(cls, name: str, memory_mb: int, max_processes: int, cpus: str) -> SessionCgroup | None:
        if os.geteuid() != 0:
            return None
        group = cls()
        for controller, (version, mount) in available_controllers().items():
            try:
                folder = _make(version, mount, controller, name)
                _limit(version, folder, controller, memory_mb, max_processes, cpus)
            except OSError:
                continue
            group.dirs[controller] = (version, str(folder))
        return group if group.dirs else None

    def to_json(self) -> dict[str, list[str]]:
        return {c: [v, d] for c, (v, d) in self.dirs.items()}

    @classmethod
    def from_json(cls, data: dict[str, list[str]]) -> SessionCgroup:
        return cls({c: (v, d) for c, (v, d) in data.items()})

    def how(self, controller: str) -> str | None:
        if controller not in self.dirs:
            return None
        version, _ = self.dirs[controller]
        return f"cgroup {version} {controller}"

    def procs_files(self) -> list[str]:
        """The `cgroup.procs` files a process writes its pid into to join (one per distinct folder)."""
        return sorted({str(Path(d, "cgroup.procs")) for _, d in self.dirs.values()})

    def counters(self) -> dict[str, int]:
        """How often the kernel enforced a limit: memory kills and refused forks."""
        out = {"oom_kill": 0, "pids_max": 0}
        if "memory" in self.dirs:
            version, folder = self.dirs["memory"]
            name = "memory.events" if version == "v2" else "memory.oom_control"
            out["oom_kill"] = _counter(_read(Path(folder, name)), "oom_kill")
        if "pids" in self.dirs:
            out["pids_max"] = _counter(_read(Path(self.dirs["pids"][1], "pids.events")), "max")
        return out

    def pids(self) -> set[int]:
        found: set[int] = set()
        for path in self.procs_files():
            found.update(int(p) for p in _read(Path(path)).split() if p.isdigit())
        return found

    def kill_all(self, wait_s: float = 5.0) -> bool:
        """SIGKILL every process inside (an operator's clean-up); True once none is left."""
        deadline = time.monotonic() + wait_s
        while pids := self.pids():
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def remove(self) -> None:
        """Remove the folders once empty. Nothing is killed: at the session's end the participant's
        TUI (over SSH) still runs inside, to show the final score; the kernel frees a cgroup only
        when its last process has gone, and a later `remove` (or a reboot) takes it then."""
        for _, folder in self.dirs.values():
            with contextlib.suppress(OSError):
                os.rmdir(folder)


def _make(version: str, mount: Path, controller: str, name: str) -> Path:
    parent = mount / PARENT
    folder = parent / name
    if version == "v2":
        wanted = " ".join(f"+{c}" for c in CONTROLLERS if c in _read(mount / "cgroup.controllers").split())
        with contextlib.suppress(OSError):
            _write(mount / "cgroup.subtree_control", wanted)
        parent.mkdir(exist_ok=True)
        with contextlib.suppress(OSError):
            _write(parent / "cgroup.subtree_control", wanted)
        folder.mkdir(exist_ok=True)
        return folder
    parent.mkdir(exist_ok=True)
    if controller == "cpuset":  # v1 cpusets start empty and refuse tasks until filled from the parent
        for key in ("cpuset.cpus", "cpuset.mems"):
            if not _read(parent / key).strip():
                _write(parent / key, _read(mount / key).strip())
    folder.mkdir(exist_ok=True)
    if controller == "cpuset":
        _write(folder / "cpuset.mems", _read(parent / "cpuset.mems").strip())
    return folder


def _limit(version: str, folder: Path, controller: str, memory_mb: int, max_processes: int, cpus: str) -> None:
    if controller == "memory":
        limit = str(memory_mb * 2**20)
        if version == "v2":
            _write(folder / "memory.max", limit)
            with contextlib.suppress(OSError):
                _write(folder / "memory.swap.max", "0")
        else:
            _write(folder / "memory.limit_in_bytes", limit)
            with contextlib.suppress(OSError):  # memory plus swap: only where swap accounting is on
                _write(folder / "memory.memsw.limit_in_bytes", limit)
    elif controller == "pids":
        _write(folder / "pids.max", str(max_processes))
    elif controller == "cpuset":
        _write(folder / "cpuset.cpus", cpus)
