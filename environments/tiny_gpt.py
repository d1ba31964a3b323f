"""A small GPT-2-style byte-level language model, with deterministic training and evaluation.

Shared by the `fix_embedding` and `scaling_law` environments, and copied into their
workspaces as `model.py` (so it must stay self-contained: it imports only torch and the
standard library). The architecture follows GPT-2: learned token and position
embeddings, pre-norm transformer blocks (causal self-attention, a 4x GELU MLP), a final
LayerNorm, and an output head tied to the token embedding `wte` (the state dict holds
`wte.weight` once; the head is `h @ wte.weight.T`).

Training is deterministic for a given seed and thread count: batches come from a seeded
generator, the learning rate warms up linearly and then stays constant, so the loss at
iteration k of a long run equals the final loss of a run of k iterations. The evaluation
covers a text in fixed blocks: every byte after the first is predicted exactly once.

The vocabulary is the 256 byte values plus two specials (PAD=256, MASK=257) that these
environments never use; it matches the tokenizer of the shared corpus.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB_SIZE = 258


@dataclass(frozen=True)
class GPTConfig:
    n_layer: int
    n_head: int
    n_embd: int
    block_size: int
    vocab_size: int = VOCAB_SIZE

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def n_params(config: GPTConfig) -> int:
    """The number of parameters of `GPT(config)` (the tied head counted once), without torch."""
    d, layers = config.n_embd, config.n_layer
    per_layer = 12 * d * d + 13 * d  # 2 LayerNorms (4d), qkv (3d*d + 3d), proj (d*d + d), MLP (8d*d + 5d)
    return layers * per_layer + (config.vocab_size + config.block_size + 2) * d


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        assert config.n_embd % config.n_head == 0, "n_embd must be a multiple of n_head"
        self.n_head = config.n_head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(b, t, c))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.h = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.apply(self._init_weights)
        # GPT-2: residual projections scaled by 1/sqrt(2 * n_layer).
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (b, t, vocab) and, with targets, the mean cross-entropy in nats."""
        t = idx.shape[1]
        if t > self.config.block_size:
            raise ValueError(f"sequence of {t} tokens is longer than block_size {self.config.block_size}")
        x = self.wte(idx) + self.wpe(torch.arange(t, device=idx.device))
        for block in self.h:
            x = block(x)
        logits = F.linear(self.ln_f(x), self.wte.weight)  # the head tied to the token embedding
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss


# -- data ------------------------------------------------------------------------------


def as_tokens(data: bytes | torch.Tensor) -> torch.Tensor:
    if isinstance(data, torch.Tensor):
        return data.to(torch.long)
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).to(torch.long)


def get_batch(data: torch.Tensor, batch_size: int, block_size: int, gen: torch.Generator):
    """A batch of random windows of `data` (inputs and next-byte targets)."""
    starts = torch.randint(0, len(data) - block_size - 1, (batch_size,), generator=gen)
    offsets = torch.arange(block_size + 1)
    windows = data[starts[:, None] + offsets[None, :]]
    return windows[:, :-1], windows[:, 1:]


@torch.no_grad()
def evaluate(model: GPT, data: bytes | torch.Tensor, batch_size: int = 32) -> float:
    """Mean loss (nats per byte) over `data`, covered in fixed blocks.

    Blocks of block_size + 1 bytes start every block_size bytes, so each byte after the
    first is predicted exactly once, from at most block_size bytes before it in its block.
    """
    device = next(model.parameters()).device
    tokens = as_tokens(data).to(device)
    bs = model.config.block_size
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    n_full = (len(tokens) - 1) // bs
    starts = list(range(0, n_full * bs, bs))
    for i in range(0, len(starts), batch_size):
        idx = torch.stack([tokens[s : s + bs + 1] for s in starts[i : i + batch_size]])
        logits, _ = model(idx[:, :-1])
        total += F.cross_entropy(logits.reshape(-1, logits.size(-1)), idx[:, 1:].reshape(-1), reduction="sum").item()
        count += idx[:, 1:].numel()
    tail = tokens[n_full * bs :]
    if len(tail) > 1:
        logits, _ = model(tail[None, :-1])
        total += F.cross_entropy(logits[0], tail[1:], reduction="sum").item()
        count += len(tail) - 1
    model.train(was_training)
    return total / count


