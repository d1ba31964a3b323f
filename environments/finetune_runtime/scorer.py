"""The finetune_runtime scorer. It runs only in scoring subprocesses, and it imports torch.

Every scoring (driven by session/scoring.py):
1. The harness draws a fresh data-order seed and a fresh training-data window (os.urandom).
2. `lay_out_run` (the participant's part, as the participant) writes config.json,
   data/train.txt and data/valid.txt and the base weights into the workspace, and deletes
   output/ and work/ (earlier outputs and intermediates).
3. The harness runs `bash finetune.sh` as the participant and times it from its start to the
   exit of the last process it started (its cgroup empty); then it stops everything left,
   and copies output/model.pt (a regular file, not a link) out of the workspace. No number
   the participant's processes write reaches the score.
4. `judge` (as the scorer): loads the copied weights (weights_only), checks the architecture
   and finiteness, computes the expected weights with the trusted implementation
   (`trusted.finetune`) for that seed and data (not timed), and compares: the run is valid when
   ||w - w_expected||_2 / ||w_expected - w_base||_2 <= tolerance (global L2 over all tensors).
   Weights copied from an earlier run (another seed, other data) or perturbed base weights
   are far outside the tolerance.

raw = ln(seconds of finetune.sh, as the harness measured them).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from environments.base import Judging, ScaleConfig, ScoreResult
from environments.finetune_runtime import trusted
from environments.finetune_runtime.build import base_state
from environments.finetune_runtime.settings import OUTPUT, SCALES, VALID_BYTES, run_config
from environments.tiny_gpt import check_state

TRAIN_SPLIT = "train_split.bin"


def _tail(text: str, n: int = 2500) -> str:
    return text if len(text) <= n else "..." + text[-n:]


def prepare_run(workspace: Path, split: bytes, scale: str, seed: int, data_seed: int) -> dict[str, Any]:
    """Write this run's config.json and data/, delete earlier outputs; return the run's config."""
    config = run_config(scale, seed)
    train_text = trusted.data_window(split, data_seed, SCALES[scale]["train_bytes"], VALID_BYTES)
    valid_text = trusted.clean_utf8(split[len(split) - VALID_BYTES :])
    for name in ("output", "work", "data"):
        clear(workspace / name)
    data = workspace / "data"
    data.mkdir()
    data.chmod(0o2775)
    for path, content in ((data / "train.txt", train_text), (data / "valid.txt", valid_text)):
        write_file(path, content)
    write_file(workspace / "config.json", (json.dumps(config, indent=2) + "\n").encode())
    write_base(workspace, scale)
    return {**config, "data_seed": data_seed}


def clear(path: Path) -> None:
    """Remove a file or folder of the workspace. A folder the scorer's account may not empty
    (isolated sessions: made by the participant's own runs) is first moved out of the way."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        try:
            shutil.rmtree(path)
        except OSError:
            stale = path.with_name(f".stale-{path.name}-{os.urandom(4).hex()}")
            path.rename(stale)
            shutil.rmtree(stale, ignore_errors=True)


def write_file(path: Path, content: bytes) -> None:
    """A fresh file, writable by the participant's group too (for local runs and edits)."""
    clear(path)
    path.write_bytes(content)
    path.chmod(0o664)


def write_base(workspace: Path, scale: str) -> None:
    path = workspace / "base_model.pt"
    clear(path)
    torch.save(base_state(scale), path)
    path.chmod(0o664)


def load_output(path: Path, config: dict[str, Any]) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise ValueError(f"{config['output']} is missing after the run")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{config['output']} cannot be loaded (weights_only): {type(exc).__name__}: {exc}") from None
    problem = check_state(state, trusted.model_config(config))
    if problem:
        raise ValueError(f"{config['output']}: {problem}")
    return {k: v.detach().float().cpu() for k, v in state.items()}


def failed(reason: str, output: str, details: dict[str, Any]) -> ScoreResult:
    """Invalid, with the end of the script's own output shown to the participant."""
    return ScoreResult(math.nan, {"error": reason, "output_tail": _tail(output, 2000)}, details)


def lay_out_run(workspace: Path, inputs: dict[str, Any], scale: str) -> None:
    """The participant's part: lay out the run for the harness's seeds (the public train split only)."""
    from environments.text_corpus import build_corpus

    split = build_corpus(include_validation=False).train
    prepare_run(workspace, split, scale, int(inputs["seed"]), int(inputs["data_seed"]))


def judge(judging: Judging, config: ScaleConfig) -> ScoreResult:
    """The run's weights (untrusted) against the trusted weights for the harness's seeds,
    timed by the harness (`judging.measured`)."""
    seed, data_seed = int(judging.inputs["seed"]), int(judging.inputs["data_seed"])
    measured = judging.measured
    report: dict[str, Any] = {
        "exit_code": measured.get("exit_code"),
        "output_tail": str(measured.get("output_tail", "")),
    }
    timeout = float(config.params["run_timeout_s"])
    if SCALES[config.name]["device"] == "cuda" and not torch.cuda.is_available():
        report["error"] = f"scale {config.name!r} needs a CUDA GPU, and none is visible"
    elif not measured:
        report["error"] = "finetune.sh was not run"
    elif measured.get("timed_out"):
        report["error"] = f"finetune.sh (and what it started) did not finish within {timeout:g} s"
    elif measured.get("exit_code") != 0:
        report["error"] = f"finetune.sh exited with code {measured.get('exit_code')}"
    seconds = float(measured.get("seconds", math.nan))
    weights = judging.submission / OUTPUT
    return _judged(judging.private, config, seed, data_seed, report, seconds, weights)


def _judged(
    private: Path, config: ScaleConfig, seed: int, data_seed: int, report: dict, seconds: float, weights: Path
) -> ScoreResult:
    scale, tolerance = config.name, float(config.params["tolerance"])
    device = SCALES[scale]["device"]
    run_cfg = {**run_config(scale, seed), "data_seed": data_seed}
    details: dict[str, Any] = {"seed": seed, "data_seed": data_seed, "tolerance": tolerance, "torch": torch.__version__}
    tail = str(report.get("output_tail", ""))
    details.update(seconds=round(seconds, 3), exit_code=report.get("exit_code"), output_tail=_tail(tail, 6000))
    if "error" in report:
        return failed(str(report["error"])[:2000], tail, details)
    try:
        trained = load_output(weights, run_cfg)
    except ValueError as exc:
        return failed(str(exc), tail, details)

    # The expected weights for this seed and data (not timed; only for a run that produced weights).
    if device == "cpu":
        torch.set_num_threads(1)  # small operations; more threads only contend on a shared machine
    trusted_started = time.perf_counter()
    split = (private / TRAIN_SPLIT).read_bytes()
    train_text = trusted.data_window(split, data_seed, SCALES[scale]["train_bytes"], VALID_BYTES)
    tokens = torch.frombuffer(bytearray(train_text), dtype=torch.uint8).long()
    base = {k: v.float() for k, v in base_state(scale).items()}
    expected = trusted.finetune(base, tokens, run_cfg, device=device)
    details["trusted_s"] = round(time.perf_counter() - trusted_started, 3)

    change = trusted.distance(expected, base)
    diff = trusted.distance(trained, expected)
    relative = diff["l2"] / change["l2"]
    details.update(relative_l2=relative, l2=diff["l2"], l1=diff["l1"], training_change_l2=change["l2"])
    message = {"seconds": round(seconds, 3), "relative_l2_difference": float(f"{relative:.3g}")}
    if not math.isfinite(relative) or relative > tolerance:
        return ScoreResult.invalid(
            f"the trained weights differ from the expected weights for this run's seed and data: relative L2"
            f" difference {relative:.3g} > tolerance {tolerance:g} (is config.json's seed, the data, and the"
            " training behaviour kept?)",
            **details,
        )
    if not seconds > 0:
        return ScoreResult.invalid(f"run time is not positive ({seconds} s)", **details)
    return ScoreResult(math.log(seconds), message, details)
