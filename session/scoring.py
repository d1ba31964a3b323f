"""Run an environment's scorer in its own process, with a timeout and a memory cap.

Whatever happens to the scorer (crash, hang, memory kill, garbage), the caller gets a
`ScoreResult`: an invalid one carries the reason in `message` and the evidence in
`details`. The session goes on.

An environment that scores in two parts (`Environment.participant_inputs`) first has the
participant's code run as the participant, on public inputs only; its outputs are copied out
of the participant's reach and judged by the scorer. So the participant's code never shares
a process (or an account) with the private data or the verdict.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from environments.base import Environment, ScoreResult
from session.isolation import Confinement
from session.participant import Finished, run_participant

# What the participant's part of scoring may leave for the scorer: more is refused, not truncated.
MAX_OUTPUT_BYTES = 64 * 1024 * 1024
_PART = "the participant's part of scoring (your code)"


def run_scorer(
    env: Environment,
    scale: str,
    workspace: Path,
    private: Path,
    *,
    timeout_s: float | None = None,
    memory_limit_mb: float | None = None,
    confinement: Confinement | None = None,
) -> ScoreResult:
    config = env.scale(scale)
    timeout_s = config.score_timeout_s if timeout_s is None else timeout_s
    memory_limit_mb = config.memory_limit_mb if memory_limit_mb is None else memory_limit_mb
    results = private / "score-results"
    results.mkdir(parents=True, exist_ok=True)
    inputs = env.participant_inputs(private, scale)
    if inputs is None:
        return _judge(env, scale, workspace, private, results, timeout_s, memory_limit_mb, confinement, None)
    started = time.monotonic()
    name = uuid.uuid4().hex
    outputs, given = results / f"{name}-outputs", results / f"{name}-inputs.json"
    try:
        failed = _participant_part(env, scale, workspace, inputs, outputs, timeout_s, memory_limit_mb, confinement)
        if failed is not None:
            return failed
        given.write_text(json.dumps(inputs))  # the judge's copy, which the participant never held
        # The judge gets what is left of the time, and at least a third of it.
        left = max(timeout_s - (time.monotonic() - started), timeout_s / 3)
        return _judge(env, scale, workspace, private, results, left, memory_limit_mb, confinement, (outputs, given))
    finally:
        shutil.rmtree(outputs, ignore_errors=True)
        given.unlink(missing_ok=True)


def _evidence(finished: Finished) -> dict[str, Any]:
    return {
        "returncode": finished.returncode,
        "duration_s": round(finished.duration_s, 3),
        "peak_rss_mb": finished.peak_rss_mb,
        "output_tail": finished.output[-4000:],
    }


def _killed(what: str, finished: Finished, timeout_s: float, memory_limit_mb: float | None) -> ScoreResult | None:
    """The invalid result for a process that ran out of time or memory, else None."""
    evidence = _evidence(finished)
    if finished.timed_out:
        return ScoreResult.invalid(f"{what} timed out after {timeout_s:g} s", timeout=True, **evidence)
    if finished.out_of_memory:
        return ScoreResult.invalid(
            f"{what} used more than {memory_limit_mb:g} MB of memory and was killed", out_of_memory=True, **evidence
        )
    if finished.killed_by_signal == signal.SIGKILL:
        return ScoreResult.invalid(
            f"{what} was killed (SIGKILL; the kernel may have run out of memory)", out_of_memory=True, **evidence
        )
    return None


def _participant_part(
    env: Environment,
    scale: str,
    workspace: Path,
    inputs: dict[str, Any],
    collected: Path,
    timeout_s: float,
    memory_limit_mb: float | None,
    confinement: Confinement | None,
) -> ScoreResult | None:
    """Run `env.run_participant_part` as the participant and collect its outputs; an invalid result if it failed."""
    exchange = Path(tempfile.mkdtemp(prefix=f"rebench-{env.id}-part-"))
    try:
        (exchange / "inputs.json").write_text(json.dumps(inputs))
        (exchange / "outputs").mkdir()
        if confinement is not None:
            confinement.hand_over(exchange, "participant")
        argv = [sys.executable, "-I", "-B", "-m", "environments.participant_main", env.id, scale]
        argv += [str(workspace), str(exchange)]
        finished = run_participant(
            argv, workspace, timeout_s=timeout_s, memory_limit_mb=memory_limit_mb, confinement=confinement
        )
        if killed := _killed(_PART, finished, timeout_s, memory_limit_mb):
            return killed
        if finished.returncode != 0:
            return ScoreResult.invalid(
                f"{_PART} failed (exit code {finished.returncode}): {finished.output.strip()[-300:]}",
                crashed=True,
                **_evidence(finished),
            )
        if (why := _copy_outputs(exchange / "outputs", collected)) is not None:
            return ScoreResult.invalid(why, **_evidence(finished))
        if confinement is not None:
            confinement.hand_over(collected, "scorer")
        return None
    finally:
        shutil.rmtree(exchange, ignore_errors=True)


def _copy_outputs(source: Path, dest: Path) -> str | None:
    """Copy the regular files under `source` (never a link, which could point at private data); why not, if not."""
    dest.mkdir()
    total = 0
    for folder, dirs, files in os.walk(source):
        rel = Path(folder).relative_to(source)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
        for d in dirs:
            (dest / rel / d).mkdir()
        for name in files:
            path = Path(folder) / name
            if path.is_symlink() or not path.is_file():
                continue
            total += path.stat().st_size
            if total > MAX_OUTPUT_BYTES:
                return f"{_PART} wrote more than {MAX_OUTPUT_BYTES // 2**20} MB of outputs"
            shutil.copyfile(path, dest / rel / name, follow_symlinks=False)
    return None


def _judge(
    env: Environment,
    scale: str,
    workspace: Path,
    private: Path,
    results: Path,
    timeout_s: float,
    memory_limit_mb: float | None,
    confinement: Confinement | None,
    part: tuple[Path, Path] | None,
) -> ScoreResult:
    """Run the scorer (for a split environment, its judge of the participant's part: (outputs, inputs file))."""
    result_file = results / f"{uuid.uuid4().hex}.json"
    # Our own bytecode cache, with the workspace's part cleared before each run: a stale .pyc
    # of an edit made within the same second (same mtime and size) would otherwise score the
    # previous version; the libraries' part (torch) is kept, or every scoring recompiles it.
    pycache = private / "pycache"
    shutil.rmtree(pycache / Path(workspace).resolve().relative_to("/"), ignore_errors=True)
    argv = [sys.executable, "-I", "-X", f"pycache_prefix={pycache}", "-m", "environments.scorer_main", env.id, scale]
    argv += [str(workspace), str(private), str(result_file)]
    if part is not None:
        argv += ["--outputs", str(part[0]), "--inputs", str(part[1])]
    finished = run_participant(
        argv, workspace, timeout_s=timeout_s, memory_limit_mb=memory_limit_mb, confinement=confinement, role="scorer"
    )
    evidence = _evidence(finished)
    try:
        if killed := _killed("scorer", finished, timeout_s, memory_limit_mb):
            return killed
        if not result_file.exists():
            how = (
                f"signal {signal.Signals(finished.killed_by_signal).name}"
                if finished.killed_by_signal
                else f"exit code {finished.returncode}"
            )
            return ScoreResult.invalid(f"scorer crashed ({how}) before giving a score", crashed=True, **evidence)
        try:
            result = ScoreResult.from_json(json.loads(result_file.read_text()))
        except (ValueError, TypeError, AttributeError) as exc:
            return ScoreResult.invalid(f"scorer wrote an unreadable result: {exc}", **evidence)
        result.details = {**result.details, "scorer": evidence}
        return result
    finally:
        result_file.unlink(missing_ok=True)
        result_file.with_suffix(".tmp").unlink(missing_ok=True)
