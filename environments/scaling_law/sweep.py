"""Precompute the scaling-law task's ground truth: `python -m environments.scaling_law.sweep --scale cpu`.

For each n_embd of the scale's sweep, train once (with train.py's own code, one thread)
for 1.1x the iterations the budget allows, and evaluate the held-out validation text at
fixed fractions of the budget. The learning rate is constant after warm-up, so the loss
at a fraction f is the final loss of a run of f times the budget's iterations. Written to
data/scaling_law/sweep_<scale>.json after every run (a rerun resumes).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from environments.base import DATA_DIR
from environments.scaling_law.settings import SCALES, SWEEP_FRACTIONS, train_settings


def sweep_path(scale: str) -> Path:
    return DATA_DIR / "scaling_law" / f"sweep_{scale}.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="cpu", choices=sorted(SCALES))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n_embd", type=int, nargs="*", help="only these sizes (default: the scale's list)")
    parser.add_argument("--out", type=Path, help="write here instead (a part to --merge later)")
    parser.add_argument("--merge", type=Path, nargs="*", default=[], help="add the runs of these parts, then stop")
    args = parser.parse_args(argv)

    import torch

    from environments.scaling_law import train
    from environments.text_corpus import build_corpus

    torch.set_num_threads(args.threads)
    settings = train_settings(args.scale)
    corpus = build_corpus()
    path = args.out or sweep_path(args.scale)
    out = json.loads(path.read_text()) if path.exists() else {}
    if out.get("settings") != settings:
        out = {"scale": args.scale, "settings": settings, "fractions": list(SWEEP_FRACTIONS), "runs": {}}
    if args.merge:
        for part in map(json.loads, (p.read_text() for p in args.merge)):
            if part["settings"] != settings or part["fractions"] != out["fractions"]:
                raise SystemExit("a part was made with other settings")
            out["runs"].update(part["runs"])
        out["runs"] = {k: out["runs"][k] for k in sorted(out["runs"], key=int)}
        path.write_text(json.dumps(out, indent=1))
        return 0
    for n_embd in args.n_embd or SCALES[args.scale]["sweep_n_embd"]:
        if str(n_embd) in out["runs"]:
            continue
        per_iter = train.compute(n_embd, 1, settings)
        budget_iters = settings["budget"] / per_iter
        eval_at = sorted({max(1, round(f * budget_iters)) for f in SWEEP_FRACTIONS})
        started = time.perf_counter()
        history = train.run(n_embd, eval_at[-1], corpus.train, corpus.validation, eval_at, settings)
        points = [
            {"iter": h["iter"], "fraction": h["iter"] * per_iter / settings["budget"], "loss": h["loss"]}
            for h in history
        ]
        out["runs"][str(n_embd)] = {
            "n_params": train.n_params(n_embd, settings),
            "budget_iters": budget_iters,
            "seconds": round(time.perf_counter() - started, 1),
            "points": points,
        }
        out["torch"] = torch.__version__
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out, indent=1))
        at_budget = min(points, key=lambda p: abs(math.log(p["fraction"])))
        print(f"n_embd {n_embd}: loss {at_budget['loss']:.4f} at the budget, {out['runs'][str(n_embd)]['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
