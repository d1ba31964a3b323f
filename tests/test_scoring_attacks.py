"""Scores cannot be forged: attacks written the way a participant would, from inside isolated sessions.

Each test plants a cheating solution in a real session (real accounts, cgroups and
namespaces, as root) and scores it through the real harness. The rule they check: nothing
the participant controls runs in, or can write to, what measures or judges it; every secret
is per session and private. Root only (CI runs as root).
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import time
from pathlib import Path

import pytest
from test_isolation import IS_ROOT, run, started

from environments.base import DATA_DIR
from environments.registry import environment_ids
from session.session import Session

pytestmark = [pytest.mark.serial, pytest.mark.skipif(not IS_ROOT, reason="isolation needs root (CI runs as root)")]
REPO = DATA_DIR.parent


def put(session: Session, name: str, text: str) -> None:
    """Write a workspace file as the participant would (their account owns it)."""
    path = session.workspace / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    account = pwd.getpwnam(session.confinement.participant_user)
    os.chown(path, account.pw_uid, account.pw_gid)


def skip_without_python(session: Session) -> None:
    if any("cannot run the harness's Python" in note for note in session.confinement.notes):
        pytest.skip("the participant cannot run this venv's Python (build it with `make setup` as root)")


HONEST = """
import torch
def _exact(x):
    positive = (x > 0).to(torch.int32)
    odd = ((torch.cumsum(positive, 0, dtype=torch.int32) - positive) & 1).bool()
    return torch.cumsum(torch.where(odd, x, 0), 0, dtype=torch.int32)
"""

# Everything a solution can look at from inside its process at import time, for the judge's
# secrets (seeds, expected outputs) and the verdict's path.
SNOOP = """
import gc, json, os, sys
_probe = {"frames": [], "modules": sorted(m for m in sys.modules if "scorer" in m or "judge" in m)}
_f = sys._getframe()
while _f is not None:
    _probe["frames"].append(_f.f_code.co_filename)
    _f = _f.f_back
_cmdlines = []
for _pid in os.listdir("/proc"):
    if _pid.isdigit():
        try:
            _cmdlines.append(open(f"/proc/{_pid}/cmdline").read().replace(chr(0), " "))
        except OSError:
            pass
_probe["judge_visible"] = [c for c in _cmdlines if "scorer_main" in c or "session.daemon" in c]
_probe["ints_in_gc"] = sum(1 for o in gc.get_objects() if isinstance(o, dict) and "seeds" in o)
_verdicts = os.path.join(os.path.dirname(os.getcwd()), "private", "env", "score-results")
try:
    open(os.path.join(_verdicts, "forged.json"), "w").write('{"raw": -20.0, "message": {}}')
    _probe["verdict"] = "written"
except OSError as _exc:
    _probe["verdict"] = type(_exc).__name__
json.dump(_probe, open("probe.json", "w"))
"""


def test_prefix_sum_code_sees_no_judge_frame_secret_or_verdict_and_its_patches_stay_home(open_home: Path) -> None:
    """Frames, sys.modules, gc, /proc and the verdict folder, read from the participant's code; then it
    patches the classes the old in-process scorer used and returns a wrong answer."""
    with started(open_home, participant="mallory", env="prefix_sum", scale="test") as s:
        skip_without_python(s)
        put(
            s,
            "solution.py",
            HONEST
            + SNOOP
            + """
import environments.base as _base
_base.ScoreResult.valid = property(lambda self: True)
import environments.prefix_sum.scorer as _judge
_judge.judge = lambda *a, **k: _base.ScoreResult(-20.0, {"median_ms": 0.0})
_judge.MIN_NET_MS = 1e-12
def prefix_sum(x):
    return torch.zeros_like(x)
""",
        )
        scored = s.call("score").structured
        probe = json.loads((s.workspace / "probe.json").read_text())
        assert not scored["valid"] and "wrong output" in scored["message"]["error"], scored
        assert probe["judge_visible"] == [] and probe["modules"] == [] and probe["ints_in_gc"] == 0, probe
        assert all("scorer" not in f for f in probe["frames"]), probe["frames"]
        assert probe["verdict"] in ("PermissionError", "FileNotFoundError"), probe
        assert [r["raw"] for r in s.recorder.scores()] == [None]


def test_prefix_sum_saying_done_early_with_work_still_running_does_not_pay(open_home: Path) -> None:
    """The call writes the first half and leaves the second half to a thread, hoping it lands while
    the judge is still checking the first half. The judge checks only once the part is frozen."""
    with started(open_home, participant="early", env="prefix_sum", scale="test") as s:
        skip_without_python(s)
        put(
            s,
            "solution.py",
            HONEST
            + """
import threading, time
def prefix_sum(x, out):
    y = _exact(x)
    half = y.numel() // 2
    out[:half].copy_(y[:half])
    def finish():
        time.sleep(0.002)
        out[half:].copy_(y[half:])
    threading.Thread(target=finish).start()
    return out
