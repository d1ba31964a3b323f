"""Writing a model as a graph (runs in the model's own process, as the participant).

`torch.export` traces the forward pass at one fixed input shape with fake tensors, and
`run_decompositions()` rewrites it into core aten operations. The check is made on that
decomposed graph, because it keeps the rule tight: a composite operation (`linear`,
`einsum`, `matmul`, `layer_norm`) stands for others, and checking its name alone would
trust whatever it decomposes into; decomposed, every node is a primitive kernel that
the scorer looks up and runs itself (`linear` becomes `permute` + `addmm`, `einsum`
becomes `permute`, `view` and `bmm`). Decomposition also makes the graph functional:
in-place updates become new values, and a forward pass that changes its own buffers
shows up as a mutated buffer, which is refused.
"""

from __future__ import annotations

import json
import math
import operator
import warnings
from pathlib import Path
from typing import Any

import torch

from .format import FORMAT, GETITEM, GRAPH_FILE, TENSORS_FILE, VERSION, GraphError


class _CallableModel(torch.nn.Module):
    """Lets `torch.export` trace a model that is a plain callable rather than an nn.Module."""

    def __init__(self, fn: Any) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, tokens: torch.Tensor) -> Any:
        return self.fn(tokens)


def export_graph(model: Any, batch: int, seq_len: int, device: str = "cpu") -> tuple[dict, dict[str, torch.Tensor]]:
    """(graph document, tensors) of `model` on int64 tokens of shape (batch, seq_len).

    Raises GraphError when the forward pass cannot be exported: data-dependent Python
    control flow (`if x.sum() > 0`), reading values (`.item()`, `.tolist()`), operations
    that hide from tracing, or state kept between calls."""
    module = model if isinstance(model, torch.nn.Module) else _CallableModel(model)
    tokens = torch.zeros(batch, seq_len, dtype=torch.long, device=device)
    try:
        with warnings.catch_warnings():  # torch's own deprecation notices, not the participant's concern
            warnings.simplefilter("ignore", FutureWarning)
            exported = torch.export.export(module, (tokens,), strict=False).run_decompositions()
    except Exception as exc:  # whatever the model's code raises while it is traced
        why = f"{type(exc).__name__}: {exc}"
        raise GraphError(f"the model cannot be exported with torch.export: {why}"[:3000]) from None
    return _encode(exported, batch, seq_len)


def write_graph(folder: Path, graph: dict, tensors: dict[str, torch.Tensor]) -> None:
    """graph.json and tensors.pt in `folder`."""
    (folder / GRAPH_FILE).write_text(json.dumps(graph, allow_nan=False))
    torch.save(tensors, folder / TENSORS_FILE)


def _encode(exported: torch.export.ExportedProgram, batch: int, seq_len: int) -> tuple[dict, dict[str, torch.Tensor]]:
    from torch.export.graph_signature import InputKind, OutputKind

    signature = exported.graph_signature
    specs = {spec.arg.name: spec for spec in signature.input_specs}
    inputs: list[dict[str, Any]] = []
    tensors: dict[str, torch.Tensor] = {}
    nodes: list[dict[str, Any]] = []
    output: str | None = None
    for node in exported.graph.nodes:
        if node.op == "placeholder":
            spec = specs[node.name]
            if spec.kind == InputKind.USER_INPUT:
                inputs.append({"name": node.name, "tokens": True})
                continue
            if spec.kind not in (InputKind.PARAMETER, InputKind.BUFFER, InputKind.CONSTANT_TENSOR):
                raise GraphError(f"the graph takes an input of kind {spec.kind.name} ({spec.target}), not a tensor")
            value = exported.state_dict.get(spec.target, exported.constants.get(spec.target))
            if not isinstance(value, torch.Tensor):
                raise GraphError(f"the graph's constant {spec.target!r} is a {type(value).__name__}, not a tensor")
            tensors[spec.target] = value.detach().to("cpu")
            inputs.append({"name": node.name, "tensor": spec.target})
        elif node.op == "call_function":
            nodes.append({"name": node.name, "op": _op_name(node.target), "args": _value(node.args, node.name),
                          "kwargs": {k: _value(v, node.name) for k, v in node.kwargs.items()}})  # fmt: skip
        elif node.op == "output":
            outputs = [spec for spec in signature.output_specs]
            changed = [spec.target for spec in outputs if spec.kind != OutputKind.USER_OUTPUT]
            if changed:
                raise GraphError(
                    f"the forward pass changes {', '.join(map(str, changed))} in place; a scored model may not "
                    "keep state between calls"
                )
            if len(outputs) != 1:
                raise GraphError(f"the forward pass returns {len(outputs)} values; return one tensor of logits")
            arg = outputs[0].arg
            if not hasattr(arg, "name") or not isinstance(arg.name, str):
                raise GraphError(f"the forward pass returns {arg}, not a tensor")
            output = arg.name
        else:  # get_attr: the subgraph of a higher-order operation such as torch.cond
            raise GraphError(
                f"node {node.name!r} is a subgraph ({node.op} {node.target!r}), as control flow like torch.cond "
                "makes; a scored graph is one straight line of operations"
            )
    if output is None:
        raise GraphError("the exported graph has no output")
    graph = {"format": FORMAT, "version": VERSION, "input_shape": [batch, seq_len], "inputs": inputs,
             "nodes": nodes, "output": output}  # fmt: skip
    return graph, tensors


def _op_name(target: Any) -> str:
    """The name "aten.add.Tensor" for an aten overload, a descriptive name for anything else."""
    if target is operator.getitem:
        return GETITEM
    if isinstance(target, torch._ops.OpOverload):
        return f"{target.namespace}.{target._overloadpacket.__name__}.{target._overloadname}"
    return f"{getattr(target, '__module__', None) or type(target).__module__}.{getattr(target, '__name__', target)}"


def _value(value: Any, node: str) -> Any:
    """An argument as plain JSON (see format.py)."""
    if isinstance(value, torch.fx.Node):
        return {"ref": value.name}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": str(value)}
    if isinstance(value, (list, tuple)):
        return [_value(v, node) for v in value]
    if isinstance(value, torch.dtype):
        return {"dtype": str(value).removeprefix("torch.")}
    if isinstance(value, torch.device):
        return {"device": str(value)}
    if isinstance(value, torch.layout):
        return {"layout": str(value).removeprefix("torch.")}
    if isinstance(value, torch.memory_format):
        return {"memory_format": str(value).removeprefix("torch.")}
    if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        raise GraphError(f"node {node!r} uses a size that depends on the data ({value}); shapes must be fixed")
    raise GraphError(f"node {node!r} has an argument of type {type(value).__name__}, which the graph cannot hold")
