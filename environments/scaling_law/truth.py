"""The scaling-law task's ground truth: the loss of a configuration, read off the sweep (no torch).

A sweep (environments.scaling_law.sweep) trains each n_embd of a scale once, for 1.1x the
budget, and records the held-out loss at fixed fractions f of the budget; with a constant
learning rate after warm-up, the loss at f is that of a run of f times the budget's
iterations. L(n_embd, f) is linear in log f between a run's points, and linear in
log n_embd between the two neighbouring runs (so in both directions compute is what is
compared, since f is the fraction of the budget). L_opt is the best loss at f = 1.
"""

from __future__ import annotations

import bisect
import math


class OutOfRange(ValueError):
    pass


def _run_loss(points: list[dict], fraction: float) -> float:
    fs = [p["fraction"] for p in points]
    if fraction <= fs[0]:
        return points[0]["loss"]
    if fraction >= fs[-1]:
        return points[-1]["loss"]
    i = bisect.bisect_right(fs, fraction)
    lo, hi = points[i - 1], points[i]
    w = (math.log(fraction) - math.log(lo["fraction"])) / (math.log(hi["fraction"]) - math.log(lo["fraction"]))
    return (1 - w) * lo["loss"] + w * hi["loss"]


def n_embd_range(sweep: dict) -> tuple[int, int]:
    ds = sorted(int(k) for k in sweep["runs"])
    return ds[0], ds[-1]


def true_loss(sweep: dict, n_embd: float, fraction: float) -> float:
    ds = sorted(int(k) for k in sweep["runs"])
    if not ds[0] <= n_embd <= ds[-1]:
        raise OutOfRange(f"n_embd {n_embd} is outside [{ds[0]}, {ds[-1]}]")
    if n_embd in ds:
        return _run_loss(sweep["runs"][str(int(n_embd))]["points"], fraction)
    i = bisect.bisect_right(ds, n_embd)
    lo, hi = ds[i - 1], ds[i]
    w = (math.log(n_embd) - math.log(lo)) / (math.log(hi) - math.log(lo))
    return (1 - w) * _run_loss(sweep["runs"][str(lo)]["points"], fraction) + w * _run_loss(
        sweep["runs"][str(hi)]["points"], fraction
    )


def optimum(sweep: dict) -> tuple[int, float]:
    """(n_embd, loss) of the best run at exactly the budget."""
    best = min((true_loss(sweep, int(d), 1.0), int(d)) for d in sweep["runs"])
    return best[1], best[0]


def score(sweep: dict, n_embd: int, fraction: float, prediction: float) -> dict:
    """1 - [(L(answer) - L_opt) + |prediction - L(answer)|], the regret floored at 0 (an
    answer using up to 1.1x the budget may beat L_opt slightly; that earns nothing extra)."""
    loss = true_loss(sweep, n_embd, fraction)
    best_n_embd, best = optimum(sweep)
    regret = max(0.0, loss - best)
    error = abs(prediction - loss)
    return {
        "score": 1.0 - (regret + error),
        "loss": loss,
        "optimal_loss": best,
        "optimal_n_embd": best_n_embd,
        "regret": regret,
        "prediction_error": error,
    }
