"""The restricted_mlm scorer. It runs only inside scorer subprocesses, and it imports torch.

Scored in two parts (see `Environment.participant_inputs`): `forward_all` runs as the
participant on the masked inputs alone (steps 2-3) and leaves the logits at the masked
positions; `judge`, as the scorer, checks them and computes the loss against the held-out
targets (step 4), which the participant's code never shares a process with. `score` does
all of it in one process (sessions prepared before the split, and direct use).

1. Read the held-out validation bytes from the session's private folder and build the
   fixed, seeded masked set (windows of seq_len tokens, 15% of positions set to MASK).
2. Import the workspace's model.py (the workspace is on sys.path only meanwhile) and call
   `get_trained_model()`: loading may use any operation.
3. Run the forward pass batch by batch under `torch.no_grad()` and the operation whitelist
   (`environments.op_whitelist`). A disallowed operation, even one the model catches and
   hides, makes the scoring invalid with the operation's name.
4. Outside the whitelist, check the logits (a plain tensor of shape (batch, seq, 258),
   all finite) and compute the mean cross-entropy at the masked positions.
   raw = ln(loss - floor); lower is better.

Not covered, left to the review of the recording (no in-process check can be complete):
code that switches the whitelist's modes off from inside the forward pass, reads this
process's memory or the private folder, or rewrites torch with ctypes or torch.library.
"""

from __future__ import annotations

import json
import math
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from environments.base import ScaleConfig, ScoreResult
from environments.op_whitelist import ALLOWED_ATEN, ALLOWED_FUNCTIONS, DisallowedOperation, OpWhitelist
from environments.participant_code import Invalid, import_from_workspace, on_sys_path
from environments.restricted_mlm import mlm_data


def disallowed_seen(seen: set[str]) -> list[str]:
    """Operations the guard saw that are not allowed (also those the model caught and hid)."""
    bad = []
    for name in sorted(seen):
        if name.startswith("aten."):
            if name.removeprefix("aten.") not in ALLOWED_ATEN:
                bad.append(name)
        elif name not in ALLOWED_FUNCTIONS:
            bad.append(name)
    return bad


def load_model(workspace: Path) -> Any:
    """Import workspace/model.py and call get_trained_model(), with the workspace on sys.path
    meanwhile (see environments.participant_code)."""
    with on_sys_path(workspace):
        module = import_from_workspace(workspace, "model.py")
        get = getattr(module, "get_trained_model", None)
        if not callable(get):
            raise Invalid("model.py does not define a function get_trained_model()")
        try:
            model = get()
        except BaseException as exc:
            raise Invalid(
                f"get_trained_model() raised {type(exc).__name__}: {exc}"[:2000],
                traceback=traceback.format_exc()[-8000:],
            ) from None
    if not callable(model):
        raise Invalid(f"get_trained_model() returned {type(model).__name__}, not a callable model")
    return model


def _forward_guarded(model: Any, device: str, seen: set[str]) -> Any:
    """`forward(x)` for `mlm_data.evaluate`: the model on one batch under the operation whitelist."""

    def forward(x: torch.Tensor) -> Any:
        guard = OpWhitelist()
        x = x.to(device)
        try:
            with torch.no_grad(), guard:
                out = model(x)
        except DisallowedOperation as exc:
            raise Invalid(str(exc), operation=exc.name, seen=sorted(guard.seen)) from None
        except Exception as exc:
            if bad := disallowed_seen(guard.seen):
                raise Invalid(f"the forward pass used {bad[0]!r}, which the rules do not allow", seen=bad) from None
            raise Invalid(
                f"the forward pass raised {type(exc).__name__}: {exc}"[:2000],
                traceback=traceback.format_exc()[-8000:],
            ) from None
        seen.update(guard.seen)
        if bad := disallowed_seen(guard.seen):
            raise Invalid(f"the forward pass used {bad[0]!r}, which the rules do not allow", seen=bad)
        return out

    return forward


def _loaded_model(workspace: Path, device: str) -> Any:
    model = load_model(workspace)
    if isinstance(model, torch.nn.Module):
        try:
            model = model.to(device).eval()
        except Exception as exc:
            raise Invalid(f"moving the model to {device} failed: {type(exc).__name__}: {exc}"[:2000]) from None
    return model


def _result(loss: float, floor: float, masked_tokens: int, details: dict[str, Any]) -> ScoreResult:
    if not math.isfinite(loss):
        return ScoreResult.invalid(f"the loss is not finite ({loss})")
    if loss <= floor:
        return ScoreResult.invalid(f"the loss {loss:.4f} is at or below the floor {floor}, which should be impossible")
    return ScoreResult(
        math.log(loss - floor),
        {"loss": round(loss, 4), "floor": floor, "masked_tokens": masked_tokens},
        {"torch": torch.__version__, **details},
    )


def _settings(config: ScaleConfig) -> tuple[int, float, int, float, int, str]:
    p = config.params
    return (
        int(p["seq_len"]), float(p["mask_fraction"]), int(p["seed"]), float(p["floor"]), int(p["batch"]),
        str(p["device"]),
    )  # fmt: skip


