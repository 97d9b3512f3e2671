#!/usr/bin/env bash
# Reproduce astaudio's bundled keyword model from a clean checkout, offline:
#   bash recipes/synthetic-commands/run.sh
# 1. synthesise two datasets: espeak-ng + flite (data/), and the same with festival speaking 15 %
#    of the training words (data-festival/); the babble pool and the held-out voices are the same,
# 2. stage A: fine-tune the previous bundled model (from git history, commit 2f83ddd) on data/
#    with on-the-fly waveform augmentation, trimmed clips included: festival and piper are
#    engines it never hears (the leave-engines-out proxy for real people),
# 3. stage B: continue from stage A on data-festival/; piper stays unseen (its scores are the
#    recipe's unseen-engine estimate),
# 4. stage C: continue from stage B with piper's voice added to the training split
#    (add_piper.py),
# 5. stage E: continue from stage C with more background talkers and clipping, weights of its
#    later epochs averaged, the _unknown_ logit lowered by 0.5; E-loo, the same from stage B
#    without piper, is the unseen-voice estimate for it,
# 6. stage G: E's training plus four real people's voices with an accent (festival's Czech and
#    Italian diphones, add_accented.py), the _unknown_ logit lowered by 0.25; G-loo, the same
#    from stage B without piper; two more Czech/Italian voices and two Finnish ones are held
#    out; stage H: G's training plus one man's Hindi and Telugu voice (NSK); stage I: H's
#    training plus the Finnish pair, as trained; I-loo, the same from stage B without piper;
#    Russian (nsh) is held out,
# 7. stage L (the bundled model): stage I grown to 8 layers (grow_model.py) and trained again on
#    I's data, as trained; L-loo, the same from I-loo, without piper,
# 8. evaluate the previous model and every stage on the test split, the held-out accented
#    voices, the condition sets and real people's English (make_real_tests.py),
# 9. package L (fp16) into src/astaudio/bundled/keywords, refresh the held-out slice and samples.
# Needs the Debian packages espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k
# festvox-us-slt-hts sox ffmpeg (scripts/install-system-deps.sh), festival-czech
# festvox-czech-dita festvox-czech-krb festvox-czech-machac festvox-czech-ph festvox-italp16k
# festvox-itapc16k festvox-suopuhe-lj festvox-suopuhe-mv festvox-hi-nsk festvox-te-nsk festvox-ru
# festival-hi festival-te (the NSK voices only recommend them; without them they fail)
# for stages G to I and, for the piper source of the condition sets and stage C,
# `pip install -r recipes/synthetic-commands/requirements.txt`;
# klettres-data (real people: letters and short words) for the condition sets' klettres source;
# asterisk-core-sounds-en-wav pocketsphinx-testdata ktuberling-data hedgewars-data for the real
# people's sets. Uses the repository's .venv (made by `make test` or `make demo`) when there is
# one. Every step skips what is already done, and a stopped training stage resumes where it
# stopped: rerun the script.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ -x "$root/.venv/bin/python" ]; then PYTHON="$root/.venv/bin/python"; else PYTHON=${PYTHON:-python3}; fi
export PYTHONPATH="$root/src${PYTHONPATH:+:$PYTHONPATH}"
runs=${RUNS:-$here/runs}
data=$here/data
data_b=$here/data-festival
init=$runs/init
conditions=$data/conditions
# One torch thread: on a shared 2-core machine oversubscribed OpenMP threads made epochs up to 8x
# slower. Two DataLoader workers decode, augment and compute filter banks.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

[ -f "$data/manifest.csv" ] || "$PYTHON" "$here/make_dataset.py" --out "$data" --seed 0 --overwrite
[ -f "$data_b/manifest.csv" ] ||
  "$PYTHON" "$here/make_dataset.py" --out "$data_b" --seed 0 --festival-share 0.15 --overwrite
