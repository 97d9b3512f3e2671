"""Copy a model folder with more transformer layers that leave its outputs unchanged.

    python grow_model.py runs/stage-i/averaged runs/grown-8 --layers 8

New layers are spread evenly, each right after an existing one (4 -> 8: old 0, new, old 1,
new, ...; 8 -> 12: old 0, new, old 1, old 2, new, ...). A new layer's attention and MLP are
freshly initialised, but the two projections that write back into the residual stream
(``attention.output.dense`` and ``output.dense``) start at zero, so the new layer adds nothing
at first and the grown model gives the same logits as the original. Training from there adds
capacity without starting over (a pre-norm transformer is the identity plus its blocks'
residual updates).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections import Counter
from pathlib import Path

import torch

from astaudio import ASTConfig, ASTForAudioClassification

LAYER_PREFIX = "audio_spectrogram_transformer.encoder.layer."
RESIDUAL_WRITERS = ("attention.output.dense.", "output.dense.")  # zeroed in a new layer


def layer_order(old_layers: int, layers: int) -> list[int | None]:
    """The grown stack, bottom up: an old layer's index, or None for a new one. New layer j
    goes right after old layer floor(j * old / new_count), spreading them evenly (4 -> 8: old 0,
    new, old 1, new, ...; 8 -> 12: old 0, new, old 1, old 2, new, ...)."""
    added = layers - old_layers
    after = Counter(j * old_layers // added for j in range(added))
    order: list[int | None] = []
    for old in range(old_layers):
        order += [old] + [None] * after[old]
    return order


def grow(model: ASTForAudioClassification, layers: int, seed: int = 0) -> ASTForAudioClassification:
    """A copy of ``model`` with ``layers`` transformer layers and the same outputs."""
    old_layers = model.config.num_hidden_layers
    if layers <= old_layers:
        raise ValueError(f"--layers {layers} must exceed the model's {old_layers} layers")
    order = layer_order(old_layers, layers)  # old index, or None for a new layer
    config = ASTConfig(**{**model.config.to_dict(), "num_hidden_layers": layers})
    torch.manual_seed(seed)
    grown = ASTForAudioClassification(config)  # the new layers' fresh initialisation
    old_state, state = model.state_dict(), grown.state_dict()
    position = {old: new for new, old in enumerate(order) if old is not None}
    for key, value in old_state.items():
        if not key.startswith(LAYER_PREFIX):
            state[key] = value.clone()
            continue
        index, rest = key[len(LAYER_PREFIX) :].split(".", 1)
        state[f"{LAYER_PREFIX}{position[int(index)]}.{rest}"] = value.clone()
    for key in state:
        if key.startswith(LAYER_PREFIX):
            index, rest = key[len(LAYER_PREFIX) :].split(".", 1)
            if order[int(index)] is None and rest.startswith(RESIDUAL_WRITERS):
                state[key] = torch.zeros_like(state[key])
    grown.load_state_dict(state)
    return grown.eval()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="a model folder (config.json, model.safetensors)")
    parser.add_argument("out", type=Path, help="folder to write")
    parser.add_argument("--layers", type=int, required=True, help="layers of the grown model")
    parser.add_argument("--seed", type=int, default=0, help="seed of the new layers' weights")
    args = parser.parse_args()
    if not (args.model / "model.safetensors").is_file():
        sys.exit(f"error: {args.model} is not a model folder (no model.safetensors)")
    model = ASTForAudioClassification.from_pretrained(args.model).eval()
    try:
        grown = grow(model, args.layers, args.seed)
    except ValueError as error:
        sys.exit(f"error: {error}")
    probe = torch.randn(2, model.config.max_length, model.config.num_mel_bins)
    with torch.no_grad():
        gap = (grown(probe).logits - model(probe).logits).abs().max().item()
    grown.save_pretrained(args.out)
    preprocessor = args.model / "preprocessor_config.json"
    if preprocessor.is_file():
        shutil.copy2(preprocessor, args.out / preprocessor.name)
    params = sum(p.numel() for p in grown.parameters())
    print(json.dumps({"out": str(args.out), "layers": args.layers, "parameters": params,
                      "max_logit_change": gap}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
