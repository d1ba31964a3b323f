"""The per-session corruption: a secret permutation of the original model's embedding rows.

`prepare` draws the permutation from the operating system's randomness (os.urandom), so
no seed exists in the code, the settings or the data that would give it away; it is
stored only in the session's private state. A random permutation's damage varies (the
corrupted model's held-out raw score has an sd of ~0.12 over permutations), while the
calibration's start is one number: `draw_corruption` therefore redraws until the
corrupted model scores within a tolerance of the scale's typical value.

Evaluating a draw costs a forward pass over the held-out text (seconds), so draws are
first screened by a surrogate that costs nothing: a corrupted model, fed scrambled text,
predicts roughly its generic prior over output rows, so its loss tracks
sum_b freq(b) * cost(perm[b]), with cost(r) = -log of the original's mean predicted
probability of row r under scrambled inputs (`StartModel`, fitted at build time;
correlation 0.99 with the raw score, residual sd 0.02). Only draws the surrogate puts
near the target are evaluated, and an evaluation stops early once clearly outside.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# Measured sd of (raw on the first 4096 held-out bytes - raw on all of them) over random
# permutations (0.027, cpu scale); an evaluation stops once the running estimate is more
# than tolerance + 4 sd of what is left to read away from the target.
PROBE_SD_4K = 0.03
PROBE_SIGMAS = 4.0


@dataclass(frozen=True)
class StartModel:
    """The surrogate of a corruption's held-out raw score: slope * sum_b freq(b) * cost[perm[b]] + intercept."""

    cost: list[float]
    slope: float
    intercept: float

    def predict(self, permutation: list[int], freq: torch.Tensor) -> float:
        return self.slope * surrogate(permutation, self.cost, freq) + self.intercept

    def to_json(self) -> dict:
        return {"cost": self.cost, "slope": self.slope, "intercept": self.intercept}

    @classmethod
    def from_json(cls, data: dict) -> StartModel:
        return cls([float(c) for c in data["cost"]], float(data["slope"]), float(data["intercept"]))


@dataclass(frozen=True)
class Corruption:
    """permutation[i] = the original row that the corrupted model has at row i."""

    permutation: list[int]
    state: dict[str, torch.Tensor]
    raw: float  # the corrupted model's raw score on the text it was checked on
    draws: int  # permutations drawn
    evaluated: int  # of which evaluated on the text


def draw_permutation(vocab_size: int) -> list[int]:
    """A uniformly random permutation from os.urandom (random.SystemRandom)."""
    order = list(range(vocab_size))
    random.SystemRandom().shuffle(order)
    return order


def corrupt(original: dict[str, torch.Tensor], permutation: list[int]) -> dict[str, torch.Tensor]:
    """corrupted wte[i] = original wte[permutation[i]]; every other tensor unchanged."""
    state = dict(original)
    state["wte.weight"] = original["wte.weight"][torch.tensor(permutation)].clone()
    return state


def repair_with(corrupted: dict[str, torch.Tensor], rows: list[int]) -> dict[str, torch.Tensor]:
    """fixed wte[b] = corrupted wte[rows[b]] (a repair's recovered rows)."""
    state = dict(corrupted)
    state["wte.weight"] = corrupted["wte.weight"][torch.tensor(rows)].clone()
    return state


def byte_frequencies(text: bytes, vocab_size: int) -> torch.Tensor:
    """The share of each token in `text` (float64)."""
    from environments import tiny_gpt

    counts = torch.bincount(tiny_gpt.as_tokens(text), minlength=vocab_size).double()
    return counts / counts.sum()


def surrogate(permutation: list[int], cost: list[float], freq: torch.Tensor) -> float:
    """sum_b freq(b) * cost[perm[b]]: what the corrupted model pays, roughly, for the bytes b of a text."""
    return float((freq * torch.tensor(cost, dtype=torch.float64)[torch.tensor(permutation)]).sum())


