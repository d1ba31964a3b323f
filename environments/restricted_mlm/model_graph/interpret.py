"""Running a checked graph (in the scorer's process): each step calls its looked-up operation.

Beyond the whitelist of operations, values must keep their kind: no step may turn
floating-point values into integers or booleans, or numbers into booleans (each is a
comparison or a rounding), and `_to_copy` may move a tensor but not change its dtype
(as `.to(dtype)` and `.float()` are not among the allowed operations).
"""

from __future__ import annotations

from typing import Any

import torch

from .check import Program, Ref, Step
from .format import GraphError


def run(program: Program, tokens: torch.Tensor) -> Any:
    """The graph's output for int64 tokens of exactly the shape it was exported for."""
    if tokens.dtype != torch.int64 or tuple(tokens.shape) != program.input_shape:
        raise GraphError(f"the graph runs on int64 tokens of shape {program.input_shape}, not {tuple(tokens.shape)}")
    values: dict[str, Any] = dict(program.constants)
    values[program.tokens] = tokens
    with torch.no_grad():
        for step in program.steps:
            args = [_resolve(a, values) for a in step.args]
            kwargs = {k: _resolve(v, values) for k, v in step.kwargs.items()}
            try:
                out = step.fn(*args, **kwargs)
            except Exception as exc:  # wrong arguments in a hand-written graph, shapes that do not match, ...
                raise GraphError(f"node {step.name!r} ({step.op}) failed: {type(exc).__name__}: {exc}"[:2000]) from None
            _check_kinds(step, _tensors(args) + _tensors(list(kwargs.values())), _tensors(out))
            values[step.name] = out
            for name in step.release:
                del values[name]
    return values[program.output]


def _resolve(value: Any, values: dict[str, Any]) -> Any:
    if isinstance(value, Ref):
        return values[value.name]
    if isinstance(value, list):
        return [_resolve(v, values) for v in value]
    return value


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    return []


def _check_kinds(step: Step, inputs: list[torch.Tensor], outputs: list[torch.Tensor]) -> None:
    if not outputs:
        raise GraphError(f"node {step.name!r} ({step.op}) did not produce a tensor")
    if step.op == "aten._to_copy.default" and outputs[0].dtype != inputs[0].dtype:
        raise GraphError(
            f"node {step.name!r} converts {inputs[0].dtype} to {outputs[0].dtype}; changing dtypes (.to, .float()) "
            "is not an allowed operation"
        )
    changed = next((o.dtype for o in outputs if not o.is_floating_point()), None)
    if changed is not None and any(t.is_floating_point() for t in inputs):
        raise GraphError(
            f"node {step.name!r} ({step.op}) turns floating-point values into {changed}, which is a comparison "
            "or a rounding, not an allowed operation"
        )
    if inputs and any(o.dtype == torch.bool for o in outputs) and not any(t.dtype == torch.bool for t in inputs):
        raise GraphError(
            f"node {step.name!r} ({step.op}) turns numbers into booleans, which is a comparison, "
            "not an allowed operation"
        )
