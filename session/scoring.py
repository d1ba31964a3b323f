"""Run an environment's scorer in its own process, with a timeout and a memory cap.

Whatever happens to the scorer (crash, hang, memory kill, garbage), the caller gets a
`ScoreResult`: an invalid one carries the reason in `message` and the evidence in
`details`. The session goes on.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import uuid
from pathlib import Path

from environments.base import Environment, ScoreResult
from session.isolation import Confinement
from session.participant import run_participant


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
    result_file = results / f"{uuid.uuid4().hex}.json"
    # Our own bytecode cache, with the workspace's part cleared before each run: a stale .pyc
    # of an edit made within the same second (same mtime and size) would otherwise score the
    # previous version; the libraries' part (torch) is kept, or every scoring recompiles it.
    pycache = private / "pycache"
    shutil.rmtree(pycache / Path(workspace).resolve().relative_to("/"), ignore_errors=True)
    argv = [
        sys.executable,
        "-I",
        "-X",
        f"pycache_prefix={pycache}",
        "-m",
        "environments.scorer_main",
        env.id,
        scale,
        str(workspace),
        str(private),
        str(result_file),
    ]
    finished = run_participant(
        argv, workspace, timeout_s=timeout_s, memory_limit_mb=memory_limit_mb, confinement=confinement, role="scorer"
    )
    evidence = {
        "returncode": finished.returncode,
        "duration_s": round(finished.duration_s, 3),
        "peak_rss_mb": finished.peak_rss_mb,
        "output_tail": finished.output[-4000:],
    }
    try:
        if finished.timed_out:
            return ScoreResult.invalid(f"scorer timed out after {timeout_s:g} s", timeout=True, **evidence)
        if finished.out_of_memory:
            return ScoreResult.invalid(
                f"scorer used more than {memory_limit_mb:g} MB of memory and was killed",
                out_of_memory=True,
                **evidence,
            )
        if finished.killed_by_signal == signal.SIGKILL:
            return ScoreResult.invalid(
                "scorer was killed (SIGKILL; the kernel may have run out of memory)", out_of_memory=True, **evidence
            )
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
