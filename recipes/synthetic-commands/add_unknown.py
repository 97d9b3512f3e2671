"""Add the letter names to the `_unknown_` class of a make_dataset.py dataset's training split.

    python add_unknown.py data-festival --base manifest.csv --manifest manifest-letters.csv
    python add_unknown.py data-festival --engines piper --clips-per-word 12 \\
        --base manifest-piper.csv manifest-letters.csv --manifest manifest-piper-letters.csv

Real people's letters were taken for commands by a model that had never heard a letter name
(C, P, V, Z -> three; A, E, H, S, X -> eight). Every letter name (words.LETTER_NAMES) is spoken
by the training split's own voices of the chosen engines, planned like make_dataset.py's training
clips (training noise recordings and babble pool). Writes
``DATA/audio/train/_unknown_/<voice>_<letter>_5xxxx.wav`` and ``DATA/<--manifest>``: the
``--base`` manifests (merged, each clip once) plus the new rows, for ``train_kws.py --manifest``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from kws_audio import UNKNOWN_LABEL, Speaker, piper_voices
from make_dataset import add_training_clips, plan_word_clip, training_pools
from words import LETTER_NAMES

ENGINES = ("espeak", "flite", "festival", "piper")
FIRST_INDEX = 50_000  # file names stay clear of make_dataset.py's and add_piper.py's clips


def training_speakers(info: dict, engines: list[str]) -> list[Speaker]:
    """The training split's speakers (``speakers.json``) of ``engines``; piper when asked for."""
    speakers = []
    for name in info["speakers"]:
        engine, voice = name.split(":", 1)
        if engine not in engines:
            continue
        base, _, variant = voice.partition("+")
        speakers.append(
            Speaker(engine, base, variant) if variant else Speaker(engine, voice, voice)
        )
    if "piper" in engines:
        speakers += [Speaker("piper", voice, voice) for voice in piper_voices()]
    return speakers


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:2]),
    )  # fmt: skip
    parser.add_argument("data", type=Path, help="a make_dataset.py output folder")
    parser.add_argument(
        "--engines", nargs="+", choices=ENGINES, default=["espeak", "flite", "festival"],
        help="voices that speak the letters (default: espeak flite festival)",
    )  # fmt: skip
    parser.add_argument("--clips-per-word", type=int, default=36, help="clips per letter name")
    parser.add_argument(
        "--base", nargs="+", default=["manifest.csv"],
        help="manifests in DATA to extend (several are merged, each clip once)",
    )  # fmt: skip
    parser.add_argument("--manifest", required=True, help="manifest file to write in DATA")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    if args.clips_per_word < 1:
        parser.error("--clips-per-word must be >= 1")
    if args.manifest in args.base:
        parser.error("--manifest must differ from --base")
    for base in args.base:
        if not (args.data / base).is_file():
            sys.exit(f"error: {args.data / base} is missing")
    info, noise_files, babble = training_pools(args.data)
    speakers = training_speakers(info, args.engines)
    missing = sorted(set(args.engines) - {s.engine for s in speakers})
    if missing:
        sys.exit(f"error: the training split of {args.data} has no voice of {', '.join(missing)}")
    rng = np.random.default_rng(args.seed)
    by_engine = {e: [s for s in speakers if s.engine == e] for e in args.engines}
    specs = []
    for text in LETTER_NAMES:
        for take in range(args.clips_per_word):
            pool = by_engine[args.engines[take % len(args.engines)]]  # engines take turns
            speaker = pool[int(rng.integers(len(pool)))]
            index = FIRST_INDEX + take
            specs.append(plan_word_clip(rng, speaker, text, UNKNOWN_LABEL, "train", index,
                                        noise_files, babble))  # fmt: skip
    add_training_clips(args.data, specs, args.base, args.manifest, "letter clips", args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
