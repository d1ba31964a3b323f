"""The trusted definition of the task, used by the scorer before any participant code runs.

y[i] = sum over j <= i of x[j] * [the number of positive values among x[0..j-1] is odd].
It accumulates in int64 and truncates once to int32, which equals int32 wraparound
(the sum mod 2**32) for every input, so the answer does not depend on the width a
participant's kernel accumulates in.
"""

from __future__ import annotations

import torch

LOW, HIGH = -10, 10  # input values are drawn from [LOW, HIGH)


def prefix_sum_trusted(x: torch.Tensor) -> torch.Tensor:
    positive = (x > 0).to(torch.int64)
    odd_before = (torch.cumsum(positive, 0) - positive) & 1
    return torch.cumsum(x.to(torch.int64) * odd_before, 0).to(torch.int32)


def random_input(seed: int, n: int, device: str, randint=torch.randint, generator=torch.Generator) -> torch.Tensor:
    """The input for one call: reproducible from `seed`, so the scorer can drop the tensor.

    `randint` and `generator` are passed by the scorer as references it took before the
    participant's module was imported, so patching `torch.randint` cannot change the input.
    """
    g = generator(device=device)
    g.manual_seed(seed)
    return randint(LOW, HIGH, (n,), dtype=torch.int32, device=device, generator=g)
