"""The finetune_runtime scorer. It runs only inside scorer subprocesses, and it imports torch.

Scored in two parts (see `Environment.participant_inputs`): the harness draws the seeds;
`run_and_time` does steps 1-3 as the participant (finetune.sh never runs as the scorer's
account) and hands over the weights; `judge` does step 4 as the scorer. `score` does all
of it in one process (direct use).

For every scoring:
1. Draw a fresh data-order seed and a fresh training-data window (os.urandom); write
   config.json, data/train.txt and data/valid.txt into the workspace; delete output/ and
   work/ (earlier outputs and intermediates).
2. Run `bash finetune.sh` in the workspace as a child process (its own process group,
   killed with it on timeout) and time it with a monotonic clock.
3. Load output/model.pt (weights_only), check the architecture and finiteness, and check it
   was written during this run; a failed run ends the scoring here.
4. Compute the expected weights with the trusted implementation (`trusted.finetune`) for that
   seed and data (not timed, nothing of it written to disk) and compare: the run is valid when
   ||w - w_expected||_2 / ||w_expected - w_base||_2 <= tolerance (global L2 over all tensors).
   Weights copied from an earlier run (another seed, other data) or perturbed base weights
   are far outside the tolerance.

raw = ln(seconds of finetune.sh).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch

from environments.base import ScaleConfig, ScoreResult
from environments.child_process import run_logged
from environments.finetune_runtime import trusted
from environments.finetune_runtime.build import base_state
from environments.finetune_runtime.settings import SCALES, VALID_BYTES, fresh_seeds, run_config
from environments.tiny_gpt import check_state

TRAIN_SPLIT = "train_split.bin"


def _tail(text: str, n: int = 2500) -> str:
    return text if len(text) <= n else "..." + text[-n:]


def run_script(workspace: Path, log: Path, timeout_s: float) -> tuple[int | None, float, str]:
    """(exit code or None on timeout, seconds, output) of `bash finetune.sh`."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONPATH", None)
    ran = run_logged(["bash", "finetune.sh"], workspace, env, log, timeout_s)
    log.unlink(missing_ok=True)
    return ran.returncode, ran.seconds, ran.output.decode("utf-8", errors="replace")


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


def timed_run(workspace: Path, split: bytes, config: ScaleConfig, seed: int, data_seed: int, log: Path) -> dict:
    """Lay out one run, time `bash finetune.sh`, check its output exists: a report, with "error" if it failed."""
    if SCALES[config.name]["device"] == "cuda" and not torch.cuda.is_available():
        return {"error": f"scale {config.name!r} needs a CUDA GPU, and none is visible"}
    if not (workspace / "finetune.sh").is_file():
        return {"error": "finetune.sh is missing from the workspace"}
    run_cfg = prepare_run(workspace, split, config.name, seed, data_seed)
    began = time.time()
    timeout = float(config.params["run_timeout_s"])
    code, seconds, text = run_script(workspace, log, timeout)
    report: dict[str, Any] = {"seconds": round(seconds, 3), "exit_code": code, "output_tail": _tail(text, 6000)}
    output = workspace / run_cfg["output"]
    if code is None:
        report["error"] = f"finetune.sh did not finish within {timeout:g} s"
    elif code != 0:
        report["error"] = f"finetune.sh exited with code {code}"
    elif not output.is_file():
        report["error"] = f"{run_cfg['output']} is missing after the run"
    elif output.stat().st_mtime < began - 1:
        report["error"] = f"{run_cfg['output']} was not written by this run"
    return report


def run_and_time(workspace: Path, inputs: dict[str, Any], config: ScaleConfig, outputs: Path) -> None:
    """The participant's part, as the participant: the timed run with the harness's seeds; its
    report (report.json) and its weights (model.pt) go to `outputs` for the judge."""
    from environments.text_corpus import build_corpus  # the public train split, as `prepare` stored it

    split = build_corpus(include_validation=False).train
    seed, data_seed = int(inputs["seed"]), int(inputs["data_seed"])
    report = timed_run(workspace, split, config, seed, data_seed, outputs.parent / "finetune_output.log")
    if "error" not in report:
        shutil.copyfile(workspace / run_config(config.name, seed)["output"], outputs / "model.pt")
    (outputs / "report.json").write_text(json.dumps(report))


def judge(private: Path, config: ScaleConfig, outputs: Path, inputs: dict[str, Any]) -> ScoreResult:
    """The scorer's part: the run's weights (untrusted) against the trusted weights for the harness's seeds."""
    seed, data_seed = int(inputs["seed"]), int(inputs["data_seed"])
    try:
        report = json.loads((outputs / "report.json").read_text())
        if not isinstance(report, dict):
            raise ValueError("report.json is not an object")
    except (OSError, ValueError) as exc:
        return ScoreResult.invalid(f"the timed run left no readable report: {exc}")
    seconds = report.get("seconds")
    seconds = float(seconds) if isinstance(seconds, int | float) and not isinstance(seconds, bool) else math.nan
    return _judged(private, config, seed, data_seed, report, seconds, outputs / "model.pt")


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


def score(workspace: Path, private: Path, config: ScaleConfig) -> ScoreResult:
    """Both parts in this one process (sessions scored before the split, and direct use)."""
    seed, data_seed = fresh_seeds()
    split = (private / TRAIN_SPLIT).read_bytes()
    log = private / "score-results" / "finetune_output.log"
    report = timed_run(workspace, split, config, seed, data_seed, log)
    seconds = float(report.get("seconds", math.nan))
    output = workspace / run_config(config.name, seed)["output"]
    return _judged(private, config, seed, data_seed, report, seconds, output)
