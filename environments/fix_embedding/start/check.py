"""Check a repaired model before you score it: the architecture test the scorer makes, and a loss.

    python check.py                   # checks fixed_model.pt
    python check.py large_model.pt    # any other file

The loss printed here is on a slice of train.bin (text the models were trained on), so it
is lower than the held-out loss the scorer measures; use it to compare models. It is
only a helper: your score comes from the `score` tool.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import model as tiny_gpt
import torch

# The architecture the scorer expects (this line is written when the workspace is made).
LARGE = {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 128}
FLOOR = 0.6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", nargs="?", default="fixed_model.pt")
    parser.add_argument("--bytes", type=int, default=65536, help="how much of the end of train.bin to evaluate")
    args = parser.parse_args()
    state = torch.load(args.path, map_location="cpu", weights_only=True)
    config = tiny_gpt.GPTConfig(**LARGE)
    problem = tiny_gpt.check_state(state, config)
    if problem:
        print(f"INVALID: {problem}")
        return 1
    model = tiny_gpt.GPT(config)
    model.load_state_dict({k: v.float() for k, v in state.items()})
    with open("train.bin", "rb") as f:
        text = f.read()[-args.bytes :]
    started = time.perf_counter()
    loss = tiny_gpt.evaluate(model, text)
    print(f"architecture ok; loss on the last {len(text)} bytes of train.bin: {loss:.4f} nats/byte")
    print(f"(the score would be ln(loss - {FLOOR}) = {math.log(loss - FLOOR):.4f} if this were the held-out text)")
    print(f"evaluated in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
