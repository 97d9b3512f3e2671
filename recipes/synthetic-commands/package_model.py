"""Package a trained run as astaudio's bundled model: fp16 weights, configs and a model card.

python package_model.py RUN/best OUT_FOLDER --metrics RUN/test/metrics.json [--fp32]
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

CARD = """# keywords: astaudio's bundled keyword-spotting model

A small Audio Spectrogram Transformer ({params:,} parameters: {layers} layers, hidden {hidden},
{heads} heads, {frames} frames = {seconds:.2f} s windows, 16x16 patches at strides
{fstride}/{tstride}; {size_mb:.1f} MB of {dtype} weights), trained with `astaudio` on the
synthetic speech-commands dataset of `recipes/synthetic-commands/`, in stages: espeak-ng and
flite voices from random weights (earlier bundled models); then stage A, the same voices with
clips trimmed to the word and plain 8-kHz audio added to the augmentation; stage B, festival's
kal, ked and slt voices speaking 15 % of the training words; stage C, piper's neural voice `joe`
added (3,375 clips); stage E, background talkers on half the training clips and clipping on
15 % of them, the weights of epochs 8-20 averaged; stage G, E's training with 3,375 clips of
four real people's voices added (festival's Czech dita, machac, ph and Italian lp diphone
voices, saying the commands as their own language spells them: an accent); stage I, G's
training with 3,376 clips of three more real people's voices (festival's Hindi and Telugu voice
of one man, NSK, and Finnish lj and mv); stage L (this model), stage I's weights grown from 4 to
8 layers (`grow_model.py`: each new layer starts as the identity, so the grown model says what
I said) and trained again on I's data, as trained (the recipe README says why no `_unknown_`
offset).

Training data: 23,500 clips of 360 speakers (espeak-ng: every English accent x every voice
variant, klatt, whisper and croak included; flite awb and slt; festival kal, ked, slt) plus the
piper clips and 6,751 accented ones; a 675-text `_unknown_` class (near-misses of every command: tree,
sick, hate, nine -> mine, fort, ...; validation and test texts never trained on), babble-only and noise-only
`_silence_` clips; on-the-fly augmentation: clips trimmed to the word (4 in 10), 1-3 background
talkers at 0-20 dB (half the clips), real and coloured noise, simulated rooms, telephone band
(mu-law / A-law) and plain 8 kHz, MP3 / Vorbis / Opus, gain -45 to -6 dBFS (15 % of clips then
clipped), DC offset, speed +-12 %, word flush against the clip edge, SpecAugment.

Classes ({num_labels}): {labels}.

Clips shorter than the 1-s window (a word cut to its own length) are zero-padded around the
middle before the filter banks (`"center_short_clips": true` in preprocessor_config.json, an
astaudio setting that transformers ignores), as the training clips hold their word inside a
second of audio. This model's figures below are measured that way; the earlier stages'
columns are not (filter banks of the clip padded at the end, as transformers computes them),
which costs trimmed words 10-14 points (the recipe README has both).

Speed: about 4 ms per 1-s clip on one CPU core, end to end (WAV decode, filter banks, model;
batches of 8; measured 2026-11-30 on the project's 2-core x86 machine next to a training run:
4.39 ms over 500 clips, where the 4-layer stage I took 2.48 ms).

