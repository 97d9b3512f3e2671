#!/usr/bin/env bash
# Reproduce astaudio's bundled keyword model from a clean checkout, offline:
#   bash recipes/synthetic-commands/run.sh
# 1. synthesise the dataset, 2. train a small AST from random weights, 3. evaluate on held-out
# voices, 4. package the best epoch (fp16) into src/astaudio/bundled/keywords.
# Uses the repository's .venv (made by `make test` or `make demo`) when there is one.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ -x "$root/.venv/bin/python" ]; then PYTHON="$root/.venv/bin/python"; else PYTHON=${PYTHON:-python3}; fi
run=${RUN:-$here/runs/kws}
data=$here/data

[ -f "$data/manifest.csv" ] || "$PYTHON" "$here/make_dataset.py" --out "$data" --seed 0
cd "$here"
# Two torch threads on an otherwise idle 2-core machine (3.7 batches/s); on a busy one set
# OMP_NUM_THREADS=1: oversubscribed OpenMP threads made epochs up to 8x slower.
OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} "$PYTHON" -m astaudio finetune \
  --model-config hidden_size=128 num_hidden_layers=4 num_attention_heads=4 intermediate_size=512 \
                 num_mel_bins=64 frequency_stride=8 time_stride=8 max_length=100 \
  --preset speechcommands --train "$data/manifest.csv" --labels "$data/class_labels_indices.csv" \
  --output-dir "$run" --loss ce --lr 1e-3 --warmup --warmup-steps 200 --batch-size 64 \
  --epochs "${EPOCHS:-30}" --mixup 0 --freqm 12 --timem 20 --max-length 100 --scheduler-start 10 \
  --wa 21 30 --workers 2 --cache-dir "$run-cache" --seed 0 $([ -d "$run" ] && echo --resume)
"$PYTHON" -m astaudio evaluate "$run/best" --data "$data/manifest.csv" \
  --labels "$data/class_labels_indices.csv" --split test -o "$run/test" | tee "$run/test.txt"
"$PYTHON" "$here/package_model.py" "$run/best" "$root/src/astaudio/bundled/keywords" \
  --metrics "$run/test/metrics.json"
"$PYTHON" -m astaudio evaluate "$root/src/astaudio/bundled/keywords" --data "$data/manifest.csv" \
  --labels "$data/class_labels_indices.csv" --split test | tee "$run/test-fp16.txt"
"$PYTHON" "$here/make_heldout.py" "$data" "$root/tests/data/keywords-heldout" --per-class 10
