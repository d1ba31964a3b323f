"""A whitelist of torch operations for a forward pass (the restricted-architecture rule).

Both Python-level calls (`TorchFunctionMode`: operators, `torch.*`, `Tensor.*`,
`nn.functional.*`) and the aten ops they become (`TorchDispatchMode`) are checked
against an allowed list; anything else stops the pass with its name. A whitelist, not a
blacklist: a new way to divide or normalise is refused without anyone foreseeing it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

# Linear layers and embeddings, matrix products and einsum, sums, +, -, *, relu, and
# indexing, reshaping and concatenation; plus reading a tensor's shape.
ALLOWED_FUNCTIONS = frozenset(
    {
        "linear", "embedding", "matmul", "mm", "bmm", "einsum", "__matmul__", "__rmatmul__",
        "sum", "add", "__add__", "__radd__", "__iadd__", "sub", "__sub__", "__rsub__", "__isub__",
        "mul", "__mul__", "__rmul__", "__imul__", "neg", "__neg__", "relu", "relu_",
        "__getitem__", "reshape", "view", "flatten", "unflatten", "unsqueeze", "squeeze", "permute",
        "transpose", "t", "cat", "concat", "stack", "split", "chunk", "narrow", "expand", "expand_as",
        "repeat", "contiguous", "size", "dim", "numel", "__get__", "__len__",
    }
)  # fmt: skip
ALLOWED_ATEN = frozenset(
    {
        "embedding", "addmm", "mm", "bmm", "matmul", "linear", "add", "sub", "mul", "neg", "relu", "sum",
        "view", "_unsafe_view", "reshape", "t", "permute", "transpose", "slice", "select", "index", "cat",
        "stack", "clone", "expand", "unsqueeze", "squeeze", "detach", "alias", "split", "split_with_sizes",
        "unbind", "_to_copy", "copy_", "empty", "zeros", "ones", "fill_", "unflatten", "flatten",
    }
)  # fmt: skip


class DisallowedOperation(RuntimeError):
    def __init__(self, level: str, name: str) -> None:
        super().__init__(f"the forward pass used {name!r} ({level}), which the rules do not allow")
        self.level, self.name = level, name


def _function_name(func: Any) -> str:
    return getattr(func, "__name__", None) or type(func).__name__


class _FunctionGuard(TorchFunctionMode):
    def __init__(self, seen: set[str]) -> None:
        super().__init__()
        self.seen = seen

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = _function_name(func)
        self.seen.add(name)
        if name not in ALLOWED_FUNCTIONS:
            raise DisallowedOperation("torch function", name)
        return func(*args, **(kwargs or {}))


class _DispatchGuard(TorchDispatchMode):
    def __init__(self, seen: set[str]) -> None:
        super().__init__()
        self.seen = seen

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._overloadpacket.__name__
        self.seen.add(f"aten.{name}")
        if name not in ALLOWED_ATEN:
            raise DisallowedOperation("aten op", f"aten.{name}")
        return func(*args, **(kwargs or {}))


class OpWhitelist:
    """`with OpWhitelist() as guard: model(x)` raises DisallowedOperation on the first bad op."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self._modes = [_FunctionGuard(self.seen), _DispatchGuard(self.seen)]

    def __enter__(self) -> OpWhitelist:
        for mode in self._modes:
            mode.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        for mode in reversed(self._modes):
            mode.__exit__(*exc)


def check_forward(model: torch.nn.Module, *inputs: torch.Tensor) -> torch.Tensor:
    """Run one forward pass under the whitelist (no gradients)."""
    with torch.no_grad(), OpWhitelist():
        return model(*inputs)