def masked_inputs(private: Path, config: ScaleConfig) -> list[list[int]]:
    """The held-out windows with their masks applied: all the participant's part may see."""
    seq_len, fraction, seed, *_ = _settings(config)
    inputs, _targets, _masked = mlm_data.fixed_masked_set(
        (private / "validation.bin").read_bytes(), seq_len, fraction, seed
    )
    return inputs.tolist()


def forward_all(workspace: Path, inputs: list[list[int]], config: ScaleConfig, outputs: Path) -> None:
    """The participant's part: the model's logits at the masked positions (logits.pt), and report.json."""
    _seq_len, _fraction, _seed, _floor, batch_size, device = _settings(config)
    x = torch.tensor(inputs, dtype=torch.long)
    masked = x == mlm_data.MASK  # a text byte is never MASK, so these are exactly the masked positions
    seen: set[str] = set()
    picked: list[torch.Tensor] = []
    report: dict[str, Any] = {"device": device}
    started = time.monotonic()
    try:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise Invalid(f"scale {config.name!r} needs a CUDA GPU, and none is visible")
        model = _loaded_model(workspace, device)
        loaded = time.monotonic()
        forward = _forward_guarded(model, device, seen)
        for start in range(0, len(x), batch_size):
            chunk = x[start : start + batch_size]
            logits = mlm_data.check_logits(forward(chunk), chunk.shape[0], chunk.shape[1])
            picked.append(logits[masked[start : start + batch_size]])
        report |= {"load_s": round(loaded - started, 3), "forward_s": round(time.monotonic() - loaded, 3)}
        torch.save({"logits": torch.cat(picked)}, outputs / "logits.pt")
    except mlm_data.BadOutput as exc:
        report["error"] = str(exc)
    except Invalid as exc:
        report |= {"error": exc.reason, "error_details": exc.details}
    report["operations"] = sorted(seen)
    (outputs / "report.json").write_text(json.dumps(report, default=str))


def judge(private: Path, config: ScaleConfig, outputs: Path) -> ScoreResult:
    """The scorer's part: the loss of the participant's logits (untrusted) against the held-out targets."""
    seq_len, fraction, seed, floor, _batch, _device = _settings(config)
    try:
        report = json.loads((outputs / "report.json").read_text())
        if not isinstance(report, dict):
            raise ValueError("report.json is not an object")
    except (OSError, ValueError) as exc:
        return ScoreResult.invalid(f"the forward pass left no readable report: {exc}")
    if "error" in report:
        details = report.get("error_details") if isinstance(report.get("error_details"), dict) else {}
        return ScoreResult.invalid(str(report["error"])[:2000], **details)
    _inputs, targets, masked = mlm_data.fixed_masked_set(
        (private / "validation.bin").read_bytes(), seq_len, fraction, seed
    )
    expected = (int(masked.sum()), mlm_data.VOCAB_SIZE)
    try:
        logits = torch.load(outputs / "logits.pt", map_location="cpu", weights_only=True)["logits"]
    except Exception as exc:  # a file the participant's part wrote: anything can be wrong with it
        return ScoreResult.invalid(f"the forward pass left unreadable logits: {type(exc).__name__}: {exc}"[:2000])
    if type(logits) is not torch.Tensor or not logits.is_floating_point() or tuple(logits.shape) != expected:
        return ScoreResult.invalid(f"the forward pass left logits that are not float {expected}")
    logits = logits.float()
    if not bool(torch.isfinite(logits).all()):
        return ScoreResult.invalid("the model returned logits that are not all finite (inf or nan)")
    loss = float(torch.nn.functional.cross_entropy(logits.double(), targets[masked], reduction="mean"))
    kept = {k: report.get(k) for k in ("device", "load_s", "forward_s", "operations")}
    return _result(loss, floor, expected[0], {"seq_len": seq_len, "windows": len(targets), **kept})


def score(workspace: Path, private: Path, config: ScaleConfig) -> ScoreResult:
    """Both parts in this one process."""
    seq_len, fraction, seed, floor, batch_size, device = _settings(config)
    if device.startswith("cuda") and not torch.cuda.is_available():
        return ScoreResult.invalid(f"scale {config.name!r} needs a CUDA GPU, and none is visible")
    inputs, targets, masked = mlm_data.fixed_masked_set(
        (private / "validation.bin").read_bytes(), seq_len, fraction, seed
    )
    seen: set[str] = set()
    started = time.monotonic()
    try:
        model = _loaded_model(workspace, device)
        loaded = time.monotonic()
        try:
            loss = mlm_data.evaluate(_forward_guarded(model, device, seen), inputs, targets, masked, batch_size)
        except mlm_data.BadOutput as exc:
            raise Invalid(str(exc)) from None
    except Invalid as exc:
        return ScoreResult.invalid(exc.reason, **exc.details)
    evaluated = time.monotonic()
    details = {
        "device": device,
        "seq_len": seq_len,
        "windows": len(inputs),
        "load_s": round(loaded - started, 3),
        "forward_s": round(evaluated - loaded, 3),
        "operations": sorted(seen),
    }
    return _result(loss, floor, int(masked.sum()), details)