Held-out test split (31 espeak-ng / flite speakers never heard in training, 4,700 clips, a third
of them with noise or background talkers): accuracy **{accuracy:.2%}** with these {dtype} weights
(macro F1 {macro_f1:.3f}).
{accented}{real}{conditions}
How to read it: festival and piper are engines this model has heard (other texts, other
takes); the columns of the stages that never heard them are the estimate for a voice never
heard. The closest synthetic stand-in for real people is piper's (a neural voice trained on one
real speaker's recordings) in stage L-loo: this model's training, growth included, without
piper. The klettres column is real people (two speakers of Debian's klettres-data) saying
letters and short words that are not commands.

Known weaknesses: it has heard speech synthesisers and diphones of a few real people. The real
English speakers above are few (one woman's ten telephone digits, 12 digits of three talkers
cut from running speech): 19 of their 22 digits are right, but the accented voices it never
heard put real people's digits recorded at 8 kHz and cut to the word at 6.5 to 8 in 10 (the
Czech child and Italian man 78 %, the Russian man 64 %), short of the 9 in 10 a keyword
spotter needs for every speaker. Words said in a way no training voice says them are lost
whole, mostly to `_unknown_`. Background talkers at 10 dB are its worst condition (about 2 in
3 right on new voices). "down" is its weakest word (96 of 200 right on the test split, 63
taken for `_unknown_`, 15 for "nine"). Real people's words that are not commands are taken for
commands 3 to 4 times in 10 (numbers and ordinals that hold a digit: 18 -> eight, 70 ->
seven; letters: C -> three, A -> eight; short words of running speech: he -> two, might ->
five). Exact homophones of a command (won, to, for, know, write, ate) are heard as the command.
Reproduce with `bash recipes/synthetic-commands/run.sh`.
"""

SOURCE_NAMES = {
    "seen-engines": "espeak-ng / flite test voices",
    "festival": "festival",
    "piper": "piper",
    "klettres": "real people (klettres)",
}


def model_scores(every: dict, key: str | None) -> dict:
    """One model's scores in make_conditions.py --json output: ``key``'s, or the first model's."""
    return every[key] if key else next(iter(every.values()))


