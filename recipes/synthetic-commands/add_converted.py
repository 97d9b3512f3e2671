"""Add voice-converted takes of the training voices to a make_dataset.py dataset.

    python add_converted.py data-festival --base manifest.csv --manifest manifest-vc.csv
    python add_converted.py data-festival --engines piper --clips-per-word 60 \\
        --base manifest-piper.csv manifest-vc.csv --manifest manifest-piper-vc.csv

A voice never heard differs from the training voices in vocal-tract length, pitch and
intonation, and the engines' own controls move these together (a resampling warp) or not at all.
Each clip here is a training voice's take converted into another speaker with Praat's Change
gender (kws_audio.change_voice): formants scaled by x0.82-1.22, the median pitch by x0.7-1.5 and
the pitch contour around it by x0.4-1.8, each drawn on its own. The commands and 2.5x as many
`_unknown_` words (the training split's texts) are spoken by the training split's voices of the
chosen engines, taking turns, and planned like make_dataset.py's training clips (noise
recordings and babble pool). Writes ``DATA/audio/train/<label>/<voice>-vc_<text>_6xxxx.wav`` and
``DATA/<--manifest>``: the ``--base`` manifests (merged, each clip once) plus the new rows.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys

import numpy as np
from add_unknown import add_engine_arguments, engine_pools
from kws_audio import ClipSpec
from make_dataset import (
    add_training_clips,
    added_clips_parser,
    check_added_clips_args,
    plan_training_words,
)

FIRST_INDEX = 60_000  # file names stay clear of the other scripts' clips
FORMANT_RATIO = (0.82, 1.22)  # drawn log-uniformly: vocal-tract length
PITCH_MEDIAN = (0.7, 1.5)  # drawn log-uniformly: median f0 scale
PITCH_RANGE = (0.4, 1.8)  # drawn uniformly: 0 monotone, 1 as spoken


def convert(rng, spec: ClipSpec) -> ClipSpec:
    """``spec`` as another speaker: voice-conversion draws and a ``-vc`` file name."""
    slug = spec.speaker.slug
    return dataclasses.replace(
        spec,
        path=spec.path.replace(f"/{slug}_", f"/{slug}-vc_", 1),
        formant=float(np.exp(rng.uniform(*np.log(FORMANT_RATIO)))),
        pitch_median=float(np.exp(rng.uniform(*np.log(PITCH_MEDIAN)))),
        pitch_range=float(rng.uniform(*PITCH_RANGE)),
    )


def main() -> int:
    parser = added_clips_parser(__doc__, clips_per_word=250, seed=13)
    add_engine_arguments(parser, "are converted")
    args = parser.parse_args()
    check_added_clips_args(parser, args, args.manifest, args.base)
    if importlib.util.find_spec("parselmouth") is None:  # checked here: a worker would hang
        sys.exit(
            "error: voice conversion needs praat-parselmouth (pip install -r requirements.txt)"
        )
    pools, noise_files, babble = engine_pools(args.data, args.engines)  # engines take turns
    unknown = json.loads((args.data / "unknown_words.json").read_text())["train"]
    rng = np.random.default_rng(args.seed)
    specs = plan_training_words(rng, pools, args.clips_per_word, unknown, FIRST_INDEX,
                                noise_files, babble, transform=lambda spec: convert(rng, spec))  # fmt: skip
    add_training_clips(args.data, specs, args.base, args.manifest, "converted clips", args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
