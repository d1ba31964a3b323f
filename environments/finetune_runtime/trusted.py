"""The trusted finetuning: what `finetune.sh` must compute, written plainly and efficiently.

Used by the scorer (to compute the expected weights for the seed and data it chose), by
`build.py` (the base model) and by the noise measurements. It imports torch.

The behaviour, step by step (the starting `train.py` does the same, slowly):
- tokens: the UTF-8 bytes of data/train.txt, as int64;
- model: `tiny_gpt.GPT` with the config's architecture, loaded from the float16 base weights
  (converted to float32);
- `gen = torch.Generator().manual_seed(seed)`; at each step, the batch's window starts are
  `torch.randint(0, len(tokens) - block_size - 1, (batch_size,), generator=gen)`, inputs are
  `tokens[s : s + block_size]` and targets `tokens[s + 1 : s + block_size + 1]`;
- loss: mean cross-entropy over every target of the batch;
- AdamW(lr, betas, eps=1e-8, weight_decay) over all parameters, the gradient clipped to a
  global norm of grad_clip, the learning rate warmed up linearly over warmup_steps
  (lr * (step + 1) / warmup_steps), then constant.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from environments.tiny_gpt import GPT, GPTConfig


def model_config(config: dict[str, Any]) -> GPTConfig:
    m = config["model"]
    return GPTConfig(n_layer=m["n_layer"], n_head=m["n_head"], n_embd=m["n_embd"], block_size=m["block_size"])


def lr_at(step: int, config: dict[str, Any]) -> float:
    warmup = config["warmup_steps"]
    return config["lr"] * (step + 1) / warmup if step < warmup else config["lr"]


def finetune(
    base: dict[str, torch.Tensor],
    tokens: torch.Tensor,
    config: dict[str, Any],
    *,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    steps: int | None = None,
) -> dict[str, torch.Tensor]:
    """Finetune a copy of `base` and return its float32 state dict (on the CPU)."""
    model = GPT(model_config(config))
    model.load_state_dict({k: v.float() for k, v in base.items()})
    model.to(device=device, dtype=dtype)
    model.train()
    data = tokens.to(torch.long).to(device)
    block, batch = config["model"]["block_size"], config["batch_size"]
    gen = torch.Generator().manual_seed(int(config["seed"]))
    params = list(model.parameters())
    opt = torch.optim.AdamW(
        params, lr=config["lr"], betas=tuple(config["betas"]), eps=1e-8, weight_decay=config["weight_decay"]
    )
    offsets = torch.arange(block + 1, device=device)
    for step in range(config["steps"] if steps is None else steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, config)
        starts = torch.randint(0, len(tokens) - block - 1, (batch,), generator=gen).to(device)
        windows = data[starts[:, None] + offsets[None, :]]
        logits, _ = model(windows[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), windows[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, config["grad_clip"])
        opt.step()
    return {k: v.detach().float().cpu().clone() for k, v in model.state_dict().items()}


def distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict[str, float]:
    """Global L2 and L1 norms of a - b over all tensors (float64 sums)."""
    l2 = sum(float((a[k].double() - b[k].double()).pow(2).sum()) for k in b) ** 0.5
    l1 = sum(float((a[k].double() - b[k].double()).abs().sum()) for k in b)
    return {"l2": l2, "l1": l1}


def relative_error(
    trained: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], base: dict[str, torch.Tensor]
) -> float:
    """||trained - expected|| / ||expected - base||: the error as a fraction of what training changed."""
    return distance(trained, expected)["l2"] / distance(expected, base)["l2"]


def data_window(train_split: bytes, seed: int, size: int, valid_bytes: int) -> bytes:
    """A window of `size` bytes of the train split (before its last `valid_bytes`), chosen by
    `seed`, cut at UTF-8 character boundaries, without carriage returns."""
    pool = train_split[: len(train_split) - valid_bytes]
    gen = torch.Generator().manual_seed(seed)
    start = int(torch.randint(0, max(1, len(pool) - size), (1,), generator=gen))
    return clean_utf8(pool[start : start + size])


def clean_utf8(chunk: bytes) -> bytes:
    while chunk and (chunk[0] & 0xC0) == 0x80:  # a continuation byte: not a character's start
        chunk = chunk[1:]
    text = chunk.decode("utf-8", errors="ignore")  # drops a character cut at the end
    return text.replace("\r", "").encode("utf-8")
