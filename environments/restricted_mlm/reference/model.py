"""The reference model: a stack of dilated residual ReLU blocks (no normalisation).

Every block sees, at each position, its own vector and those `dilation` positions to
the left and right (zero beyond the ends), concatenated, through a ReLU MLP whose output
is added back (a residual). Dilations 1, 2, 4, 8, 16, 1 give each position a view of
32 tokens on either side. The residual branches start near zero, which keeps the sums
stable without any normalisation layer. Only allowed operations are used in `forward`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

PAD, MASK, VOCAB_SIZE = 256, 257, 258
WEIGHTS = Path(__file__).resolve().parent / "model.pt"

TRAINING = {"steps": 3000, "batch": 32, "lr": 2e-3, "warmup": 200}


class Block(nn.Module):
    def __init__(self, dim: int, hidden: int, dilation: int) -> None:
        super().__init__()
        self.dilation = dilation
        self.up = nn.Linear(3 * dim, hidden)
        self.down = nn.Linear(hidden, dim)
        with torch.no_grad():
            self.down.weight.mul_(0.1)
            self.down.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, dim = x.shape
        k = self.dilation
        zeros = (x[:, :1] * 0).expand(batch, k, dim)
        padded = torch.cat([zeros, x, zeros], dim=1)
        window = torch.cat([padded[:, :seq], x, padded[:, 2 * k : 2 * k + seq]], dim=-1)
        return x + self.down(torch.relu(self.up(window)))


class Model(nn.Module):
    def __init__(self, dim: int = 96, hidden: int = 192, dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 1)) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB_SIZE, dim)
        self.blocks = nn.ModuleList(Block(dim, hidden, d) for d in dilations)
        self.out = nn.Linear(dim, VOCAB_SIZE)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(batch, seq) int64 tokens -> (batch, seq, VOCAB_SIZE) logits."""
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x)
        return self.out(x)


def get_trained_model() -> nn.Module:
    """The model the scorer evaluates (weights from model.pt, as float32)."""
    model = Model()
    state = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.eval()