def conditions_table(
    path: Path | None, key: str | None, unseen: list[tuple[str, str, str]] = ()
) -> str:
    """The model's make_conditions.py scores as a Markdown table (empty without --conditions),
    plus, per (model key, source, stage name) of ``unseen``, that earlier stage's column for a
    source it never heard."""
    if path is None:
        return ""
    every = json.loads(path.read_text())
    scores = model_scores(every, key)
    order = ("seen-engines", "festival", "piper", "klettres")
    columns = [(SOURCE_NAMES.get(s, s), scores[s]) for s in sorted(scores, key=order.index)]
    columns += [
        (f"{source}, stage {stage} (never heard)", every[model][source])
        for model, source, stage in unseen
        if source in every.get(model, {})
    ]
    lines = [
        "",
        "Condition by condition (make_conditions.py; % top-1, one change at a time; non-command:",
        "% called `_unknown_`; babble-only: % called `_silence_`):",
        "",
        "| condition | " + " | ".join(name for name, _ in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for condition in columns[0][1]:
        cells = [  # "-": not measured, or on fewer than 10 clips (klettres says "no" twice)
            f"{t[condition][0]:.1f}" if condition in t and t[condition][1] >= 10 else "-"
            for _, t in columns
        ]
        lines.append(f"| {condition} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


ACCENTED_SETS = {
    "heard": "Czech child `krb` and Italian man `pc` (other voices of both languages in training)",
    "unheard": "Finnish woman `lj` and man `mv` (no Finnish voice in training)",
    "heard-trimmed-8k": "Czech `krb` and Italian `pc` recorded at 8 kHz and cut to the word",
    "unheard-trimmed-8k": "Finnish `lj` and `mv` recorded at 8 kHz and cut to the word",
    "russian": "Russian man `nsh` (no Russian voice in training)",
    "russian-trimmed-8k": "Russian `nsh` recorded at 8 kHz and cut to the word",
}


def accented_lines(sets: list[tuple[str, Path]]) -> str:
    """The card's sentences on add_accented.py's held-out voices, one per (set, metrics.json)."""
    lines = []
    for name, path in sets:
        report = json.loads(path.read_text())
        (metrics,) = report["models"].values()
        lines.append(
            f"- festival's {ACCENTED_SETS[name]}, {report['items']} clips: "
            f"**{metrics['accuracy']:.2%}**"
        )
    if not lines:
        return ""
    return (
        "\nAccented real voices never heard (diphones of real people's recordings saying the "
        "commands\nrespelled in their own spelling, and non-command words; `add_accented.py "
        "--test`; clean\nunless said):\n\n" + "\n".join(lines) + "\n"
    )


REAL_SOURCES = {
    "real asterisk": "Allison, Asterisk's US-English telephone prompts (one woman, 8 kHz)",
    "real pocketsphinx": "pocketsphinx-testdata (TIDIGITS, card and LibriVox talkers; words "
    "cut from running speech)",
    "real ktuberling": "KTuberling's English stamp names",
}


def real_lines(path: Path | None, key: str | None) -> str:
    """The card's lines on make_real_tests.py's sets (make_conditions.py --json scores)."""
    if path is None:
        return ""
    scores = model_scores(json.loads(path.read_text()), key)
    lines = []
    for source, name in REAL_SOURCES.items():
        table = scores.get(source, {})
        parts = []
        for condition, what in (("digits", "digits right"), ("commands", "other commands right"),
                                ("non-command", "non-commands called `_unknown_`")):  # fmt: skip
            if condition in table:
                accuracy, n = table[condition]
                parts.append(f"{what} {round(accuracy * n / 100)}/{n} ({accuracy:.1f} %)")
        if parts:
            lines.append(f"- {name}: " + "; ".join(parts))
    if not lines:
        return ""
    return (
        "\nReal people's English, never heard (`make_real_tests.py`: recordings from Debian "
        "packages, as\nrecorded; top-1):\n\n" + "\n".join(lines) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a model folder (config.json, model.safetensors)")
    parser.add_argument("out", type=Path)
    parser.add_argument(
        "--metrics", type=Path, required=True, help="metrics.json of astaudio evaluate"
    )
    parser.add_argument("--fp32", action="store_true", help="keep float32 weights")
    parser.add_argument(
        "--conditions", type=Path, help="make_conditions.py --json scores (model card table)"
    )
    parser.add_argument("--model-key", help="which model of --conditions is this one")
    parser.add_argument(
        "--real", type=Path, help="make_conditions.py --json scores of make_real_tests.py's sets"
    )
    parser.add_argument(
        "--accented", nargs=2, action="append", default=[], metavar=("SET", "METRICS"),
        help="metrics.json of astaudio evaluate on add_accented.py's held-out voices; SET is "
        f"one of {', '.join(ACCENTED_SETS)} (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--unseen", nargs=3, action="append", default=[], metavar=("MODEL", "SOURCE", "STAGE"),
        help="also list MODEL's --conditions column for SOURCE, an engine stage STAGE never "
        "heard (repeatable)",
    )  # fmt: skip
    args = parser.parse_args()
    for name, _ in args.accented:
        if name not in ACCENTED_SETS:
            parser.error(f"--accented SET must be one of {', '.join(ACCENTED_SETS)}")

    args.out.mkdir(parents=True, exist_ok=True)
    weights = load_file(args.run / "model.safetensors")
    dtype = torch.float32 if args.fp32 else torch.float16
    save_file({k: v.to(dtype).contiguous() for k, v in weights.items()},
              args.out / "model.safetensors", metadata={"format": "pt"})  # fmt: skip
    for name in ("config.json", "preprocessor_config.json"):
        shutil.copy2(args.run / name, args.out / name)
    config = json.loads((args.out / "config.json").read_text())
    report = json.loads(args.metrics.read_text())
    (metrics,) = report["models"].values()
    labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    (args.out / "README.md").write_text(CARD.format(
        params=sum(v.numel() for v in weights.values()), layers=config["num_hidden_layers"],
        hidden=config["hidden_size"], heads=config["num_attention_heads"],
        frames=config["max_length"], seconds=config["max_length"] / 100,
        fstride=config["frequency_stride"],
        tstride=config["time_stride"], num_labels=len(labels), labels=", ".join(labels),
        test_items=report["items"], accuracy=metrics["accuracy"], macro_f1=metrics["macro_f1"],
        dtype="float16" if dtype == torch.float16 else "float32",
        size_mb=(args.out / "model.safetensors").stat().st_size / 1e6,
        conditions=conditions_table(args.conditions, args.model_key, args.unseen),
        real=real_lines(args.real, args.model_key),
        accented=accented_lines([(name, Path(path)) for name, path in args.accented]),
    ))  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
