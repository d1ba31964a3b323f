"""The graph format's names and limits, shared by the side that writes it and the side that checks it.

graph.json:

    {"format": "rebench-mlm-graph", "version": 1, "input_shape": [batch, seq],
     "inputs": [{"name": "p_embed_weight", "tensor": "embed.weight"}, ..., {"name": "tokens", "tokens": true}],
     "nodes": [{"name": "add", "op": "aten.add.Tensor", "args": [{"ref": "mul"}, 256], "kwargs": {}}, ...],
     "output": "view_3"}

Arguments are JSON null, booleans, integers, finite floats, strings and lists, or one of
the tagged objects {"ref": node}, {"float": "inf" | "-inf" | "nan"}, {"dtype": "float32"},
{"device": "cpu"}, {"layout": "strided"}, {"memory_format": "contiguous_format"}.
tensors.pt is `torch.save` of a dict from the names in "inputs" to plain dense tensors.
"""

from __future__ import annotations

import torch

FORMAT = "rebench-mlm-graph"
VERSION = 1
GRAPH_FILE = "graph.json"
TENSORS_FILE = "tensors.pt"
GETITEM = "operator.getitem"  # picks one tensor of an operation that returns several

# Larger files are refused before they are parsed.
MAX_GRAPH_BYTES = 16 * 2**20
MAX_TENSORS_BYTES = 2**30
MAX_NODES = 100_000
MAX_NESTING = 4  # lists in arguments: cat's [tensors], index's [optional tensors]
MAX_NAME = 200  # characters in a node or tensor name

# Tensor dtypes a graph may hold or name: real numbers and booleans (no complex, quantized or
# float8 values, whose arithmetic would be other functions).
DTYPES: dict[str, torch.dtype] = {
    "float64": torch.float64, "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
    "int64": torch.int64, "int32": torch.int32, "int16": torch.int16, "int8": torch.int8, "uint8": torch.uint8,
    "bool": torch.bool,
}  # fmt: skip
LAYOUTS: dict[str, torch.layout] = {"strided": torch.strided}
MEMORY_FORMATS: dict[str, torch.memory_format] = {
    "contiguous_format": torch.contiguous_format,
    "preserve_format": torch.preserve_format,
    "channels_last": torch.channels_last,
    "channels_last_3d": torch.channels_last_3d,
}
NON_FINITE = {"inf": float("inf"), "-inf": float("-inf"), "nan": float("nan")}


class GraphError(Exception):
    """The model cannot be exported, or its graph is refused or fails; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
