"""Train the bundled keyword model with waveform augmentation (astaudio.augment) on the fly.

python train_kws.py --data data --out runs/kws [--init MODEL] [--epochs N] [--resume]

The same as ``astaudio finetune`` with the recipe's settings, plus a per-clip augmentation chain
(background talkers from ``DATA/babble/train``, the training split's noise recordings, simulated
rooms, telephone band and plain 8 kHz, codecs, gain, clipping, DC, edge placement, clips trimmed
to the word) that the CLI has no flag for.
The augmentation settings are written to ``OUT/augment.json`` and read back from there on
``--resume``, so a resumed run sees the same audio.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from make_dataset import training_pools
from offset_unknown import copy_with_bias

from astaudio.augment import WaveformAugment, WaveformAugmentConfig
from astaudio.data import load_dataset_spec
from astaudio.train import finetune, preset_config

MODEL_CONFIG = dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4,
                    intermediate_size=512, num_mel_bins=64, frequency_stride=8, time_stride=8,
                    max_length=100)  # fmt: skip


def augment_config(
    data: Path,
    p_babble: float = 0.3,
    p_clip: float = 0.05,
    babble_extra: tuple[str, ...] = (),
    p_speed: float = 0.3,
    speed: tuple[float, float] = (0.88, 1.12),
) -> WaveformAugmentConfig:
    """The recipe's augmentation: training babble pool and training noise recordings only.

    ``babble_extra``: more folders under ``DATA/babble`` whose WAVs join the babble pool
    (make_babble.py writes them from training clips). ``p_speed``, ``speed``: the share of clips
    resampled (tempo, pitch and formants together) and the range of the factor."""
    _, noises, babble = training_pools(data)
    if not babble:
        sys.exit(f"error: {data}/babble/train holds no babble sentences (run make_dataset.py)")
    for name in babble_extra:
        more = sorted(str(p) for p in (data / "babble" / name).glob("*.wav"))
        if not more:
            sys.exit(f"error: {data}/babble/{name} holds no WAV files (run make_babble.py)")
        babble += more
    # trim: 4 clips in 10 are cut to the word, as trimmed recordings are (the feature extractor
    # then pads them; a model that never saw that padding fell from 73 % to 38 % on trimmed
    # clips); narrowband: plain 8-kHz recordings besides the companded telephone channel.
    return WaveformAugmentConfig(
        babble_files=tuple(babble), noise_files=tuple(noises), p_trim=0.4, p_narrowband=0.15,
        p_babble=p_babble, p_clip=p_clip, p_speed=p_speed, speed=speed,
    )  # fmt: skip


def bce_start(init: str, spec, out: Path) -> Path:
    """A copy of the CE-trained model ``init`` in ``out`` whose class biases are all moved by
    the one constant that minimises the BCE on ``spec``'s clips.

    Softmax ignores a shared shift of the logits, so a CE-trained model's logits can sit
    anywhere; a sigmoid per class needs the target above 0 and the rest below. Without the
    shift, BCE's first hundred steps pull every logit down at once and wreck the model (stage X's
    first try: validation accuracy 37.7 % after one epoch; 87.3 % with the shift). A folder with
    model.safetensors is complete (``offset_unknown.copy_with_bias``)."""
    import numpy as np
    import torch

    from astaudio.bundled import resolve_bundled
    from astaudio.evaluate import model_scores

    folder = Path(resolve_bundled(init))
    print(f"bce start: scoring {folder} on the validation clips", file=sys.stderr)
    logits, targets, _ = model_scores(
        folder, spec, batch_size=64, activation="none", progress=sys.stderr.isatty()
    )
    logits, targets = torch.from_numpy(logits).double(), torch.from_numpy(targets).double()

    def loss(shift: float) -> float:
        return float(torch.nn.functional.binary_cross_entropy_with_logits(logits - shift, targets))

    shift = min(np.arange(-10.0, 20.0, 0.1), key=loss)
    print(
        f"bce start: class biases moved by {-shift:.1f} (BCE {loss(0.0):.3f} -> {loss(shift):.3f})"
    )
    copy_with_bias(folder, out, -float(shift))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="make_dataset.py output")
    parser.add_argument("--out", type=Path, required=True, help="run folder")
    parser.add_argument("--init", default=None, help="model folder to start from (else random)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--scheduler-start", type=int, default=10)
    parser.add_argument("--warmup-steps", type=int, default=200)
    parser.add_argument("--wa", type=int, nargs=2, default=None, metavar=("FIRST", "LAST"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--steps-per-epoch", type=int, default=None, help="cap batches per epoch (a random subset)"
    )
    parser.add_argument(
        "--valid-every", type=int, default=1, help="validate on every N-th validation clip"
    )
    parser.add_argument(
        "--manifest", default="manifest.csv", help="manifest file name inside --data"
    )
    parser.add_argument(
        "--p-babble", type=float, default=0.3, help="share of clips with background talkers"
    )
    parser.add_argument(
        "--p-clip", type=float, default=0.05, help="share of gained clips driven into clipping"
    )
    parser.add_argument(
        "--babble-extra", nargs="+", default=(), metavar="NAME",
        help="folders under DATA/babble that join the babble pool (make_babble.py)",
    )  # fmt: skip
    parser.add_argument("--p-speed", type=float, default=0.3, help="share of clips resampled")
    parser.add_argument(
        "--speed", type=float, nargs=2, default=(0.88, 1.12), metavar=("LOW", "HIGH"),
        help="range of the resampling factor",
    )  # fmt: skip
    parser.add_argument("--freqm", type=int, default=12, help="SpecAugment: widest mel mask")
    parser.add_argument("--timem", type=int, default=20, help="SpecAugment: widest frame mask")
    parser.add_argument(
        "--loss", choices=("ce", "bce"), default="ce",
        help="ce: softmax cross-entropy; bce: a sigmoid per class (one-vs-rest)",
    )  # fmt: skip
    parser.add_argument(
        "--mixup", type=float, default=0.0,
        help="share of clips mixed with another (AST's waveform mixup; a mixed clip skips the "
        "waveform augmentation)",
    )  # fmt: skip
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    if not 0.0 < args.speed[0] <= args.speed[1]:
        parser.error("--speed takes LOW HIGH with 0 < LOW <= HIGH")
    for name in ("p_babble", "p_clip", "p_speed", "mixup"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            parser.error(f"--{name.replace('_', '-')} is a probability in [0, 1]")
    args.data = args.data.resolve()  # augment.json keeps absolute paths for --resume

    if not args.resume and args.out.is_dir() and any(args.out.iterdir()):
        sys.exit(f"error: {args.out} already holds files: pass --resume to continue that run")
    args.out.mkdir(parents=True, exist_ok=True)
    saved = args.out / "augment.json"
    if args.resume and saved.is_file():
        config = WaveformAugmentConfig.from_json(saved)  # absolute paths, as written
    else:
        config = augment_config(args.data, args.p_babble, args.p_clip, tuple(args.babble_extra),
                                args.p_speed, tuple(args.speed))  # fmt: skip
        saved.write_text(json.dumps(asdict(config), indent=2) + "\n")
    train_config = preset_config(
        "speechcommands", lr=args.lr, batch_size=64, epochs=args.epochs, warmup=True,
        warmup_steps=args.warmup_steps, scheduler_start=args.scheduler_start, loss=args.loss,
        mixup=args.mixup, freqm=args.freqm, timem=args.timem, max_length=100, num_workers=args.workers,
        seed=args.seed,
        wa_start=args.wa[0] if args.wa else None, wa_end=args.wa[1] if args.wa else None,
    )  # fmt: skip
    manifest, labels = args.data / args.manifest, args.data / "class_labels_indices.csv"
    train_spec = load_dataset_spec(manifest, labels, split="train")
    valid_spec = load_dataset_spec(manifest, labels, split="validation")
    if args.valid_every > 1:  # a cheaper validation pass each epoch on a shared CPU
        valid_spec = valid_spec.with_items(valid_spec.items[:: args.valid_every])
    # the folder holds augment.json from here on, so the run is always started as a resume: with
    # no checkpoint yet astaudio starts from the beginning
    init = args.init
    if args.loss == "bce" and init:  # kept in the run folder, so --resume finds it again
        start = args.out / "bce-start"
        init = str(start if (start / "model.safetensors").is_file()
                   else bce_start(init, valid_spec, start))  # fmt: skip
    state = finetune(
        train_spec, valid_spec, args.out, model=init, train=train_config,
        model_config=None if args.init else MODEL_CONFIG, resume=True, progress=False,
        log_every=50, max_steps_per_epoch=args.steps_per_epoch, cache_dir=args.out / "cache",
        waveform_augment=WaveformAugment(config),
    )  # fmt: skip
    print(f"finished {state.epoch} epochs; best epoch {state.best_epoch} ({state.best_metric:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
