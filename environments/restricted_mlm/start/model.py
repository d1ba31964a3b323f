"""The starting model: an MLP over a window of neighbouring byte embeddings.

Each position sees the embeddings of the RADIUS tokens on either side of it (and its
own, which is MASK where the byte is hidden), concatenated; one hidden ReLU layer turns
that into logits over the 258 tokens. `train.py` trains it and writes `model.pt`.

The forward pass may use only the allowed operations (see the instructions): linear
layers, embeddings, matrix products and einsum, sums, +, -, *, relu, and indexing,
reshaping and concatenation. Loading the weights in `get_trained_model` may use anything.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

PAD, MASK, VOCAB_SIZE = 256, 257, 258
WEIGHTS = Path(__file__).resolve().parent / "model.pt"

# Defaults `train.py` uses for this model (its command-line options override them).
TRAINING = {"steps": 1500, "batch": 64, "lr": 3e-3, "warmup": 100}


class Model(nn.Module):
    def __init__(self, dim: int = 24, radius: int = 3, hidden: int = 128) -> None:
        super().__init__()
        self.radius = radius
        self.embed = nn.Embedding(VOCAB_SIZE, dim)
        self.hidden = nn.Linear((2 * radius + 1) * dim, hidden)
        self.out = nn.Linear(hidden, VOCAB_SIZE)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(batch, seq) int64 tokens -> (batch, seq, VOCAB_SIZE) logits."""
        batch, seq = tokens.shape
        r = self.radius
        pad = (tokens[:, :1] * 0 + PAD).expand(batch, r)  # a column of PAD, made with allowed ops
        x = self.embed(torch.cat([pad, tokens, pad], dim=1))
        window = torch.cat([x[:, i : i + seq] for i in range(2 * r + 1)], dim=-1)
        return self.out(torch.relu(self.hidden(window)))


def get_trained_model() -> nn.Module:
    """The model the scorer evaluates (weights from model.pt, as float32)."""
    model = Model()
    state = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.eval()
