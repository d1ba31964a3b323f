"""Data, masking and loss of the restricted-MLM task (a copy of this file is in your workspace).

Tokens are bytes of UTF-8 text (0-255) plus PAD (256) and MASK (257): vocabulary 258.
Text is cut into consecutive, non-overlapping windows of SEQ_LEN tokens; in each window
a fixed fraction of the positions (15%) is chosen by a seeded generator and replaced by
MASK; the windows are evaluated in a shuffled order, in batches. The loss is the mean
cross-entropy of the model's logits at the masked positions.
The scorer uses the same functions (its own copy) on held-out text with its own seed.
"""

from __future__ import annotations

import torch

PAD = 256
MASK = 257
VOCAB_SIZE = 258

# Rewritten by the environment when it prepares a workspace (the scale's settings).
SCALE = {"seq_len": 64, "mask_fraction": 0.15}


def windows(data: bytes, seq_len: int) -> torch.Tensor:
    """(N, seq_len) int64 tokens: consecutive windows of the bytes; a partial tail is dropped."""
    n = len(data) // seq_len
    return torch.frombuffer(bytearray(data[: n * seq_len]), dtype=torch.uint8).view(n, seq_len).long()


def mask_tokens(
    targets: torch.Tensor, mask_fraction: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, masked): exactly round(fraction * seq_len) positions per row become MASK."""
    rows, seq_len = targets.shape
    count = max(1, round(mask_fraction * seq_len))
    order = torch.rand(rows, seq_len, generator=generator).argsort(dim=1)[:, :count]
    masked = torch.zeros(rows, seq_len, dtype=torch.bool)
    masked.scatter_(1, order, True)
    inputs = targets.masked_fill(masked.to(targets.device), MASK)
    return inputs, masked.to(targets.device)


def fixed_masked_set(data: bytes, seq_len: int, mask_fraction: float, seed: int) -> tuple[torch.Tensor, ...]:
    """(inputs, targets, masked) for evaluation: the same mask every time for the same seed."""
    targets = windows(data, seq_len)
    generator = torch.Generator().manual_seed(seed)
    inputs, masked = mask_tokens(targets, mask_fraction, generator)
    return inputs, targets, masked


def shuffled(seed: int, *rows: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The same seeded permutation of the rows of each tensor. Consecutive windows are
    consecutive text: evaluated in order, a model could read the text around its window in
    the neighbouring rows of its batch. Shuffled, its neighbours are unrelated windows."""
    order = torch.randperm(len(rows[0]), generator=torch.Generator().manual_seed(seed))
    return tuple(r[order] for r in rows)


def masked_loss(logits: torch.Tensor, targets: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy (nats) over the masked positions; computed in float32."""
    picked = logits[masked].float()
    return torch.nn.functional.cross_entropy(picked, targets[masked], reduction="mean")


def random_batch(
    tokens: torch.Tensor, batch: int, seq_len: int, mask_fraction: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random crops of a 1-D token tensor with a fresh random mask (for training)."""
    starts = torch.randint(0, len(tokens) - seq_len, (batch,), generator=generator)
    targets = tokens[starts[:, None] + torch.arange(seq_len)]
    inputs, masked = mask_tokens(targets, mask_fraction, generator)
    return inputs, targets, masked


def pad_rows(x: torch.Tensor, rows: int) -> torch.Tensor:
    """`x` with rows of PAD appended up to `rows` (a graph runs at the one batch size it was exported for)."""
    if len(x) >= rows:
        return x
    return torch.cat([x, torch.full((rows - len(x), x.shape[1]), PAD, dtype=x.dtype, device=x.device)])


class BadOutput(ValueError):
    """The model's output is not finite logits of shape (batch, seq, VOCAB_SIZE)."""


def check_logits(out: object, batch: int, seq_len: int) -> torch.Tensor:
    if type(out) is not torch.Tensor:
        kind = "a torch.Tensor subclass" if isinstance(out, torch.Tensor) else "not a torch.Tensor"
        raise BadOutput(f"the model returned {type(out).__name__} ({kind}); return a plain torch.Tensor of logits")
    if not out.is_floating_point():
        raise BadOutput(f"the model returned dtype {out.dtype}; logits must be floating point")
    if tuple(out.shape) != (batch, seq_len, VOCAB_SIZE):
        raise BadOutput(
            f"the model returned shape {tuple(out.shape)}, expected (batch, seq, vocab) = "
            f"({batch}, {seq_len}, {VOCAB_SIZE})"
        )
    out = out.detach().to("cpu", torch.float32)
    if not bool(torch.isfinite(out).all()):
        raise BadOutput("the model returned logits that are not all finite (inf or nan)")
    return out


def evaluate(forward, inputs: torch.Tensor, targets: torch.Tensor, masked: torch.Tensor, batch_size: int) -> float:
    """Mean cross-entropy (nats) at the masked positions. `forward(x)` runs the model on one
    batch of inputs (the caller decides device and guards); the loss is computed here,
    outside any guard, from the logits it returns."""
    total = torch.zeros((), dtype=torch.float64)
    count = 0
    for start in range(0, len(inputs), batch_size):
        x = inputs[start : start + batch_size]
        logits = check_logits(forward(x), x.shape[0], x.shape[1])
        m = masked[start : start + batch_size]
        t = targets[start : start + batch_size]
        total += torch.nn.functional.cross_entropy(logits[m], t[m], reduction="sum").double()
        count += int(m.sum())
    return float(total) / count
