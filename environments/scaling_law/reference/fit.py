"""The reference answer: a scaling-law fit to experiments within the cap, as a participant could do.

    python -m environments.scaling_law.reference.fit --scale cpu

1. Train each n_embd of FIT_N_EMBD with the workspace's own train.py code for as many
   iterations as the experiment cap allows, evaluating on `dev` (never on the private
   validation text) at log-spaced iterations.
2. Fit L(N, D) = E + A / N^alpha + B / D^beta (N parameters, D training tokens) to those
   losses: a grid over (alpha, beta), least squares with E, A, B >= 0 for each.
3. Answer: the n_embd (multiple of n_head, within the allowed range) whose fitted loss at
   the full budget (D = budget / (6 N)) is lowest, max_iters = the budget's iterations,
   loss_prediction = the fitted loss there.

Writes reference/answer_<scale>.json with the experiments and the fit, for the record.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from environments.scaling_law.settings import SCALES, compute, n_params, train_settings

FIT_N_EMBD = {"cpu": [32, 48, 64, 96, 128], "gpu": [128, 192, 256, 384, 512]}
MIN_ITERS = 60  # earlier losses are dominated by the warm-up


def experiments(scale: str, log=print) -> list[dict]:
    import torch

    from environments.scaling_law import train
    from environments.text_corpus import build_corpus

    torch.set_num_threads(1)
    settings = train_settings(scale)
    train_bytes = build_corpus().train  # what the workspace's train.bin holds
    _, dev = train.split(train_bytes)
    cap = settings["cap_fraction"] * settings["budget"]
    out = []
    for n_embd in FIT_N_EMBD[scale]:
        iters = int(cap // compute(n_embd, 1, settings))
        eval_at = sorted({round(math.exp(x)) for x in _linspace(math.log(MIN_ITERS), math.log(iters), 8)})
        started = time.perf_counter()
        history = train.run(n_embd, iters, train_bytes, dev, eval_at, settings, log=lambda _: None)
        log(
            f"n_embd {n_embd}: {iters} iters, dev loss {history[-1]['loss']:.4f}, {time.perf_counter() - started:.0f} s"
        )
        out.append({"n_embd": n_embd, "n_params": n_params(n_embd, settings), "evals": history})
    return out


def _linspace(a: float, b: float, n: int) -> list[float]:
    return [a + (b - a) * i / (n - 1) for i in range(n)]


def fit(points: list[tuple[float, float, float]]) -> dict:
    """Least-squares E + A/N^alpha + B/D^beta over a grid of exponents; E, A, B >= 0."""
    import numpy as np

    n = np.array([p[0] for p in points])
    d = np.array([p[1] for p in points])
    y = np.array([p[2] for p in points])
    best = None
    for alpha in np.arange(0.05, 1.505, 0.01):
        for beta in np.arange(0.05, 1.505, 0.01):
            x = np.stack([np.ones_like(n), n**-alpha, d**-beta], axis=1)
            coef, *_ = np.linalg.lstsq(x, y, rcond=None)
            if (coef < 0).any():
                continue
            sse = float(((x @ coef - y) ** 2).sum())
            if best is None or sse < best["sse"]:
                best = {
                    "sse": sse,
                    "alpha": float(alpha),
                    "beta": float(beta),
                    "E": coef[0],
                    "A": coef[1],
                    "B": coef[2],
                }
    assert best is not None, "no fit with non-negative coefficients"
    return {k: float(v) for k, v in best.items()}


def predict(f: dict, n: float, d: float) -> float:
    return f["E"] + f["A"] * n ** -f["alpha"] + f["B"] * d ** -f["beta"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="cpu", choices=sorted(SCALES))
    args = parser.parse_args(argv)
    s = SCALES[args.scale]
    settings = train_settings(args.scale)
    tokens = settings["batch_size"] * settings["block_size"]
    runs = experiments(args.scale)
    points = [
        (r["n_params"], e["iter"] * tokens, e["loss"]) for r in runs for e in r["evals"] if e["iter"] >= MIN_ITERS
    ]
    f = fit(points)
    candidates = []
    for n_embd in range(s["sweep_n_embd"][0], s["sweep_n_embd"][-1] + 1, settings["n_head"]):
        iters = int(settings["budget"] // compute(n_embd, 1, settings))
        candidates.append((predict(f, n_params(n_embd, settings), iters * tokens), n_embd, iters))
    loss, n_embd, iters = min(candidates)
    answer = {"n_embd": n_embd, "max_iters": iters, "loss_prediction": round(loss, 4)}
    record = {
        **answer,
        "how": "environments/scaling_law/reference/fit.py: experiments within the cap, fit E + A/N^a + B/D^b",
        "fit": f,
        "experiments": runs,
    }
    path = Path(__file__).resolve().parent / f"answer_{args.scale}.json"
    path.write_text(json.dumps(record, indent=1))
    print(json.dumps({**answer, "fit": f}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
