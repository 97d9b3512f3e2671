"""Add accented real voices to a make_dataset.py dataset: festival's voices of other languages.

    python add_accented.py data-festival --base manifest.csv --manifest manifest-accent.csv
    python add_accented.py data-festival --voices czech_krb pc_diphone --test accent-test.csv

festival's Czech (dita, krb: a child, machac, ph), Italian (lp, pc), Finnish (lj, mv), Hindi,
Marathi and Telugu (one man, NSK, in three languages) and Russian (nsh) voices are cut from real
people's recordings. They say the commands respelled as their own language writes them
(accents.py: "fajv", "najn", "फाइव्", "файв"), which is how such a speaker's English sounds.
Latin-script voices read the `_unknown_` words as written, by their own letter-to-sound rules;
the others read them transliterated from espeak-ng's English phonemes into their own script.
Planned like make_dataset.py's training clips (noise recordings, babble pool, 2.5x as many
`_unknown_` clips as a command). Needs ``apt-get install festival festival-czech
festvox-czech-dita festvox-czech-krb festvox-czech-machac festvox-czech-ph festvox-italp16k
festvox-itapc16k festvox-suopuhe-lj festvox-suopuhe-mv festvox-hi-nsk festvox-mr-nsk
festvox-te-nsk festvox-ru`` (only the voices asked for).

Without ``--test`` the clips join the training split (``DATA/<--manifest>``: the ``--base``
manifests plus the new rows). With ``--test NAME`` they are a held-out set instead: clean
takes (no noise), split ``test``, the commands and the test split's `_unknown_` words, listed
alone in ``DATA/NAME`` (``astaudio evaluate MODEL --data DATA/NAME --split test``). The
recipe README says which voices each stage trains on and which it holds out;
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
from accents import ACCENT_LANGUAGE, ESPEAK_ACCENT_SPELLING
from kws_audio import Speaker, festival_voices, noise_recordings
from kws_signal import to_int16
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
        "--voices", nargs="+", choices=sorted(ACCENT_LANGUAGE), metavar="VOICE",
        help=f"festival voices, of {', '.join(sorted(ACCENT_LANGUAGE))} "
        f"(default, without --espeak: {' '.join(TRAIN_VOICES)})",
    )  # fmt: skip
    parser.add_argument(
        "--espeak", nargs="+", choices=sorted(ESPEAK_ACCENT_SPELLING), metavar="LANGUAGE",
        help="instead of festival: espeak-ng's voices of these languages, each with the split's "
        f"espeak-ng voice variants (of {', '.join(sorted(ESPEAK_ACCENT_SPELLING))})",
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
    if args.voices and args.espeak:
        parser.error("--voices and --espeak: choose one")
    voices = [] if args.espeak else args.voices or list(TRAIN_VOICES)
    missing = sorted(set(voices) - set(festival_voices(tuple(voices))))
    if missing:
        sys.exit(f"error: festival voices not installed: {' '.join(missing)} (see --help)")
    _, noise_files, babble = training_pools(args.data)
    split = "test" if args.test else "train"
    unknown = json.loads((args.data / "unknown_words.json").read_text())[split]
    rng = np.random.default_rng(args.seed)
    if args.espeak:  # languages take turns, a random variant of the split speaks
        variants = json.loads((args.data / "speakers.json").read_text())[split]["espeak_variants"]
        pools = [[Speaker("espeak-accent", lang, v) for v in variants] for lang in args.espeak]
    else:
        pools = [[Speaker("accent", voice, voice)] for voice in voices]  # voices take turns
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
