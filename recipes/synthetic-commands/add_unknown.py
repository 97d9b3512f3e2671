"""Add letter names or dictionary words to the `_unknown_` class of a dataset's training split.

    python add_unknown.py data-festival --base manifest.csv --manifest manifest-letters.csv
    python add_unknown.py data-festival --engines piper --clips-per-word 12 \\
        --base manifest-piper.csv manifest-letters.csv --manifest manifest-piper-letters.csv
    python add_unknown.py data-festival --dictionary 2000 --clips-per-word 1 \\
        --engines espeak flite festival piper --base manifest-piper-accent-nsk-fi.csv \\
        --manifest manifest-piper-accent-nsk-fi-dict.csv

Real people's letters were taken for commands by a model that had never heard a letter name
(C, P, V, Z -> three; A, E, H, S, X -> eight). Every letter name (words.LETTER_NAMES) is spoken
by the training split's own voices of the chosen engines, planned like make_dataset.py's training
clips (training noise recordings and babble pool). ``--dictionary N`` speaks N other words
instead: short everyday words (3-6 phones) of the word list that pocketsphinx's US-English
pronouncing dictionary holds, none a command's homophone or inflection and none a validation or
test `_unknown_` word (words.dictionary_words; needs pocketsphinx from requirements.txt and
Debian's `wamerican-small`); the engines take turns word by word. Writes
``DATA/audio/train/_unknown_/<voice>_<word>_5xxxx.wav`` and ``DATA/<--manifest>``: the
``--base`` manifests (merged, each clip once) plus the new rows, for ``train_kws.py --manifest``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from kws_audio import UNKNOWN_LABEL, Speaker, piper_voices
from make_dataset import (
    add_training_clips,
    added_clips_parser,
    check_added_clips_args,
    plan_word_clip,
    training_pools,
)
from words import LETTER_NAMES, dictionary_words, tokens

ENGINES = ("espeak", "flite", "festival", "piper")
WORD_LIST = Path("/usr/share/dict/american-english-small")  # Debian wamerican-small
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


def add_engine_arguments(parser, what: str) -> None:
    """--engines (whose training voices ``what``, e.g. "speak the letters") and --manifest."""
    parser.add_argument(
        "--engines", nargs="+", choices=ENGINES, default=["espeak", "flite", "festival"],
        help=f"voices that {what} (default: espeak flite festival)",
    )  # fmt: skip
    parser.add_argument("--manifest", required=True, help="manifest file to write in DATA")


def engine_pools(
    data: Path, engines: list[str]
) -> tuple[list[list[Speaker]], list[str], list[str]]:
    """(the training split's speakers of each engine, in ``engines`` order; its noise
    recordings; its babble pool); exits with an error line when an engine has no voice there."""
    info, noise_files, babble = training_pools(data)
    speakers = training_speakers(info, engines)
    missing = sorted(set(engines) - {s.engine for s in speakers})
    if missing:
        sys.exit(f"error: the training split of {data} has no voice of {', '.join(missing)}")
    return [[s for s in speakers if s.engine == e] for e in engines], noise_files, babble


def dictionary_texts(args, rng) -> list[str]:
    """``args.dictionary`` words of ``args.word_list`` (words.dictionary_words), none of the
    dataset's `_unknown_` texts, none starting with a validation or test one."""
    try:
        import pocketsphinx
    except ImportError:
        sys.exit("error: --dictionary needs pocketsphinx (pip install -r requirements.txt)")
    if not args.word_list.is_file():
        sys.exit(f"error: {args.word_list} not found (apt-get install wamerican-small)")
    vocabulary = json.loads((args.data / "unknown_words.json").read_text())
    heard = {t for text in vocabulary["train"] for t in tokens(text)}
    held_out = {t for s in ("validation", "test") for text in vocabulary[s] for t in tokens(text)}
    dictionary = Path(pocketsphinx.get_model_path()) / "en-us" / "cmudict-en-us.dict"
    try:
        return dictionary_words(dictionary, args.word_list, args.dictionary, rng, heard, held_out)
    except ValueError as error:
        sys.exit(f"error: {error}")


def main() -> int:
    parser = added_clips_parser(__doc__, clips_per_word=36, seed=11)
    add_engine_arguments(parser, "speak the letters")
    parser.add_argument("--dictionary", type=int, default=None, metavar="N",
                        help="speak N dictionary words instead of the letter names")  # fmt: skip
    parser.add_argument("--word-list", type=Path, default=WORD_LIST,
                        help=f"word list for --dictionary (default {WORD_LIST})")  # fmt: skip
    args = parser.parse_args()
    check_added_clips_args(parser, args, args.manifest, args.base)
    pools, noise_files, babble = engine_pools(args.data, args.engines)
    rng = np.random.default_rng(args.seed)
    texts = LETTER_NAMES if args.dictionary is None else dictionary_texts(args, rng)
    specs = []
    for number, text in enumerate(texts):
        for take in range(args.clips_per_word):
            # engines take turns (for the letters, 36 takes a letter: by take, as before)
            pool = pools[(number * args.clips_per_word + take) % len(pools)]
            speaker = pool[int(rng.integers(len(pool)))]
            index = FIRST_INDEX + take
            specs.append(plan_word_clip(rng, speaker, text, UNKNOWN_LABEL, "train", index,
                                        noise_files, babble))  # fmt: skip
    what = "letter clips" if args.dictionary is None else "dictionary word clips"
    add_training_clips(args.data, specs, args.base, args.manifest, what, args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
