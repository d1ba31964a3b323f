"""A model's forward pass as a plain graph of aten operations (a copy of this package is in your workspace).

The restricted_mlm scorer checks the operations a model uses outside the model's process:

1. `export.export_graph` (in the model's process) traces the model with `torch.export` at
   a fixed input shape, decomposes it to core aten operations and writes it in our own
   format: `graph.json` (operations and their arguments as plain JSON) and `tensors.pt`
   (the weights, a plain dict of tensors). Nothing in either file is code.
2. `check.load_graph` (in the scorer's process) parses both defensively and resolves every
   node's operation through a fixed table of allowed operations; any other name, a
   malformed file or a pickle that is not plain tensors is refused with the reason.
3. `interpret.run` executes the checked graph with those operations and no other code.
"""

from __future__ import annotations

from .check import Program, load_graph
from .export import export_graph, write_graph
from .format import GraphError
from .interpret import run

__all__ = ["GraphError", "Program", "export_graph", "load_graph", "run", "write_graph"]
