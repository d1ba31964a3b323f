"""Check a model the way the scorer does, on the held-out tail of train.bin.

    python evaluate.py            # export, check and run model.get_trained_model() on the last 10% of train.bin

The scorer does exactly this on its hidden validation text (with its own mask seed):
it exports the model with `torch.export` at the fixed input shape (batch, seq_len),
checks every operation of the graph against the whitelist and runs the graph itself on
the windows in a shuffled order, the last batch padded with PAD rows. `model_graph/`
here is a copy of the scorer's export, check and interpreter, and `op_whitelist.py` of
its whitelist, so a model this script refuses is refused by the scorer with the same
reason. The numbers are only a guide: the validation text is different documents.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import mlm_data  # noqa: E402
from model_graph import GraphError, export_graph, load_graph, run, write_graph  # noqa: E402
from op_whitelist import graph_operations  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--holdout", type=float, default=0.1, help="the tail fraction of train.bin to evaluate on")
    parser.add_argument("--seed", type=int, default=1234, help="the mask seed (the scorer uses its own)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    seq_len, fraction, floor = mlm_data.SCALE["seq_len"], mlm_data.SCALE["mask_fraction"], mlm_data.SCALE["floor"]
    batch = mlm_data.SCALE.get("batch", 64)  # the scorer's: the graph is exported at this batch size
    data = (HERE / "train.bin").read_bytes()
    data = data[len(data) - int(len(data) * args.holdout) :]
    inputs, targets, masked = mlm_data.shuffled(
        args.seed + 1, *mlm_data.fixed_masked_set(data, seq_len, fraction, args.seed)
    )

    import model as model_module

    model = model_module.get_trained_model()
    device = "cpu"
    if isinstance(model, torch.nn.Module):
        device = str(next((p.device for p in model.parameters()), torch.device("cpu")))
        model = model.to(device).eval()

    started = time.monotonic()
    try:
        graph, tensors = export_graph(model, batch, seq_len, device)
        with tempfile.TemporaryDirectory(prefix="mlm-graph-") as folder:
            write_graph(Path(folder), graph, tensors)
            program = load_graph(Path(folder), graph_operations(), (batch, seq_len), device)
    except GraphError as exc:
        print(f"INVALID: {exc.reason}")
        return 1
    print(f"exported and checked in {time.monotonic() - started:.1f} s: {len(program.steps)} nodes")
    print("operations: " + ", ".join(program.operations))

    def forward(x: torch.Tensor) -> torch.Tensor:
        out = run(program, mlm_data.pad_rows(x, batch).to(device))
        return mlm_data.check_logits(out, batch, seq_len)[: len(x)]

    started = time.monotonic()
    try:
        loss = mlm_data.evaluate(forward, inputs, targets, masked, batch)
    except (GraphError, mlm_data.BadOutput) as exc:
        print(f"INVALID: {getattr(exc, 'reason', exc)}")
        return 1
    print(f"masked tokens {int(masked.sum())}, windows {len(inputs)} x {seq_len}, {time.monotonic() - started:.1f} s")
    print(f"loss {loss:.4f} nats; raw score ln(loss - {floor}) = {math.log(loss - floor):.4f} (lower is better)")
    compare_with_eager(model, program, inputs[:batch], device)
    return 0


def compare_with_eager(model, program, x: torch.Tensor, device: str) -> None:
    """Warn when calling the model directly gives other logits than its graph: the graph is what is scored."""
    x = mlm_data.pad_rows(x, program.input_shape[0]).to(device)
    try:
        with torch.no_grad():
            eager = model(x)
        gap = float((eager.float() - run(program, x).float()).abs().max())
    except Exception as exc:  # the model's own call is not checked: anything may happen in it
        print(f"note: calling the model directly failed ({type(exc).__name__}: {exc}); the graph is what is scored")
        return
    if gap > 1e-3:
        print(f"WARNING: the model's own logits differ from its graph's by up to {gap:.4g}; the graph is scored")


if __name__ == "__main__":
    raise SystemExit(main())
