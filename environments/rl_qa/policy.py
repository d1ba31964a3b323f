"""The policy of `rl_qa`: a small byte-level GPT (environments/tiny_gpt.py) that answers prompts.

Copied into the workspace as `qa.py` (beside the model as `model.py`), so it imports only
torch, the standard library and the model; `prepare` writes the scale's architecture into its
`CONFIG` line (the cpu scale's is the one below). `generate` decodes with a key/value cache,
batching prompts of equal length, on the model's device (sampling draws on the CPU, so a seed
gives the same answers on any device); an answer ends at the first newline or after max_new
bytes. `finetune` is supervised training on (prompt, answer) pairs with the loss on the answer
bytes and the closing newline only.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import cast

import torch
import torch.nn.functional as F

try:
    from environments.tiny_gpt import GPT, Block, GPTConfig, check_state, load_state, save
except ImportError:  # in the workspace (where model.py is)
    from model import GPT, Block, GPTConfig, check_state, load_state, save  # type: ignore[no-redef,import-not-found]

CONFIG = GPTConfig(n_layer=2, n_head=4, n_embd=96, block_size=160)
MAX_NEW = 100
NEWLINE = 10

__all__ = ["CONFIG", "GPT", "GPTConfig", "check_state", "finetune", "generate", "load_policy", "save"]


def load_policy(path, config: GPTConfig = CONFIG) -> GPT:
    """The model saved at path (weights_only); ValueError if it is not CONFIG's architecture."""
    state = load_state(path)
    problem = check_state(state, config)
    if problem:
        raise ValueError(problem)
    model = GPT(config)
    model.load_state_dict(state)
    return model.eval()


def _step(model: GPT, idx: torch.Tensor, cache: list, pos: int) -> torch.Tensor:
    """Logits of the last position, extending each block's key/value cache with idx."""
    b, t = idx.shape
    x = model.wte(idx) + model.wpe(torch.arange(pos, pos + t, device=idx.device))
    for i, block in enumerate(cast(Iterable[Block], model.h)):  # a ModuleList of Blocks
        attn = block.attn
        c = x.shape[-1]
        q, k, v = attn.c_attn(block.ln_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, attn.n_head, c // attn.n_head).transpose(1, 2) for z in (q, k, v))
        if cache[i] is not None:
            k = torch.cat([cache[i][0], k], dim=2)
            v = torch.cat([cache[i][1], v], dim=2)
        cache[i] = (k, v)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=t > 1)
        x = x + attn.c_proj(y.transpose(1, 2).contiguous().view(b, t, c))
        x = x + block.mlp(block.ln_2(x))
    logits = F.linear(model.ln_f(x[:, -1]), model.wte.weight)
    logits[:, 256:] = float("-inf")  # bytes only
    return logits


@torch.no_grad()
def generate(
    model: GPT,
    prompts: list[str],
    temperature: float = 0.0,
    seed: int = 0,
    max_new: int = MAX_NEW,
    batch_size: int = 256,
) -> list[str]:
    """One answer per prompt: greedy with temperature 0, else sampled (seeded, deterministic)."""
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    encoded = [list(p.encode("utf-8")) for p in prompts]
    limit = model.config.block_size
    encoded = [e[-(limit - max_new) :] for e in encoded]
    groups: dict[int, list[int]] = {}
    for i, e in enumerate(encoded):
        groups.setdefault(len(e), []).append(i)
    answers = [""] * len(prompts)
    for length in sorted(groups):
        members = groups[length]
        for start in range(0, len(members), batch_size):
            rows = members[start : start + batch_size]
            idx = torch.tensor([encoded[i] for i in rows], dtype=torch.long, device=device)
            cache: list = [None] * len(model.h)
            logits = _step(model, idx, cache, 0)
            out = torch.zeros(len(rows), 0, dtype=torch.long, device=device)
            done = torch.zeros(len(rows), dtype=torch.bool, device=device)
            for pos in range(length, length + max_new):
                if temperature > 0:
                    probs = torch.softmax(logits.float().cpu() / temperature, dim=-1)
                    nxt = torch.multinomial(probs, 1, generator=gen)[:, 0].to(device)
                else:
                    nxt = logits.argmax(dim=-1)
                nxt = torch.where(done, torch.full_like(nxt, NEWLINE), nxt)
                out = torch.cat([out, nxt[:, None]], dim=1)
                done |= nxt == NEWLINE
                if bool(done.all()) or pos + 1 >= limit:
                    break
                logits = _step(model, nxt[:, None], cache, pos)
            for row, seq in zip(rows, out.tolist(), strict=True):
                data = bytes(seq)
                answers[row] = data.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip()
    return answers


def finetune(
    model: GPT,
    prompts: list[str],
    answers: list[str],
    steps: int,
    lr: float = 1e-3,
    batch_size: int = 32,
    seed: int = 0,
) -> float:
    """Supervised steps on (prompt, answer + newline), loss on the answer only; the last loss."""
    rng = random.Random(seed)
    limit = model.config.block_size + 1
    pairs = []
    for p, a in zip(prompts, answers, strict=True):
        pb, ab = list(p.encode("utf-8")), list((" " + a.strip() + "\n").encode("utf-8"))
        seq = (pb + ab)[-limit:]
        pairs.append((seq, len(seq) - len(ab)))
    device = next(model.parameters()).device
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.0)
    model.train()
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        batch = [pairs[rng.randrange(len(pairs))] for _ in range(batch_size)]
        width = max(len(s) for s, _ in batch) - 1
        x = torch.zeros(len(batch), width, dtype=torch.long)
        y = torch.full((len(batch), width), -100, dtype=torch.long)
        for r, (seq, answer_at) in enumerate(batch):
            t = torch.tensor(seq, dtype=torch.long)
            x[r, : len(seq) - 1] = t[:-1]
            y[r, max(0, answer_at - 1) : len(seq) - 1] = t[max(1, answer_at) :]
        x, y = x.to(device), y.to(device)
        logits, _ = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    model.eval()
    return float(loss.item())
