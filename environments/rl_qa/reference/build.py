"""Build `rl_qa`'s shipped models: `python -m environments.rl_qa.reference.build` (one thread, ~15 min on 2 cores).

This lives under the environment's protected `reference/` folder: step 3 is the reference
solution's exact recipe (rounds, samples, steps, seeds), which a participant could otherwise
rerun to get the reference model.

1. Pretrain the policy (policy.CONFIG) on the shared corpus's training text.
2. Warm up on the Q/A format: supervised on the warm-up prompts (never the participant's
   RL prompts nor the held-out ones), the answer being the source's first sentence.
   The result is the starting model, data/rl_qa/start.pt.
3. The reference: rounds of best-of-n with the judge on the RL (training) prompts only,
   exactly as the workspace's `evaluate` offers it (candidates: the greedy answer and
   samples; the one most preferred over the greedy answer wins), then supervised
   finetuning on the winners. Saved as data/rl_qa/reference/model.pt.
4. The start's and reference's greedy answers to the held-out prompts, which the scorer
   compares the participant's answers with (data/rl_qa/reference/baseline_answers.json).
Everything is seeded; build_info.json records the settings, timings and win rates.
"""

from __future__ import annotations

import json
import time

import torch

from environments.base import DATA_DIR
from environments.rl_qa import qa_data
from environments.rl_qa.judge import TIE_BAND, Judge
from environments.rl_qa.policy import CONFIG, GPT, finetune, generate, load_policy, save
from environments.text_corpus import build_corpus
from environments.tiny_gpt import TrainConfig, train

OUT = DATA_DIR / "rl_qa"
PRETRAIN = TrainConfig(max_iters=600, batch_size=16, lr=2e-3, warmup_iters=50, seed=0)
WARMUP_STEPS = 150
ROUNDS = 3
SAMPLES = 3
RL_STEPS = 100
RL_LR = 5e-4


def win_rate(judge: Judge, prompts: list[str], a: list[str], b: list[str]) -> float:
    """Decided wins count 1, ties 0.5 (the expectation of the scorer's coin)."""
    total = 0.0
    for p, x, y in zip(prompts, a, b, strict=True):
        pref = judge.prefer(p, x, y)
        total += 1.0 if pref > 0.5 + TIE_BAND else 0.0 if pref < 0.5 - TIE_BAND else 0.5
    return total / len(prompts)


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    began = time.perf_counter()
    info: dict = {"config": CONFIG.to_dict(), "pretrain": PRETRAIN.__dict__, "seconds": {}}
    corpus = build_corpus()
    examples = qa_data.examples()
    warm = [e for e in examples if e.split == "warmup"]
    rl = [e for e in examples if e.split == "rl"]
    held = [e for e in examples if e.split == "heldout"]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "reference").mkdir(exist_ok=True)

    model = GPT(CONFIG)
    hist = train(model, corpus.train, PRETRAIN, eval_every=PRETRAIN.max_iters, eval_data=corpus.validation[:50_000])
    info["pretrain_validation_loss"] = hist[-1]["loss"]
    info["seconds"]["pretrain"] = round(time.perf_counter() - began, 1)
    t = time.perf_counter()
    loss = finetune(model, [e.prompt for e in warm], [qa_data.warmup_answer(e) for e in warm], WARMUP_STEPS, 1e-3, 16)
    info["warmup_loss"] = loss
    save(model, OUT / "start.pt", torch.float16)
    info["seconds"]["warmup"] = round(time.perf_counter() - t, 1)
    print("start saved", info, flush=True)

    t = time.perf_counter()
    judge = Judge({e.prompt: e.source for e in rl}, corpus.train.decode("utf-8"))  # what `evaluate` knows
    prompts = [e.prompt for e in rl]
    start = load_policy(OUT / "start.pt")
    model = load_policy(OUT / "start.pt")
    start_greedy = generate(start, prompts)
    info["rounds"] = []
    for r in range(ROUNDS):
        greedy = generate(model, prompts)
        candidates = [greedy] + [generate(model, prompts, 0.8, seed=1000 * r + s) for s in range(SAMPLES)]
        targets = []
        for i, p in enumerate(prompts):
            prefs = [judge.prefer(p, c[i], greedy[i]) for c in candidates]
            targets.append(candidates[max(range(len(candidates)), key=prefs.__getitem__)][i])
        loss = finetune(model, prompts, targets, RL_STEPS, RL_LR, 16, seed=r)
        after = generate(model, prompts)
        row = {
            "round": r,
            "loss": loss,
            "win_vs_start_train": win_rate(judge, prompts, after, start_greedy),
            "seconds": round(time.perf_counter() - t, 1),
        }
        info["rounds"].append(row)
        print(row, flush=True)
    save(model, OUT / "reference" / "model.pt", torch.float16)
    info["seconds"]["reference"] = round(time.perf_counter() - t, 1)

    reference = load_policy(OUT / "reference" / "model.pt")
    start = load_policy(OUT / "start.pt")
    hp = [e.prompt for e in held]
    answers = {"start": dict(zip(hp, generate(start, hp), strict=True))}
    answers["reference"] = dict(zip(hp, generate(reference, hp), strict=True))
    (OUT / "reference" / "baseline_answers.json").write_text(json.dumps(answers, indent=1) + "\n")
    full = Judge({e.prompt: e.source for e in held}, corpus.train.decode("utf-8"))
    a, b = list(answers["reference"].values()), list(answers["start"].values())
    info["heldout_win_reference_vs_start"] = win_rate(full, hp, a, b)
    info["seconds"]["total"] = round(time.perf_counter() - began, 1)
    (OUT / "build_info.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
    print(json.dumps(info, indent=2, default=str))


if __name__ == "__main__":
    main()
