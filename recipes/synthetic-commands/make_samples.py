"""Write a handful of small demo clips spoken by held-out (test-split) voices.

Each clip is one command word, 1 s, 16 kHz mono 16-bit FLAC, clean (no added noise), at the
synthesisers' default speed and pitch, centred in the window. The voices come from the test split
that ``make_dataset.py --seed SEED`` makes, so a model trained on that dataset never heard them.
Also writes ``manifest.csv`` (path,labels,split), ``metadata.csv`` and the dataset's 22-class
``class_labels_indices.csv`` next to the clips.

Usage: ``python make_samples.py`` (writes ``samples/`` next to this script).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from kws_audio import COMMAND_WORDS, ClipSpec, Speaker, discover_voices, render_audio, split_voices
from kws_signal import SAMPLE_RATE, to_int16
from make_dataset import class_labels, write_label_csv

DEFAULT_OUT = Path(__file__).resolve().parent / "samples"
# The demo words in a fixed order, shipped whatever the model says about them (never chosen by
# its answers; see the README's "Samples").
DEFAULT_WORDS = ("yes", "no", "up", "down", "left", "right", "stop", "go")
FLITE_EVERY = 4  # every 4th sample uses the test split's flite voice
SAMPLE_LEVEL_DB = -20.0  # dBFS RMS over the word
ESPEAK_DEFAULT_SPEED, ESPEAK_DEFAULT_PITCH = 175.0, 50.0  # espeak-ng defaults (-s, -p)


def held_out_speakers(seed: int) -> tuple[list[Speaker], list[Speaker]]:
    """Test-split espeak-ng speakers (one per variant, accents alternating) and flite voices."""
    test = split_voices(discover_voices(), np.random.default_rng(seed))["test"]
    espeak = [
        Speaker("espeak", test.espeak_accents[i % len(test.espeak_accents)], variant)
        for i, variant in enumerate(test.espeak_variants)
    ]
    flite = [Speaker("flite", base, voice) for base, voice in test.flite_voices]
    return espeak, flite


def sample_spec(word: str, speaker: Speaker) -> ClipSpec:
    espeak = speaker.engine == "espeak"
    return ClipSpec(
        path=f"{word}.flac",
        label=word,
        split="test",
        text=word,
        speaker=speaker,
        speed=ESPEAK_DEFAULT_SPEED if espeak else 1.0,
        pitch=ESPEAK_DEFAULT_PITCH if espeak else 1.0,
        level_db=SAMPLE_LEVEL_DB,
        offset_fraction=0.5,
        noise="none",
        seed=0,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=0, help="the make_dataset.py seed")
    parser.add_argument("--words", nargs="+", default=list(DEFAULT_WORDS), choices=COMMAND_WORDS)
    args = parser.parse_args(argv)

    espeak, flite = held_out_speakers(args.seed)
    rng = np.random.default_rng(args.seed)
    espeak = [espeak[i] for i in rng.permutation(len(espeak))]
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for index, word in enumerate(args.words):
        use_flite = flite and index % FLITE_EVERY == FLITE_EVERY - 1
        speaker = (
            flite[index // FLITE_EVERY % len(flite)] if use_flite else espeak[index % len(espeak)]
        )
        rendered = render_audio(sample_spec(word, speaker))
        if rendered is None:
            sys.exit(f"error: {speaker.name} cannot fit {word!r} into 1 s")
        clip, meta = rendered
        sf.write(
            args.out / meta["path"], to_int16(clip), SAMPLE_RATE, format="FLAC", subtype="PCM_16"
        )
        rows.append(meta)
        size = (args.out / meta["path"]).stat().st_size
        print(f"{meta['path']}: {speaker.name}, {size / 1024:.1f} KiB")

    with (args.out / "manifest.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "labels", "split"])
        writer.writerows([r["path"], r["label"], r["split"]] for r in rows)
    with (args.out / "metadata.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    write_label_csv(args.out / "class_labels_indices.csv", class_labels(include_unknown=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
