"""Build a scale of `rl_qa`: `python -m environments.rl_qa.reference.build [--scale cpu|test|gpu]
[--device cpu|cuda] [--out DIR]` (cpu: one thread, ~15 min on 2 cores; test: ~1 min; gpu: on the
GPU machine, its recipe not yet run anywhere).

This lives under the environment's protected `reference/` folder: step 3 is the reference
solution's exact recipe (rounds, samples, steps, seeds), which a participant could otherwise
rerun to get the reference model.

1. Pretrain the policy (the scale's `policy` architecture) on the shared corpus's training text.
2. Warm up on the Q/A format: supervised on the warm-up prompts (never the participant's
   RL prompts nor the held-out ones), the answer being the source's first sentence.
   The result is the starting model, `start.pt`.
3. The reference: rounds of best-of-n with the judge on the RL (training) prompts only,
   exactly as the workspace's `evaluate` offers it (candidates: the greedy answer and
   samples; the one most preferred over the greedy answer wins), then supervised
   finetuning on the winners. Saved as `reference/model.pt`.
4. The start's and reference's greedy answers to the held-out prompts, which the scorer
   compares the participant's answers with (`reference/baseline_answers.json`).
Everything is seeded; `build_info.json` records the settings, timings and win rates. The files
go where the environment reads them (env.scale_files: data/rl_qa/ for cpu, data/rl_qa/<scale>/
otherwise), or under --out.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from environments.registry import load_environment
from environments.rl_qa import qa_data
from environments.rl_qa.env import config_params, scale_files
from environments.rl_qa.judge import TIE_BAND, Judge
from environments.rl_qa.policy import GPT, GPTConfig, finetune, generate, load_policy, save
from environments.text_corpus import build_corpus
from environments.tiny_gpt import TrainConfig, train


@dataclass(frozen=True)
class Recipe:
    pretrain: TrainConfig
    warmup_steps: int
    warmup_lr: float
    rounds: int
    samples: int
    rl_steps: int
    rl_lr: float
    batch_size: int  # of the warm-up and the RL finetuning


RECIPES = {
    # What the shipped cpu models were built with (2026-11-26, 1,128 s).
    "cpu": Recipe(
        TrainConfig(max_iters=600, batch_size=16, lr=2e-3, warmup_iters=50, seed=0), 150, 1e-3, 3, 3, 100, 5e-4, 16
    ),
    "test": Recipe(
        TrainConfig(max_iters=400, batch_size=16, lr=3e-3, warmup_iters=30, seed=0), 200, 1e-3, 2, 3, 80, 3e-4, 16
    ),
    # Not run yet: the first GPU machine decides (the corpus is ~0.65 MB, so more pretraining overfits).
    "gpu": Recipe(
        TrainConfig(max_iters=2000, batch_size=32, lr=1e-3, warmup_iters=200, seed=0), 300, 5e-4, 3, 7, 200, 2e-4, 32
    ),
}


def win_rate(judge: Judge, prompts: list[str], a: list[str], b: list[str]) -> float:
    """Decided wins count 1, ties 0.5 (the expectation of the scorer's coin)."""
    total = 0.0
    for p, x, y in zip(prompts, a, b, strict=True):
        pref = judge.prefer(p, x, y)
        total += 1.0 if pref > 0.5 + TIE_BAND else 0.0 if pref < 0.5 - TIE_BAND else 0.5
    return total / len(prompts)


def build(scale: str, device: str, out: dict[str, Path], recipe: Recipe | None = None) -> dict:
    """Build `scale`'s models into the files `out` names (scale_files' keys), by its recipe unless
    another is given (the tests' few steps); its build_info."""
    recipe = recipe or RECIPES[scale]
    config = GPTConfig(**config_params(load_environment("rl_qa").scale(scale)))
    torch.manual_seed(0)
    began = time.perf_counter()
    info: dict = {"config": config.to_dict(), "pretrain": recipe.pretrain.__dict__, "device": device, "seconds": {}}
    corpus = build_corpus()
    examples = qa_data.examples()
    warm = [e for e in examples if e.split == "warmup"]
    rl = [e for e in examples if e.split == "rl"]
    held = [e for e in examples if e.split == "heldout"]
    for path in out.values():
        path.parent.mkdir(parents=True, exist_ok=True)

    def policy(path: Path) -> GPT:
        return load_policy(path, config).to(device)

    model = GPT(config).to(device)
    pretrain = recipe.pretrain
    hist = train(model, corpus.train, pretrain, eval_every=pretrain.max_iters, eval_data=corpus.validation[:50_000])
    info["pretrain_validation_loss"] = hist[-1]["loss"]
    info["seconds"]["pretrain"] = round(time.perf_counter() - began, 1)
    t = time.perf_counter()
    warm_prompts, warm_answers = [e.prompt for e in warm], [qa_data.warmup_answer(e) for e in warm]
    loss = finetune(model, warm_prompts, warm_answers, recipe.warmup_steps, recipe.warmup_lr, recipe.batch_size)
    info["warmup_loss"] = loss
    save(model, out["start"], torch.float16)
    info["seconds"]["warmup"] = round(time.perf_counter() - t, 1)
    print("start saved", info, flush=True)

    t = time.perf_counter()
    judge = Judge({e.prompt: e.source for e in rl}, corpus.train.decode("utf-8"))  # what `evaluate` knows
    prompts = [e.prompt for e in rl]
    start = policy(out["start"])
    model = policy(out["start"])
    start_greedy = generate(start, prompts)
    info["rounds"] = []
    for r in range(recipe.rounds):
        greedy = generate(model, prompts)
        candidates = [greedy] + [generate(model, prompts, 0.8, seed=1000 * r + s) for s in range(recipe.samples)]
        targets = []
        for i, p in enumerate(prompts):
            prefs = [judge.prefer(p, c[i], greedy[i]) for c in candidates]
            targets.append(candidates[max(range(len(candidates)), key=prefs.__getitem__)][i])
        loss = finetune(model, prompts, targets, recipe.rl_steps, recipe.rl_lr, recipe.batch_size, seed=r)
        after = generate(model, prompts)
        row = {
            "round": r,
            "loss": loss,
            "win_vs_start_train": win_rate(judge, prompts, after, start_greedy),
            "seconds": round(time.perf_counter() - t, 1),
        }
        info["rounds"].append(row)
        print(row, flush=True)
    save(model, out["reference"], torch.float16)
    info["seconds"]["reference"] = round(time.perf_counter() - t, 1)

    reference = policy(out["reference"])
    start = policy(out["start"])
    hp = [e.prompt for e in held]
    answers = {"start": dict(zip(hp, generate(start, hp), strict=True))}
    answers["reference"] = dict(zip(hp, generate(reference, hp), strict=True))
    out["answers"].write_text(json.dumps(answers, indent=1) + "\n")
    full = Judge({e.prompt: e.source for e in held}, corpus.train.decode("utf-8"))
    a, b = list(answers["reference"].values()), list(answers["start"].values())
    info["heldout_win_reference_vs_start"] = win_rate(full, hp, a, b)
    info["seconds"]["total"] = round(time.perf_counter() - began, 1)
    out["info"].write_text(json.dumps(info, indent=2, default=str) + "\n")
    return info


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build a scale of rl_qa: its start and reference models.")
    parser.add_argument("--scale", choices=sorted(RECIPES), default="cpu")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, help="a folder to build into (default: where the environment reads them)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    files = scale_files(args.scale)
    if args.out is not None:
        base = files["start"].parent
        files = {name: args.out / path.relative_to(base) for name, path in files.items()}
    print(json.dumps(build(args.scale, args.device, files), indent=2, default=str))


if __name__ == "__main__":
    main()
