"""Copy a model folder with a constant added to the `_unknown_` logit (its classifier bias).

    python offset_unknown.py runs/stage-g/averaged runs/stage-g/shipped --offset -0.25

A keyword model trades commands heard against non-commands rejected; adding a constant to one
class's logit moves it along that trade-off without training. A negative offset makes the model
take fewer words for `_unknown_` (more commands right, fewer non-commands rejected). Stage E
shipped at -0.5, stage G at -0.25; stage I and the bundled stage L ship as trained
(``--offset 0``, a plain copy; README: "Stages H and I", "Stage L"). Weights stay float32; everything else is copied.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch
from kws_audio import UNKNOWN_LABEL
from safetensors.torch import load_file, save_file

BIAS = "classifier.dense.bias"  # (num_labels,)


def copy_with_bias(model: Path, out: Path, change) -> None:
    """Copy the model folder ``model`` to ``out`` with ``change`` (a number or a (num_labels,)
    tensor) added to the classifier bias, in float64 and stored in the bias's own dtype. The
    configs are copied first and the weights written last under a temporary name and renamed
    into place, so a folder with model.safetensors is complete."""
    out.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "preprocessor_config.json"):
        shutil.copy2(model / name, out / name)
    weights = load_file(model / "model.safetensors")
    bias = weights[BIAS]
    weights[BIAS] = (bias.double() + change).to(bias.dtype)
    partial = out / "model.partial.safetensors"
    save_file(weights, partial, metadata={"format": "pt"})
    partial.replace(out / "model.safetensors")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="a model folder (config.json, model.safetensors)")
    parser.add_argument("out", type=Path, help="folder to write")
    parser.add_argument("--offset", type=float, required=True, help="added to the logit")
    parser.add_argument("--label", default=UNKNOWN_LABEL, help="class to move (default _unknown_)")
    parser.add_argument(
        "--center-short-clips", action="store_true",
        help="also set center_short_clips in preprocessor_config.json: clips shorter than the "
        "window are zero-padded around the middle before the filter banks",
    )  # fmt: skip
    args = parser.parse_args()
    if not (args.model / "model.safetensors").is_file():
        sys.exit(f"error: {args.model} is not a model folder (no model.safetensors)")
    config = json.loads((args.model / "config.json").read_text())
    index = config.get("label2id", {}).get(args.label)
    if index is None:
        sys.exit(f"error: {args.model} has no class {args.label!r}")
    change = torch.zeros(len(config["label2id"]), dtype=torch.float64)
    change[index] = args.offset
    copy_with_bias(args.model, args.out, change)
    if args.center_short_clips:
        preprocessor = json.loads((args.out / "preprocessor_config.json").read_text())
        preprocessor["center_short_clips"] = True
        text = json.dumps(preprocessor, indent=2, sort_keys=True) + "\n"
        (args.out / "preprocessor_config.json").write_text(text)
    print(f"wrote {args.out}: {args.label} logit {args.offset:+g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
