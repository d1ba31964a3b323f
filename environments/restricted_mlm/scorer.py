"""The restricted_mlm scorer. It runs only inside the scorer subprocess, and it imports torch.

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


def score(workspace: Path, private: Path, config: ScaleConfig) -> ScoreResult:
    p = config.params
    seq_len, fraction, seed = int(p["seq_len"]), float(p["mask_fraction"]), int(p["seed"])
    floor, batch_size, device = float(p["floor"]), int(p["batch"]), str(p["device"])
    if device.startswith("cuda") and not torch.cuda.is_available():
        return ScoreResult.invalid(f"scale {config.name!r} needs a CUDA GPU, and none is visible")
    inputs, targets, masked = mlm_data.fixed_masked_set(
        (private / "validation.bin").read_bytes(), seq_len, fraction, seed
    )
    seen: set[str] = set()
    started = time.monotonic()
    try:
        model = load_model(workspace)
        if isinstance(model, torch.nn.Module):
            try:
                model = model.to(device).eval()
            except Exception as exc:
                raise Invalid(f"moving the model to {device} failed: {type(exc).__name__}: {exc}"[:2000]) from None
        loaded = time.monotonic()

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

        try:
            loss = mlm_data.evaluate(forward, inputs, targets, masked, batch_size)
        except mlm_data.BadOutput as exc:
            raise Invalid(str(exc)) from None
    except Invalid as exc:
        return ScoreResult.invalid(exc.reason, **exc.details)
    evaluated = time.monotonic()
    if not math.isfinite(loss):
        return ScoreResult.invalid(f"the loss is not finite ({loss})")
    if loss <= floor:
        return ScoreResult.invalid(f"the loss {loss:.4f} is at or below the floor {floor}, which should be impossible")
    return ScoreResult(
        math.log(loss - floor),
        {"loss": round(loss, 4), "floor": floor, "masked_tokens": int(masked.sum())},
        {
            "device": device,
            "torch": torch.__version__,
            "seq_len": seq_len,
            "windows": len(inputs),
            "load_s": round(loaded - started, 3),
            "forward_s": round(evaluated - loaded, 3),
            "operations": sorted(seen),
        },
    )
