#!/usr/bin/env bash
# The reference: the same finetuning in one process, batched, float32, no per-step evaluation,
# checkpoints or JSON round trips.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p output
python finetune_fast.py config.json
