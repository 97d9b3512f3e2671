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
{fstride}/{tstride}) trained from random initialisation with `astaudio finetune` on the
synthetic speech-commands dataset of `recipes/synthetic-commands/` (espeak-ng and flite voices,
background noise at 5-30 dB SNR).

Classes ({num_labels}): {labels}.

Held-out test set (speakers never heard in training: {test_items} clips): accuracy
**{accuracy:.2%}** with these {dtype} weights (macro F1 {macro_f1:.3f}).

Limits: trained only on synthetic voices, so it is a demonstration of the pipeline and a
regression test for astaudio, not a keyword spotter for real recordings. Reproduce with
`bash recipes/synthetic-commands/run.sh` from a clean checkout.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a model folder (config.json, model.safetensors)")
    parser.add_argument("out", type=Path)
    parser.add_argument(
        "--metrics", type=Path, required=True, help="metrics.json of astaudio evaluate"
    )
    parser.add_argument("--fp32", action="store_true", help="keep float32 weights")
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
    ))  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
