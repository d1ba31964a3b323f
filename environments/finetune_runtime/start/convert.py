"""Stage 3: convert the last checkpoint into the final weights, output/model.pt (float32).

The weights go through a portable JSON export (work/model.json) first.
"""

import argparse
import json

import torch


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="config.json")
    args = parser.parse_args()
    with open(args.config) as f:
        config = json.load(f)

    checkpoint = torch.load("work/checkpoint.pt", map_location="cpu", weights_only=True)
    exported = {}
    for name, tensor in checkpoint["model"].items():
        values = []
        for v in tensor.flatten():
            values.append(float(v))
        exported[name] = {"shape": list(tensor.shape), "values": values}
    with open("work/model.json", "w") as f:
        json.dump(exported, f, indent=1)

    with open("work/model.json") as f:
        exported = json.load(f)
    state = {}
    for name, entry in exported.items():
        state[name] = torch.tensor(entry["values"], dtype=torch.float32).reshape(entry["shape"])
    torch.save(state, config["output"])
    print(f"wrote {config['output']}: {len(state)} tensors, {sum(t.numel() for t in state.values())} parameters")


if __name__ == "__main__":
    main()
