#!/usr/bin/env bash
# Finetune base_model.pt on data/train.txt with the settings in config.json; the result is
# output/model.pt. The scorer rewrites config.json and data/ before each run and times this script.
set -euo pipefail
cd "$(dirname "$0")"

rm -rf work output
mkdir -p work output

echo "== tokenize"
python tokenize_data.py --config config.json
echo "== train"
python train.py --config config.json
echo "== convert"
python convert.py --config config.json
echo "== done: $(ls -l output/model.pt)"
