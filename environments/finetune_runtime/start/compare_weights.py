"""Compare two trained weight files the way the scorer does.

    python compare_weights.py output/model.pt other_model.pt [base_model.pt]

Prints ||a - b||_2 / ||b - base||_2 over all tensors: the scorer requires this to be at most
the stated tolerance, with b the weights the scorer computes itself for the run's seed and data.
Run the starting scripts and your version on the same config.json and data to check a change.
"""

import sys

import torch


def load(path):
    return {k: v.double() for k, v in torch.load(path, map_location="cpu", weights_only=True).items()}


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    a, b = load(sys.argv[1]), load(sys.argv[2])
    base = load(sys.argv[3] if len(sys.argv) == 4 else "base_model.pt")
    diff = sum(float((a[k] - b[k]).pow(2).sum()) for k in b) ** 0.5
    change = sum(float((b[k] - base[k]).pow(2).sum()) for k in b) ** 0.5
    print(f"relative L2 difference: {diff / change:.6f}  (L2 {diff:.6f}, training changed b by L2 {change:.4f})")


if __name__ == "__main__":
    main()