[ -f "$conditions/conditions.csv" ] || "$PYTHON" "$here/make_conditions.py" "$data" "$conditions" --takes 10
if [ ! -f "$init/model.safetensors" ] && git -C "$root" cat-file -e 2f83ddd 2>/dev/null; then
  mkdir -p "$init"
  for f in config.json preprocessor_config.json model.safetensors; do
    git -C "$root" show "2f83ddd:src/astaudio/bundled/keywords/$f" > "$init/$f"
  done
fi
init_arg=()
[ -f "$init/model.safetensors" ] && init_arg=(--init "$init")  # else: from random weights
cd "$here"
train() {  # train RUN_FOLDER DATA EPOCHS SCHEDULER_START [more train_kws.py arguments]
  local out=$1 set=$2 epochs=$3 start=$4
  shift 4
  "$PYTHON" "$here/train_kws.py" --data "$set" --out "$out" "$@" --epochs "$epochs" \
    --steps-per-epoch 150 --valid-every 2 --lr 3e-4 --scheduler-start "$start" \
    --warmup-steps 100 --workers 2 $([ -d "$out" ] && echo --resume)
}
train "$runs/stage-a" "$data" 24 6 "${init_arg[@]}"
train "$runs/stage-b" "$data_b" 24 6 --init "$runs/stage-a/best"
[ -f "$data_b/manifest-piper.csv" ] || "$PYTHON" "$here/add_piper.py" "$data_b" --clips-per-word 150
train "$runs/stage-c" "$data_b" 20 4 --init "$runs/stage-b/best" --manifest manifest-piper.csv
# Stage E: background talkers on half the clips (0.3 before), clipping on 15 % of them (5 %),
# and the weights of epochs 8-20 averaged (the AST recipe's weight averaging). E-loo does the
# same from stage B without piper: the unseen-voice estimate for what E changed.
stage_e=(--p-babble 0.5 --p-clip 0.15 --wa 8 20)
train "$runs/stage-e-loo" "$data_b" 20 4 --init "$runs/stage-b/best" "${stage_e[@]}"
train "$runs/stage-e" "$data_b" 20 4 --init "$runs/stage-c/best" --manifest manifest-piper.csv \
  "${stage_e[@]}"
# Stage G: E's training plus four real people's voices with an accent (festival's Czech and
# Italian diphones, add_accented.py); two more of them (krb, pc) and two Finnish voices (lj, mv)
# are held out as test sets.
# G-loo does the same from stage B without piper.
[ -f "$data_b/manifest-accent.csv" ] ||
  "$PYTHON" "$here/add_accented.py" "$data_b" --base manifest.csv --manifest manifest-accent.csv
[ -f "$data_b/manifest-piper-accent.csv" ] || "$PYTHON" "$here/add_accented.py" "$data_b" \
  --base manifest-piper.csv --manifest manifest-piper-accent.csv  # the same accented clips
for condition in clean trimmed-8k; do  # trimmed-8k: the layout of the issue's real-speaker set
  suffix=$([ $condition = clean ] || echo -$condition)
  [ -f "$data_b/accent$suffix-test.csv" ] || "$PYTHON" "$here/add_accented.py" "$data_b" \
    --voices czech_krb pc_diphone --clips-per-word 20 --test "accent$suffix-test.csv" \
    --condition $condition
  [ -f "$data_b/accent-unheard$suffix-test.csv" ] || "$PYTHON" "$here/add_accented.py" "$data_b" \
    --voices suo_fi_lj_diphone hy_fi_mv_diphone --clips-per-word 20 \
    --test "accent-unheard$suffix-test.csv" --condition $condition
done
train "$runs/stage-g-loo" "$data_b" 20 4 --init "$runs/stage-b/best" --manifest manifest-accent.csv \
  "${stage_e[@]}"
train "$runs/stage-g" "$data_b" 20 4 --init "$runs/stage-c/best" \
  --manifest manifest-piper-accent.csv "${stage_e[@]}"
