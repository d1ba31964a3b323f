"""The reference repair: recover the permutation of the corrupted model's embedding rows.

The corrupted model is the original with its token-embedding rows permuted; the output
head is tied to the embedding, so it is the original model acting on relabelled bytes,
and finding the permutation restores it exactly. Method, an alternating assignment (no
training): keep a guess of which model token stands for each byte (start: unchanged);
run the model on blocks of the training text written with the guess, and add up, for
each true next byte b and each model token r, the log-probability the model gave r
where b came next; the new guess is the one-to-one assignment maximizing that sum
(Hungarian method). The first round is frequency matching (the model's predictions are
near its unigram distribution when its inputs are scrambled); each later round reads
better inputs, until the guess stops changing; two last rounds use the whole training
text, so that rare bytes are placed too. Bytes that never occur get leftover rows.

    python -m environments.fix_embedding.reference.repair CORRUPTED.pt TRAIN.bin OUT.pt [--scale cpu]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def assignment(cost):
    """The permutation minimizing sum(cost[i, col[i]]) (Hungarian method, O(n^3)); returns col."""
    import numpy as np

    cost = np.asarray(cost, dtype=np.float64)
    n = cost.shape[0]
    u, v = np.zeros(n + 1), np.zeros(n + 1)
    p, way = np.zeros(n + 1, dtype=np.int64), np.zeros(n + 1, dtype=np.int64)  # p[col] = row (1-based)
    for i in range(1, n + 1):
        p[0], j0 = i, 0
        minv, used = np.full(n + 1, np.inf), np.zeros(n + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = p[j0]
            free = ~used[1:]
            cur = cost[i0 - 1] - u[i0] - v[1:]
            better = free & (cur < minv[1:])
            minv[1:][better] = cur[better]
            way[1:][better] = j0
            masked = np.where(free, minv[1:], np.inf)
            j1 = int(np.argmin(masked)) + 1
            delta = masked[j1 - 1]
            taken = np.nonzero(used)[0]
            u[p[taken]] += delta
            v[taken] -= delta
            minv[1:][free] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
    col = np.zeros(n, dtype=np.int64)
    col[p[1:] - 1] = np.arange(n)
    return col


def _score(model, blocks, rows, vocab: int):
    """[true next byte, model token] summed log-probabilities over blocks written with rows."""
    import torch

    score = torch.zeros(vocab, vocab, dtype=torch.float64)
    with torch.no_grad():
        for i in range(0, len(blocks), 32):
            logits, _ = model(rows[blocks[i : i + 32, :-1]])
            logp = torch.log_softmax(logits.reshape(-1, vocab).double(), dim=-1)
            score.index_add_(0, blocks[i : i + 32, 1:].reshape(-1), logp)
    return score


def recover_rows(
    model, train_bytes: bytes, sample_blocks: int = 1024, iterations: int = 25, final_rounds: int = 2, log=print
) -> list[int]:
    """rows such that wte_fixed[b] = wte_corrupted[rows[b]] (the model is left unchanged).

    Rounds on `sample_blocks` blocks spread over the training text until the guess stops
    changing, then `final_rounds` on the whole text (so that rare bytes count too)."""
    import torch

    from environments import tiny_gpt

    vocab, bs = model.config.vocab_size, model.config.block_size
    text = tiny_gpt.as_tokens(train_bytes)
    n_blocks = (len(text) - 1) // bs
    every = torch.stack([text[i * bs : i * bs + bs + 1] for i in range(n_blocks)])
    sample = every[torch.linspace(0, n_blocks - 1, min(sample_blocks, n_blocks)).long()]
    rows = torch.arange(vocab)  # the current guess: byte b is written as the model's token rows[b]
    model.eval()
    plan = [(sample, f"sample round {i + 1}") for i in range(iterations)]
    plan += [(every, f"full-text round {i + 1}") for i in range(final_rounds)]
    sample_done = False
    for blocks, label in plan:
        if blocks is sample and sample_done:
            continue
        score = _score(model, blocks, rows, vocab)
        seen = score.abs().sum(dim=1) > 0
        new = torch.from_numpy(assignment(-score.numpy()))
        loss = -score[torch.arange(vocab), rows].sum().item() / blocks[:, 1:].numel()
        changed = int((new != rows)[seen].sum())
        log(f"{label}: loss {loss:.4f} with the previous guess; {changed} rows of seen bytes change")
        if blocks is sample and changed == 0:
            sample_done = True
        rows = new
    return rows.tolist()


def apply_rows(state: dict, rows: list[int]) -> dict:
    import torch

    fixed = dict(state)
    fixed["wte.weight"] = state["wte.weight"][torch.tensor(rows)].clone()
    return fixed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corrupted", type=Path)
    parser.add_argument("train", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--scale", default="cpu")
    args = parser.parse_args(argv)
    import torch

    from environments import tiny_gpt
    from environments.fix_embedding.settings import SCALES

    torch.set_num_threads(1)
    config = tiny_gpt.GPTConfig(**SCALES[args.scale]["large"])
    model = tiny_gpt.load(args.corrupted, config)
    started = time.perf_counter()
    rows = recover_rows(model, args.train.read_bytes())
    torch.save(apply_rows(model.state_dict(), rows), args.out)
    print(json.dumps({"seconds": round(time.perf_counter() - started, 1), "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
