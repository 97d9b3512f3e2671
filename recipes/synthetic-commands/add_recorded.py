"""Add real people's recorded words to a make_dataset.py dataset's `_unknown_` training clips.

    python add_recorded.py data-festival --base manifest-piper-accent-nsk-fi.csv \\
        --manifest manifest-piper-accent-nsk-fi-kt.csv

KTuberling (Debian ``ktuberling-data``) names its stamps ("ball", "nose", "pineapple", ...) in
recordings of people speaking 26 languages. Every language but English joins the training
split as `_unknown_` clips: real voices, microphones and rooms saying words that are not
commands, where every other training voice is a synthesiser's. The English recordings stay
held out (``make_real_tests.py``). Each recording is used ``--clips-per-word`` times (a
recording is one word), planned like
make_dataset.py's training clips (a random level, place in the second and resampling warp;
noise or babble on half of them); recordings whose word does not fit in 1 s are skipped.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from kws_audio import UNKNOWN_LABEL, Speaker
from make_dataset import (
    add_training_clips,
    added_clips_parser,
    check_added_clips_args,
    plan_word_clip,
    training_pools,
)

KTUBERLING = Path("/usr/share/ktuberling/sounds")
HELD_OUT_LANGUAGES = ("en",)  # make_real_tests.py scores them
FIRST_INDEX = 90_000  # file names stay clear of the other scripts' clips


def ktuberling_recordings() -> list[tuple[str, Path]]:
    """(language, file) of every KTuberling recording but the held-out languages', each file
    once (some language folders link to the same recordings)."""
    seen, found = set(), []
    for folder in sorted(p for p in KTUBERLING.iterdir() if p.is_dir()):
        if folder.name in HELD_OUT_LANGUAGES:
            continue
        for path in sorted([*folder.glob("*.ogg"), *folder.glob("*.wav")]):
            real = path.resolve()
            if real not in seen:
                seen.add(real)
                found.append((folder.name, real))
    return found


def main() -> int:
    parser = added_clips_parser(__doc__, clips_per_word=1, seed=23)
    parser.add_argument("--manifest", required=True, help="training manifest file to write")
    args = parser.parse_args()
    check_added_clips_args(parser, args, args.manifest, args.base)
    if not KTUBERLING.is_dir():
        sys.exit(f"error: {KTUBERLING} is missing: apt-get install ktuberling-data")
    _, noise_files, babble = training_pools(args.data)
    rng = np.random.default_rng(args.seed)
    specs = []
    for take in range(args.clips_per_word):
        for index, (language, path) in enumerate(ktuberling_recordings()):
            speaker = Speaker("recording", f"ktuberling-{language}", str(path))
            number = FIRST_INDEX + take * 10_000 + index
            specs.append(plan_word_clip(rng, speaker, path.stem, UNKNOWN_LABEL, "train", number,
                                        noise_files, babble))  # fmt: skip
    add_training_clips(args.data, specs, args.base, args.manifest, "recorded clips", args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
