"""The restricted-architecture rule: a whitelist that catches each disallowed operation by name."""

from __future__ import annotations

import pytest
import torch

from environments.op_whitelist import DisallowedOperation, OpWhitelist, check_forward


class AllowedModel(torch.nn.Module):
    """Embedding -> Linear -> ReLU -> Linear, with einsum, cat, slicing and reshape."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(258, 16)
        self.up = torch.nn.Linear(32, 64)
        self.down = torch.nn.Linear(64, 258)
        self.mix = torch.nn.Parameter(torch.randn(16, 16))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        mixed = torch.einsum("btd,de->bte", x, self.mix)
        h = torch.cat([x, mixed], dim=-1)[:, :, :32]
        h = torch.relu(self.up(h)) * 2 - h.sum(dim=-1, keepdim=True)
        return self.down(h).reshape(tokens.shape[0], tokens.shape[1], -1)


MASK = torch.rand(3, 4) > 0.5


def test_the_allowed_model_passes() -> None:
    tokens = torch.randint(0, 258, (2, 12))
    out = check_forward(AllowedModel(), tokens)
    assert out.shape == (2, 12, 258)


@pytest.mark.parametrize(
    ("name", "op"),
    [
        ("division", lambda x: x / (x + 1)),
        ("exp", torch.exp),
        ("softmax", lambda x: torch.softmax(x, dim=-1)),
        ("mean", lambda x: x.mean()),
        ("comparison", lambda x: x > 0),
        ("where", lambda x: torch.where(MASK, x, -x)),  # the mask is made outside the guard
        ("layer norm", lambda x: torch.nn.functional.layer_norm(x, x.shape[-1:])),
        ("power", lambda x: x**-1),
        ("sigmoid", torch.sigmoid),
    ],
)
def test_each_disallowed_operation_is_caught_by_name(name: str, op) -> None:
    x = torch.randn(3, 4)
    with pytest.raises(DisallowedOperation) as caught, OpWhitelist():
        op(x)
    expected = {"division": "div", "comparison": "gt", "power": "pow", "layer norm": "layer_norm"}.get(name, name)
    assert caught.value.name.removeprefix("aten.").startswith(expected), caught.value.name
    assert caught.value.name in str(caught.value)


def test_the_guard_sees_through_a_model_that_hides_division() -> None:
    class Sneaky(AllowedModel):
        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            out = super().forward(tokens)
            return out.div(out.abs().sum() + 1)

    with pytest.raises(DisallowedOperation):
        check_forward(Sneaky(), torch.randint(0, 258, (1, 4)))
