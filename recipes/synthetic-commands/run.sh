#!/usr/bin/env bash
# Reproduce astaudio's bundled keyword model from a clean checkout, offline:
#   bash recipes/synthetic-commands/run.sh
# 1. synthesise the dataset (espeak-ng, flite; babble pool), 2. fine-tune the previous bundled
# model (taken from git history, commit da244cc) with on-the-fly waveform augmentation,
# 3. evaluate on held-out voices and on the condition sets (festival = unseen engine), old model
# next to new, 4. package the best epoch (fp16) into src/astaudio/bundled/keywords, 5. refresh
# the committed held-out slice and the samples.
# Needs the Debian packages espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k
# festvox-us-slt-hts sox ffmpeg (scripts/install-system-deps.sh). Uses the repository's .venv
# (made by `make test` or `make demo`) when there is one.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ -x "$root/.venv/bin/python" ]; then PYTHON="$root/.venv/bin/python"; else PYTHON=${PYTHON:-python3}; fi
export PYTHONPATH="$root/src${PYTHONPATH:+:$PYTHONPATH}"
run=${RUN:-$here/runs/kws}
data=$here/data
init=$here/runs/init
conditions=$here/data/conditions
# One torch thread: on a shared 2-core machine oversubscribed OpenMP threads made epochs up to 8x
# slower. Two DataLoader workers decode, augment and compute filter banks.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

[ -f "$data/manifest.csv" ] || "$PYTHON" "$here/make_dataset.py" --out "$data" --seed 0
init_arg=()
if [ ! -f "$init/model.safetensors" ] && git -C "$root" cat-file -e da244cc 2>/dev/null; then
  mkdir -p "$init"
  for f in config.json preprocessor_config.json model.safetensors; do
    git -C "$root" show "da244cc:src/astaudio/bundled/keywords/$f" > "$init/$f"
  done
fi
[ -f "$init/model.safetensors" ] && init_arg=(--init "$init")  # else: from random weights
cd "$here"
"$PYTHON" "$here/train_kws.py" --data "$data" --out "$run" "${init_arg[@]}" \
  --epochs "${EPOCHS:-17}" --steps-per-epoch 150 --valid-every 2 --lr 5e-4 --scheduler-start 4 \
  --warmup-steps 200 --workers 2 $([ -d "$run" ] && echo --resume)
model=${MODEL:-$run/best}  # the epoch that validation picked
"$PYTHON" -m astaudio evaluate "$model" --data "$data/manifest.csv" \
  --labels "$data/class_labels_indices.csv" --split test -o "$run/test" | tee "$run/test.txt"
[ -f "$conditions/conditions.csv" ] || "$PYTHON" "$here/make_conditions.py" "$data" "$conditions" --takes 8
"$PYTHON" "$here/make_conditions.py" "$data" "$conditions" --evaluate "$model" ${init_arg[@]:1} \
  --json "$run/conditions.json" | tee "$run/conditions.txt"
"$PYTHON" "$here/package_model.py" "$model" "$root/src/astaudio/bundled/keywords" \
  --metrics "$run/test/metrics.json" --conditions "$run/conditions.json" --model-key "$model"
"$PYTHON" -m astaudio evaluate "$root/src/astaudio/bundled/keywords" --data "$data/manifest.csv" \
  --labels "$data/class_labels_indices.csv" --split test | tee "$run/test-fp16.txt"
"$PYTHON" "$here/make_heldout.py" "$data" "$root/tests/data/keywords-heldout" --per-class 5 \
  --conditions "$conditions" --per-condition 8
"$PYTHON" "$here/make_samples.py"