@torch.no_grad()
def generic_cost(original: dict[str, torch.Tensor], config, text: bytes, draws: int = 4, blocks: int = 64) -> list:
    """-log of the original's mean predicted probability of each row, fed text scrambled by `draws`
    random permutations (the surrogate's cost vector)."""
    from environments import tiny_gpt

    vocab, bs = config.vocab_size, config.block_size
    x = tiny_gpt.as_tokens(text)[: blocks * bs].view(blocks, bs)
    model = tiny_gpt.GPT(config)
    model.eval()
    prior = torch.zeros(vocab, dtype=torch.float64)
    for _ in range(draws):
        permutation = draw_permutation(vocab)
        model.load_state_dict({k: v.float() for k, v in corrupt(original, permutation).items()})
        mean = torch.softmax(model(x)[0].double(), dim=-1).reshape(-1, vocab).mean(dim=0)  # over corrupted rows j
        prior[torch.tensor(permutation)] += mean / draws  # row j of the corrupted model is original row perm[j]
    return (-torch.log(prior)).tolist()


@torch.no_grad()
def held_out_raw(model, text: bytes, floor: float, target: float | None = None, tolerance: float = 0.0) -> float:
    """ln(loss - floor) over `text` in the scorer's blocks (tiny_gpt.evaluate's layout).

    With a target, stops early and returns inf or -inf once the running loss is clearly more
    than `tolerance` away from it (only the side matters to the caller: outside)."""
    from environments import tiny_gpt

    tokens = tiny_gpt.as_tokens(text)
    bs = model.config.block_size
    model.eval()
    n_full = (len(tokens) - 1) // bs
    starts = list(range(0, n_full * bs, bs))
    total_count = len(tokens) - 1
    total, count = 0.0, 0
    for i in range(0, len(starts), 32):
        idx = torch.stack([tokens[s : s + bs + 1] for s in starts[i : i + 32]])
        logits, _ = model(idx[:, :-1])
        total += F.cross_entropy(logits.reshape(-1, logits.size(-1)), idx[:, 1:].reshape(-1), reduction="sum").item()
        count += idx[:, 1:].numel()
        if target is not None and count < total_count:
            left = 1.0 - count / total_count
            margin = tolerance + PROBE_SIGMAS * PROBE_SD_4K * math.sqrt(4096 / count) * math.sqrt(left)
            estimate = math.log(max(total / count - floor, 1e-9))
            if abs(estimate - target) > margin:
                return math.inf if estimate > target else -math.inf
    tail = tokens[n_full * bs :]
    if len(tail) > 1:
        logits, _ = model(tail[None, :-1])
        total += F.cross_entropy(logits[0], tail[1:], reduction="sum").item()
        count += len(tail) - 1
    return math.log(total / count - floor)


def draw_corruption(
    original: dict[str, torch.Tensor],
    config,
    text: bytes,
    floor: float,
    target: float,
    tolerance: float,
    start_model: StartModel,
    max_evaluations: int,
    max_draws: int = 100_000,
) -> Corruption:
    """A fresh secret permutation whose corrupted model scores within `tolerance` of `target`
    (raw, on `text`: the held-out text). Only draws the surrogate puts within `tolerance` are
    evaluated. If none of `max_evaluations` is within (a start model that no longer fits the
    original: rerun the build's start part), a last draw is taken as it comes."""
    from environments import tiny_gpt

    model = tiny_gpt.GPT(config)
    freq = byte_frequencies(text, config.vocab_size)
    evaluated = 0
    for draw in range(1, max_draws + 1):
        permutation = draw_permutation(config.vocab_size)
        if abs(start_model.predict(permutation, freq) - target) > tolerance:
            continue
        state = corrupt(original, permutation)
        model.load_state_dict({k: v.float() for k, v in state.items()})
        evaluated += 1
        raw = held_out_raw(model, text, floor, target, tolerance)
        if abs(raw - target) <= tolerance:
            return Corruption(permutation, state, raw, draw, evaluated)
        if evaluated >= max_evaluations:
            break
    permutation = draw_permutation(config.vocab_size)
    state = corrupt(original, permutation)
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return Corruption(permutation, state, held_out_raw(model, text, floor), draw + 1, evaluated + 1)
