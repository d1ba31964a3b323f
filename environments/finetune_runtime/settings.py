"""Scale settings of `finetune_runtime` (no torch here: the environment module imports this)."""

from __future__ import annotations

import os
from typing import Any

# The model architecture and the finetuning hyperparameters per scale. The scorer writes these,
# with a fresh data-order seed, into the workspace's config.json before every run.
SCALES: dict[str, dict[str, Any]] = {
    "cpu": {
        "model": {"n_layer": 2, "n_head": 4, "n_embd": 64, "block_size": 64},
        "base": "base_small.pt",
        "steps": 200,
        "batch_size": 16,
        "lr": 1e-3,
        "warmup_steps": 10,
        "weight_decay": 0.01,
        "grad_clip": 1.0,
        "train_bytes": 120_000,
        "device": "cpu",
    },
    # For the test suite only: the same model, few steps.
    "test": {
        "model": {"n_layer": 2, "n_head": 4, "n_embd": 64, "block_size": 64},
        "base": "base_small.pt",
        "steps": 30,
        "batch_size": 8,
        "lr": 1e-3,
        "warmup_steps": 3,
        "weight_decay": 0.01,
        "grad_clip": 1.0,
        "train_bytes": 30_000,
        "device": "cpu",
    },
    # One GPU: a bigger model, more steps. Its base is built at prepare time from a seeded
    # initialisation (no pretraining) and cached; not calibrated here (no GPU on this machine).
    "gpu": {
        "model": {"n_layer": 6, "n_head": 8, "n_embd": 384, "block_size": 256},
        "base": None,
        "steps": 600,
        "batch_size": 32,
        "lr": 6e-4,
        "warmup_steps": 50,
        "weight_decay": 0.01,
        "grad_clip": 1.0,
        "train_bytes": 1_000_000,
        "device": "cuda",
    },
}

VALID_BYTES = 16_384
OUTPUT = "output/model.pt"  # what finetune.sh leaves, relative to the workspace
BETAS = (0.9, 0.95)


def fresh_seeds() -> tuple[int, int]:
    """(data-order seed, data-window seed) of one scored run, drawn from os.urandom."""
    return int.from_bytes(os.urandom(4), "little"), int.from_bytes(os.urandom(4), "little")


def run_config(scale: str, seed: int) -> dict[str, Any]:
    """The config.json of one run: the scale's settings, the data-order seed and the file names."""
    s = SCALES[scale]
    return {
        "seed": seed,
        "model": dict(s["model"]),
        "steps": s["steps"],
        "batch_size": s["batch_size"],
        "lr": s["lr"],
        "warmup_steps": s["warmup_steps"],
        "weight_decay": s["weight_decay"],
        "betas": list(BETAS),
        "grad_clip": s["grad_clip"],
        "device": s["device"],
        "train_file": "data/train.txt",
        "valid_file": "data/valid.txt",
        "base_model": "base_model.pt",
        "output": OUTPUT,
    }
