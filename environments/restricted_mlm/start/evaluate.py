"""Check a model the way the scorer does, on the held-out tail of train.bin.

    python evaluate.py            # loss of model.get_trained_model() on the last 10% of train.bin

The scorer uses the same windows, mask fraction, batching and loss on its own hidden
validation text (with its own mask seed), and runs every forward pass under the same
operation whitelist (`op_whitelist.py` here is a copy of the scorer's). A disallowed
operation stops this check with its name, exactly as it makes a scoring invalid.
The numbers here are only a guide: the validation text is different documents.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import mlm_data  # noqa: E402
from op_whitelist import OpWhitelist  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--holdout", type=float, default=0.1, help="the tail fraction of train.bin to evaluate on")
    parser.add_argument("--seed", type=int, default=1234, help="the mask seed (the scorer uses its own)")
    parser.add_argument("--batch", type=int, default=mlm_data.SCALE.get("batch", 64))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    seq_len, fraction, floor = mlm_data.SCALE["seq_len"], mlm_data.SCALE["mask_fraction"], mlm_data.SCALE["floor"]
    data = (HERE / "train.bin").read_bytes()
    data = data[len(data) - int(len(data) * args.holdout) :]
    inputs, targets, masked = mlm_data.fixed_masked_set(data, seq_len, fraction, args.seed)

    import model as model_module

    model = model_module.get_trained_model()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))

    def forward(x: torch.Tensor) -> torch.Tensor:
        x = x.to(device)
        with torch.no_grad(), OpWhitelist():
            return model(x)

    started = time.monotonic()
    loss = mlm_data.evaluate(forward, inputs, targets, masked, args.batch)
    print(f"masked tokens {int(masked.sum())}, windows {len(inputs)} x {seq_len}, {time.monotonic() - started:.1f} s")
    print(f"loss {loss:.4f} nats; raw score ln(loss - {floor}) = {math.log(loss - floor):.4f} (lower is better)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
