"""A starting point for RL from the judge: samples answers and asks `evaluate` about them.

It does not yet improve the model: `update` is yours to write (REINFORCE, best-of-n then
finetuning, DPO, ...). Run: python train_rl.py [--rounds N]; it saves model.pt.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
from evaluate import evaluate
from qa import generate, load_policy, save

HERE = Path(__file__).resolve().parent


def update(model, prompts: list[str], answers: list[str], prefs: list[float]) -> None:
    """TODO: turn the judge's preferences into better weights."""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--samples", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    prompts = json.loads((HERE / "train_prompts.json").read_text())
    model = load_policy(HERE / "model.pt")
    for r in range(args.rounds):
        greedy = generate(model, prompts)
        for s in range(args.samples):
            sampled = generate(model, prompts, temperature=0.8, seed=100 * r + s)
            prefs = evaluate(prompts, sampled, greedy)  # how often a sample beats the greedy answer
            print(f"round {r} sample {s}: mean preference over greedy {statistics.fmean(prefs):.3f}")
            update(model, prompts, sampled, prefs)
    save(model, HERE / "model.pt", torch.float16)


if __name__ == "__main__":
    main()