""",
        )
        scored = s.call("score").structured
        assert not scored["valid"] and "wrong output" in scored["message"]["error"], scored


def test_prefix_sum_a_process_left_by_the_solution_is_frozen_then_killed(open_home: Path) -> None:
    with started(open_home, participant="lefty", env="prefix_sum", scale="test") as s:
        skip_without_python(s)
        marker = s.workspace / "leftover_was_here"
        put(
            s,
            "solution.py",
            "import subprocess\n"
            f"subprocess.Popen(['setsid', 'sh', '-c', 'sleep 4; touch {marker}'])\n"
            "from solution_start import prefix_sum\n",
        )
        put(s, "solution_start.py", (REPO / "environments/prefix_sum/start/solution.py").read_text())
        scored = s.call("score").structured
        assert scored["valid"], scored
        assert s.confinement.group_pids("scoring") == set()
        time.sleep(5)
        assert not marker.exists(), "a process the solution left ran on after the scoring"


def test_prefix_sum_honest_start_and_reference_separate_under_isolation(open_home: Path) -> None:
    with started(open_home, participant="hon", env="prefix_sum", scale="test") as s:
        skip_without_python(s)
        start = s.call("score").structured
        s.env.install_reference(s.workspace, "test")
        account = pwd.getpwnam(s.confinement.participant_user)
        for path in s.workspace.iterdir():
            os.chown(path, account.pw_uid, account.pw_gid)
        reference = s.call("score").structured
        assert start["valid"] and reference["valid"], (start, reference)
        details = s.recorder.scores()[-1]["details"]
        assert details["freezer"] == "cgroup v2 freezer" or details["freezer"] == "cgroup v1 freezer", details
        assert reference["raw"] < start["raw"], (start, reference)


def test_finetune_time_runs_until_every_process_the_script_started_has_exited(open_home: Path) -> None:
    """The script hands its work to a setsid'd child and exits at once: the clock waits for the child."""
    with started(open_home, participant="fin", env="finetune_runtime", scale="test") as s:
        skip_without_python(s)
        original = (s.workspace / "finetune.sh").read_text()
        lines = original.splitlines(keepends=True)
        put(s, "real_finetune.sh", original)
        put(s, "finetune.sh", lines[0] + "setsid bash -c 'sleep 3; bash real_finetune.sh' >/dev/null 2>&1 &\nexit 0\n")
        scored = s.call("score").structured
        row = s.recorder.scores()[-1]
        assert scored["valid"], scored
        assert row["details"]["measured"]["seconds"] >= 3.0, row["details"]["measured"]
        assert scored["message"]["seconds"] >= 3.0


def test_finetune_output_that_links_to_private_data_is_not_collected(open_home: Path) -> None:
    with started(open_home, participant="linker", env="finetune_runtime", scale="test") as s:
        skip_without_python(s)
        private_split = s.paths.env_private / "train_split.bin"
        put(s, "finetune.sh", f"#!/usr/bin/env bash\nmkdir -p output\nln -sf {private_split} output/model.pt\n")
        scored = s.call("score").structured
        assert not scored["valid"] and "missing" in scored["message"]["error"], scored


SECRETS = [
    "environments/scaling_law/reference/answer_cpu.json",
    "environments/scaling_law/calibration.json",
    "data/scaling_law",
    "data/corpus/validation.json.xz",
    "environments/rust_codecontests/reference/problems_a.py",
    "data/rust_codecontests/reference",
    "data/rl_qa/reference",
    "data/rl_qa/build_info.json",
    "data/rl_qa/test/reference",
    "data/rl_qa/test/build_info.json",
    "environments/rl_qa/reference/build.py",
    "environments/restricted_mlm/reference/model.py",
    "environments/prefix_sum/reference/cpu/solution.py",
    ".git",
    "tests/conftest.py",
]
NEEDED = ["environments/prefix_sum/trusted.py", "data/corpus/train.json.xz", "README.md"]


def test_no_participant_reads_any_environments_secrets_or_the_repositorys_history(open_home: Path) -> None:
    """From a prefix_sum session: other environments' answers, the held-out text, the tests and the
    history are unreadable; what participants need from the installation is not."""
    with started(open_home, participant="reader", env="prefix_sum", scale="test") as s:
        for rel in SECRETS:
            path = REPO / rel
            if not path.exists():
                continue
            read = run(s, f"cat {path} 2>&1 | head -c 200; ls {path} 2>&1 | head -3")
            assert "Permission denied" in read["text"], (rel, read["text"])
        for rel in NEEDED:
            read = run(s, f"head -c 10 {REPO / rel} | wc -c")
            assert read["text"].split()[0] == "10", (rel, read["text"])
        if (REPO / ".git").exists():  # the history, and every file of the commit, through git itself
            shown = run(s, f"git -c safe.directory='*' -C {REPO} show HEAD:data/corpus/validation.json.xz | wc -c")
            assert shown["text"].split()[-1] == "0", shown["text"]
        procs = run(s, "ps -eo user= | sort -u")
        assert procs["text"].split() == [s.confinement.participant_user], procs["text"]


def _modes(root: Path) -> dict[str, int]:
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    return {name: os.lstat(root / name).st_mode for name in tracked.decode().split("\0") if name}


@pytest.mark.skipif(not (REPO / ".git").exists(), reason="not a git checkout")
def test_creating_sessions_of_every_environment_leaves_the_checkout_as_it_was(open_home: Path) -> None:
    status = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout
    modes = _modes(REPO)
    for env_id in environment_ids():
        scale = "test" if env_id in ("prefix_sum", "finetune_runtime") else "cpu"
        with Session.create(open_home, env_id, scale=scale, kind="agent", participant="checkout") as s:
            assert s.confinement.mountns, s.confinement.to_json()
    assert subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout == status
    assert _modes(REPO) == modes