# Stages H and I: more real people's voices with an accent (H: NSK's Hindi and Telugu; I: and the
# Finnish pair, so that Russian is the language never heard); I-loo is I's training without piper.
nsk=(--voices hindi_NSK_diphone telugu_NSK_diphone --clips-per-word 75)
finnish=(--voices suo_fi_lj_diphone hy_fi_mv_diphone --clips-per-word 75)
[ -f "$data_b/manifest-piper-accent-nsk.csv" ] || "$PYTHON" "$here/add_accented.py" "$data_b" \
  "${nsk[@]}" --base manifest-piper-accent.csv --manifest manifest-piper-accent-nsk.csv
[ -f "$data_b/manifest-piper-accent-nsk-fi.csv" ] || "$PYTHON" "$here/add_accented.py" "$data_b" \
  "${finnish[@]}" --base manifest-piper-accent-nsk.csv --manifest manifest-piper-accent-nsk-fi.csv
[ -f "$data_b/manifest-accent-nsk.csv" ] || "$PYTHON" "$here/add_accented.py" "$data_b" \
  "${nsk[@]}" --base manifest-accent.csv --manifest manifest-accent-nsk.csv  # the same clips
[ -f "$data_b/manifest-accent-nsk-fi.csv" ] || "$PYTHON" "$here/add_accented.py" "$data_b" \
  "${finnish[@]}" --base manifest-accent-nsk.csv --manifest manifest-accent-nsk-fi.csv
for condition in clean trimmed-8k; do
  suffix=$([ $condition = clean ] || echo -$condition)
  [ -f "$data_b/accent-ru$suffix-test.csv" ] || "$PYTHON" "$here/add_accented.py" "$data_b" \
    --voices msu_ru_nsh_clunits --clips-per-word 20 --test "accent-ru$suffix-test.csv" \
    --condition $condition
done
train "$runs/stage-h" "$data_b" 20 4 --init "$runs/stage-c/best" \
  --manifest manifest-piper-accent-nsk.csv "${stage_e[@]}"
train "$runs/stage-i-loo" "$data_b" 20 4 --init "$runs/stage-b/best" \
  --manifest manifest-accent-nsk-fi.csv "${stage_e[@]}"
train "$runs/stage-i" "$data_b" 20 4 --init "$runs/stage-c/best" \
  --manifest manifest-piper-accent-nsk-fi.csv "${stage_e[@]}"
# Stage L: stage I's averaged weights grown to 8 layers (each new layer starts as the identity)
# and trained again on I's clips.
[ -f "$runs/grown-i8/model.safetensors" ] ||
  "$PYTHON" "$here/grow_model.py" "$runs/stage-i/averaged" "$runs/grown-i8" --layers 8
[ -f "$runs/grown-iloo8/model.safetensors" ] ||
  "$PYTHON" "$here/grow_model.py" "$runs/stage-i-loo/averaged" "$runs/grown-iloo8" --layers 8
train "$runs/stage-l-loo" "$data_b" 20 4 --init "$runs/grown-iloo8" \
  --manifest manifest-accent-nsk-fi.csv "${stage_e[@]}"
train "$runs/stage-l" "$data_b" 20 4 --init "$runs/grown-i8" \
  --manifest manifest-piper-accent-nsk-fi.csv "${stage_e[@]}"
# The shipped operating points (README, "Stage E", "Stage G", "Stage I", "Stage L"): the _unknown_ logit
# lowered, or (I-loo, I, L-loo, L) left as trained.
for stage_offset in stage-e-loo:-0.5 stage-e:-0.5 stage-g-loo:-0.25 stage-g:-0.25 stage-h:-0.25 \
  stage-i-loo:0 stage-i:0 stage-l-loo:0 stage-l:0; do
  stage=${stage_offset%%:*}
  [ -f "$runs/$stage/shipped/model.safetensors" ] || "$PYTHON" "$here/offset_unknown.py" \
    "$runs/$stage/averaged" "$runs/$stage/shipped" --offset "${stage_offset#*:}" \
    $([[ "$stage" =~ ^stage-(i|l|l-loo)$ ]] && echo --center-short-clips)  # as bundled