# -- training --------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainConfig:
    max_iters: int
    batch_size: int = 16
    lr: float = 2e-3
    warmup_iters: int = 100
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0


def lr_at(it: int, cfg: TrainConfig) -> float:
    """Linear warm-up over warmup_iters, then constant."""
    if it < cfg.warmup_iters:
        return cfg.lr * (it + 1) / cfg.warmup_iters
    return cfg.lr


def train(
    model: GPT,
    train_data: bytes | torch.Tensor,
    cfg: TrainConfig,
    eval_every: int = 0,
    eval_data: bytes | torch.Tensor | None = None,
    log=print,
    params=None,
) -> list[dict[str, float]]:
    """Train in place; with eval_every, evaluate on eval_data after every eval_every iterations
    (and at the end). Returns the evaluations: [{"iter", "loss", "seconds"}, ...].

    `params` limits which parameters are trained (default: all of them)."""
    data = as_tokens(train_data)
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(cfg.seed)
    trainable = list(model.parameters()) if params is None else list(params)
    opt = torch.optim.AdamW(trainable, lr=cfg.lr, betas=(0.9, 0.95), weight_decay=cfg.weight_decay)
    model.train()
    history = []
    started = time.perf_counter()
    for it in range(cfg.max_iters):
        for group in opt.param_groups:
            group["lr"] = lr_at(it, cfg)
        x, y = get_batch(data, cfg.batch_size, model.config.block_size, gen)
        _, loss = model(x.to(device), y.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(trainable, cfg.grad_clip)
        opt.step()
        done = it + 1
        if eval_every and eval_data is not None and (done % eval_every == 0 or done == cfg.max_iters):
            val = evaluate(model, eval_data)
            history.append({"iter": done, "loss": val, "seconds": round(time.perf_counter() - started, 2)})
            log(f"iter {done}: train loss {loss.item():.4f}, eval loss {val:.4f}")
    return history


# -- saving and loading ----------------------------------------------------------------


def save(model: GPT, path: str | Path, dtype: torch.dtype = torch.float32) -> None:
    torch.save({k: v.detach().to(dtype).clone() for k, v in model.state_dict().items()}, path)


def load_state(path: str | Path) -> dict[str, torch.Tensor]:
    """A saved state dict, as float32 tensors (never executes code: weights_only)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{Path(path).name} holds a {type(state).__name__}, not a state dict")
    return {k: v.float() if isinstance(v, torch.Tensor) and v.is_floating_point() else v for k, v in state.items()}


def check_state(state: object, config: GPTConfig) -> str | None:
    """Why `state` is not a state dict of exactly `GPT(config)`'s architecture (None if it is)."""
    if not isinstance(state, dict):
        return f"expected a state dict (a dict of tensors), got {type(state).__name__}"
    expected = {k: tuple(v.shape) for k, v in GPT(config).state_dict().items()}
    missing = sorted(set(expected) - set(state))
    extra = sorted(str(k) for k in set(state) - set(expected))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:5]}" + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
        if extra:
            parts.append(f"unexpected keys {extra[:5]}" + (f" and {len(extra) - 5} more" if len(extra) > 5 else ""))
        return "not the model's architecture: " + "; ".join(parts)
    for key, shape in expected.items():
        value = state[key]
        if not isinstance(value, torch.Tensor):
            return f"{key} is a {type(value).__name__}, not a tensor"
        if tuple(value.shape) != shape:
            return f"not the model's architecture: {key} has shape {tuple(value.shape)}, expected {shape}"
        if not value.is_floating_point():
            return f"{key} has dtype {value.dtype}, expected a floating-point tensor"
        if not bool(torch.isfinite(value).all()):
            return f"{key} holds non-finite values (nan or inf)"
    return None


def load(path: str | Path, config: GPTConfig) -> GPT:
    model = GPT(config)
    model.load_state_dict(load_state(path))
    return model
