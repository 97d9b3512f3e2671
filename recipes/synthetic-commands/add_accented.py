"""Add accented real voices to a make_dataset.py dataset: festival's Czech, Italian, Finnish.

    python add_accented.py data-festival --base manifest.csv --manifest manifest-accent.csv
    python add_accented.py data-festival --voices czech_krb pc_diphone --test accent-test.csv

festival's Czech (dita, krb: a child, machac, ph), Italian (lp, pc) and Finnish (lj, mv) voices
are diphones cut from real people's recordings. They say the commands respelled in their own
language's spelling (kws_audio.RESPELLING: "fajv", "najn"), which is how a Czech, Italian or
Finnish speaker's English sounds, and the `_unknown_` words as their letter-to-sound rules read
the English spelling. Planned like make_dataset.py's training clips (noise recordings, babble
pool, 2.5x as many `_unknown_` clips as a command). Needs ``apt-get install festival
festival-czech festvox-czech-dita festvox-czech-krb festvox-czech-machac festvox-czech-ph
festvox-italp16k festvox-itapc16k festvox-suopuhe-lj festvox-suopuhe-mv``.

Without ``--test`` the clips join the training split (``DATA/<--manifest>``: the ``--base``
manifests plus the new rows). With ``--test NAME`` they are a held-out set instead: clean
takes (no noise), split ``test``, the commands and the test split's `_unknown_` words, listed
alone in ``DATA/NAME`` (``astaudio evaluate MODEL --data DATA/NAME --split test``). The
recipe trains on dita, machac, ph and lp and holds out krb and pc, a child and a man of the
other language, as voices never heard, and the Finnish pair, a language never heard;
``--condition trimmed-8k`` makes a held-out set recorded at 8 kHz and cut to the word.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
from pathlib import Path

import make_conditions
import numpy as np
import soundfile as sf
from kws_audio import ACCENT_LANGUAGE, Speaker, festival_voices, noise_recordings, to_int16
from make_dataset import (
    add_training_clips,
    added_clips_parser,
    check_added_clips_args,
    plan_training_words,
    training_pools,
)
from tqdm import tqdm

TRAIN_VOICES = ("czech_dita", "czech_machac", "czech_ph", "lp_diphone")
FIRST_INDEX = 70_000  # file names stay clear of the other scripts' clips


def held_out(spec, split: str, folder: str | None = None):
    """``spec`` as a clean clip of ``split``: no noise, filed under ``audio/<folder or split>/``."""
    path = spec.path.replace("audio/train/", f"audio/{folder or split}/", 1)
    return dataclasses.replace(spec, split=split, path=path, noise="none", noise_file="",
                               snr_db=None)  # fmt: skip


def apply_to_set(data: Path, manifest: str, condition: str, seed: int) -> None:
    """Change every clip of ``DATA/manifest`` in place by a make_conditions.py ``condition``,
    with the test split's noise recordings and babble pool (as make_conditions.py does)."""
    info = json.loads((data / "speakers.json").read_text())["test"]
    noise_files = noise_recordings(info["noise_files"])
    babble = sorted(str(p) for p in (data / "babble" / "test").glob("*.wav"))
    with (data / manifest).open(newline="") as handle:
        paths = [row["path"] for row in csv.DictReader(handle)]
    for index, path in enumerate(tqdm(paths, desc=condition, unit="clip")):
        clip, rate = sf.read(data / path, dtype="float64")
        rng = np.random.default_rng([seed, index])
        changed = make_conditions.apply_condition(condition, clip, rng, noise_files, babble)
        sf.write(data / path, to_int16(changed), rate, subtype="PCM_16")


def main() -> int:
    parser = added_clips_parser(__doc__, clips_per_word=150, seed=17, epilog=slice(1, 3))
    parser.add_argument(
        "--voices", nargs="+", choices=sorted(ACCENT_LANGUAGE), default=list(TRAIN_VOICES),
        help=f"festival voices (default: {' '.join(TRAIN_VOICES)})",
    )  # fmt: skip
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--manifest", help="training manifest file to write in DATA")
    target.add_argument("--test", help="held-out manifest file to write in DATA (clean clips)")
    parser.add_argument(
        "--condition", choices=make_conditions.CONDITIONS, default="clean",
        help="with --test: change every clip by this make_conditions.py condition, e.g. "
        "trimmed-8k (recorded at 8 kHz, cut to the word); its clips go to audio/test-CONDITION/",
    )  # fmt: skip
    args = parser.parse_args()
    check_added_clips_args(parser, args, args.manifest, [] if args.test else args.base)
    if args.condition != "clean" and not args.test:
        parser.error("--condition needs --test")
    missing = sorted(set(args.voices) - set(festival_voices(tuple(args.voices))))
    if missing:
        sys.exit(f"error: festival voices not installed: {' '.join(missing)} (see --help)")
    _, noise_files, babble = training_pools(args.data)
    split = "test" if args.test else "train"
    unknown = json.loads((args.data / "unknown_words.json").read_text())[split]
    rng = np.random.default_rng(args.seed)
    pools = [[Speaker("accent", voice, voice)] for voice in args.voices]  # voices take turns
    folder = f"test-{args.condition}" if args.condition != "clean" else None
    transform = (lambda spec: held_out(spec, split, folder)) if args.test else None
    specs = plan_training_words(rng, pools, args.clips_per_word, unknown, FIRST_INDEX,
                                noise_files, babble, transform=transform)  # fmt: skip
    bases = [] if args.test else args.base
    add_training_clips(args.data, specs, bases, args.test or args.manifest, "accented clips",
                       args.jobs)  # fmt: skip
    if args.condition != "clean":
        apply_to_set(args.data, args.test, args.condition, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