done
model=$runs/stage-l/shipped
for m in "${init_arg[@]:1}" "$runs/stage-a/best" "$runs/stage-b/best" "$runs/stage-c/best" \
  "$runs/stage-e-loo/shipped" "$runs/stage-e/shipped" "$runs/stage-g-loo/shipped" \
  "$runs/stage-g/shipped" "$runs/stage-h/shipped" "$runs/stage-i-loo/shipped" \
  "$runs/stage-i/shipped" "$runs/stage-l-loo/shipped" "$model"; do
  [ -f "$m/test/metrics.json" ] || "$PYTHON" -m astaudio evaluate "$m" --data "$data_b/manifest.csv" \
    --labels "$data_b/class_labels_indices.csv" --split test -o "$m/test" | tee "$m/test.txt"
  for set in accent accent-unheard accent-ru accent-trimmed-8k accent-unheard-trimmed-8k \
    accent-ru-trimmed-8k; do
    [ -f "$m/$set/metrics.json" ] || "$PYTHON" -m astaudio evaluate "$m" \
      --data "$data_b/$set-test.csv" --labels "$data_b/class_labels_indices.csv" --split test \
      -o "$m/$set" | tee "$m/$set.txt"
  done
done
"$PYTHON" "$here/make_conditions.py" "$data" "$conditions" --evaluate ${init_arg[@]:1} \
  "$runs/stage-a/best" "$runs/stage-b/best" "$runs/stage-c/best" "$runs/stage-e-loo/averaged" \
  "$runs/stage-e-loo/shipped" "$runs/stage-e/averaged" "$runs/stage-e/shipped" \
  "$runs/stage-g-loo/averaged" "$runs/stage-g-loo/shipped" "$runs/stage-g/averaged" \
  "$runs/stage-g/shipped" "$runs/stage-h/shipped" "$runs/stage-i-loo/shipped" \
  "$runs/stage-i/shipped" "$runs/stage-l-loo/shipped" "$model" \
  --json "$runs/conditions.json" --confusions 6 | tee "$runs/conditions.txt"
# Real people's English (Debian's Asterisk prompts, pocketsphinx test utterances, KTuberling)
[ -f "$data/real/conditions.csv" ] || "$PYTHON" "$here/make_real_tests.py" "$data/real"
"$PYTHON" "$here/make_conditions.py" "$data" "$data/real" --evaluate "$runs/stage-i/shipped" \
  "$model" --json "$runs/real.json" --confusions 6 | tee "$runs/real.txt"
"$PYTHON" "$here/package_model.py" "$model" "$root/src/astaudio/bundled/keywords" \
  --metrics "$model/test/metrics.json" --conditions "$runs/conditions.json" --model-key "$model" \
  --real "$runs/real.json" \
  --accented heard "$model/accent/metrics.json" \
  --accented russian "$model/accent-ru/metrics.json" \
  --accented heard-trimmed-8k "$model/accent-trimmed-8k/metrics.json" \
  --accented russian-trimmed-8k "$model/accent-ru-trimmed-8k/metrics.json" \
  --unseen "$runs/stage-a/best" festival A --unseen "$runs/stage-a/best" piper A \
  --unseen "$runs/stage-b/best" piper B --unseen "$runs/stage-g-loo/shipped" piper G-loo \
  --unseen "$runs/stage-i-loo/shipped" piper I-loo \
  --unseen "$runs/stage-l-loo/shipped" piper L-loo
"$PYTHON" -m astaudio evaluate "$root/src/astaudio/bundled/keywords" --data "$data_b/manifest.csv" \
  --labels "$data_b/class_labels_indices.csv" --split test | tee "$runs/test-fp16.txt"
"$PYTHON" "$here/make_heldout.py" "$data_b" "$root/tests/data/keywords-heldout" --per-class 5 \
  --conditions "$conditions" --per-condition 6
"$PYTHON" "$here/make_samples.py"
