"""The judge, as the task gives it to you: evaluate(prompts, answers_a, answers_b) -> list[float].

Each number is the judge's probability that answers_a[i] is a better answer to prompts[i]
than answers_b[i]. Only the training prompts (train_prompts.json) can be judged; any
other prompt raises ValueError. The judge lives in judge.bin: do not read, decompile or
copy it; call this function. The scorer uses the same judge on held-out prompts and counts
a probability within 0.1 of 0.5 as a tie (decided by a coin).

`python evaluate.py [model.pt] [start_model.pt]` prints the win rate of the first model's
greedy answers against the second's on the training prompts (ties count 0.5).
"""

from __future__ import annotations

import json
import marshal
import sys
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
TIE_BAND = 0.1
_judge = None


def _load():
    global _judge
    if _judge is None:
        payload = marshal.loads(zlib.decompress((HERE / "judge.bin").read_bytes()))
        namespace: dict = {"__name__": "rl_qa_judge"}
        exec(payload["code"], namespace)
        _judge = namespace["Judge"](payload["sources"], payload["corpus"])
    return _judge


def evaluate(prompts: list[str], answers_a: list[str], answers_b: list[str]) -> list[float]:
    if not len(prompts) == len(answers_a) == len(answers_b):
        raise ValueError("prompts, answers_a and answers_b must have the same length")
    judge = _load()
    unknown = [p for p in prompts if not judge.knows(p)]
    if unknown:
        raise ValueError(f"{len(unknown)} prompt(s) are not training prompts, e.g. {unknown[0]!r}")
    return [judge.prefer(p, a, b) for p, a, b in zip(prompts, answers_a, answers_b, strict=True)]


def win_rate(prefs: list[float]) -> float:
    return sum(1.0 if p > 0.5 + TIE_BAND else 0.0 if p < 0.5 - TIE_BAND else 0.5 for p in prefs) / len(prefs)


def main(argv: list[str]) -> None:
    import torch
    from qa import generate, load_policy

    torch.set_num_threads(1)
    mine = argv[0] if argv else "model.pt"
    theirs = argv[1] if len(argv) > 1 else "start_model.pt"
    prompts = json.loads((HERE / "train_prompts.json").read_text())
    a = generate(load_policy(HERE / mine), prompts)
    b = generate(load_policy(HERE / theirs), prompts)
    print(f"{mine} vs {theirs} on {len(prompts)} training prompts: win rate {win_rate(evaluate(prompts, a, b)):.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
