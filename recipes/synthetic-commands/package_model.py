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
{fstride}/{tstride}), trained with `astaudio` on the synthetic speech-commands dataset of
`recipes/synthetic-commands/`: the previous bundled model (random initialisation, espeak-ng and
flite voices) fine-tuned on 23,500 clips of 357 espeak-ng / flite speakers (every English
accent x every voice variant, klatt and whisper included; flite awb and slt), with a 600-text
`_unknown_` class (near-misses of every command: tree, sick, hate, nine -> mine, fort, ...),
babble-only and noise-only `_silence_` clips, and on-the-fly augmentation: 1-3 background
talkers at 0-20 dB, real and coloured noise, simulated rooms, telephone band (mu-law / A-law),
MP3 / Vorbis / Opus, gain -45 to -6 dBFS with occasional clipping, DC offset, speed +-12 %,
word flush against the clip edge.

Classes ({num_labels}): {labels}.

Held-out test split (31 speakers never heard in training, 4,700 clips, a third of them with
noise or background talkers): accuracy **{accuracy:.2%}** with these {dtype} weights (macro F1
{macro_f1:.3f}).
{conditions}
Known weaknesses: it has only heard speech synthesisers. festival's voices, an engine it never
trained on, are the closest stand-in for real people here, and it does worst on them; real
voices will do worse still. Exact homophones of a command (won, to, for, know, write, ate) are
heard as the command. Reproduce with `bash recipes/synthetic-commands/run.sh`.
"""


def conditions_table(path: Path | None, key: str | None) -> str:
    """The model's make_conditions.py scores as a Markdown table (empty without --conditions)."""
    if path is None:
        return ""
    scores = json.loads(path.read_text())
    scores = scores[key] if key else next(iter(scores.values()))
    sources = sorted(scores)
    lines = [
        "",
        "Condition by condition (make_conditions.py; % top-1, one change at a time):",
        "",
        "| condition | " + " | ".join(sources) + " |",
        "|---|" + "---|" * len(sources),
    ]
    for condition in scores[sources[0]]:
        cells = " | ".join(f"{scores[s][condition][0]:.1f}" for s in sources)
        lines.append(f"| {condition} | {cells} |")
    return "\n".join(lines) + "\n"


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
    args = parser.parse_args()

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
        conditions=conditions_table(args.conditions, args.model_key),
    ))  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
