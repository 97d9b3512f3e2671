"""Widen the training babble pool with every training voice: runs of `_unknown_` words.

    python make_babble.py data-festival --manifest manifest-piper-accent-nsk-fi.csv
        # -> data-festival/babble/train-words/*.wav; train with --babble-extra train-words

make_dataset.py's babble pool is 300 sentences spoken by espeak-ng and flite training voices, so
the talkers behind a word always sound like those two engines. This writes "sentences" of 3 to 8
training `_unknown_` clips (no command, no homophone of one) cut to the word (clips whose noise
keeps them over 0.75 s after the cut are passed over) and joined with
20-250 ms gaps, each word at its own level within 6 dB, the words of one sentence drawn from the
whole manifest: festival, piper, the accented voices and the converted ones talk behind the words
too. Only the training split is read, so the validation and test talkers stay unheard.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from kws_signal import SAMPLE_RATE, rms, trim_silence
from tqdm import tqdm


def babble_sentence(rng, clips: list[np.ndarray]) -> np.ndarray:
    """Words of ``clips`` (each (n_i,)) at levels within 6 dB, 20-250 ms apart: (n,) at -20 dBFS."""
    parts = []
    for clip in clips:
        parts.append(clip / max(rms(clip), 1e-9) * 10 ** (rng.uniform(-6.0, 0.0) / 20))
        parts.append(np.zeros(int(rng.uniform(0.02, 0.25) * SAMPLE_RATE)))
    sentence = np.concatenate(parts[:-1])
    return sentence / max(rms(sentence), 1e-9) * 0.1


def training_unknown(manifest: Path) -> list[str]:
    """Paths of the training `_unknown_` clips that ``manifest`` lists."""
    with manifest.open(newline="") as f:
        return [r["path"] for r in csv.DictReader(f)
                if r["split"] == "train" and r["labels"] == "_unknown_"]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    parser.add_argument("data", type=Path, help="a make_dataset.py output folder")
    parser.add_argument("--manifest", default="manifest.csv", help="manifest in DATA to draw from")
    parser.add_argument(
        "--exclude-manifest", default=None, metavar="BASE",
        help="leave out the clips that this manifest in DATA lists too: with the manifest that "
        "add_unknown.py --dictionary extended, only the dictionary words talk",
    )  # fmt: skip
    parser.add_argument("--name", default="train-words", help="folder under DATA/babble")
    parser.add_argument("--sentences", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    manifest = args.data / args.manifest
    if not manifest.is_file():
        sys.exit(f"error: {manifest} not found (run make_dataset.py / the add_*.py scripts)")
    words = training_unknown(manifest)
    if args.exclude_manifest:
        base = args.data / args.exclude_manifest
        if not base.is_file():
            sys.exit(f"error: {base} not found")
        known = set(training_unknown(base))
        words = [w for w in words if w not in known]
    if not words:
        sys.exit(f"error: {manifest} has no training _unknown_ clips to draw from")
    out = args.data / "babble" / args.name
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    cut = [trim_silence(sf.read(args.data / p, dtype="float64")[0], -30.0)
           for p in tqdm(words, desc="cutting words", unit="clip")]  # fmt: skip
    cut = [w for w in cut if 0 < len(w) <= 0.75 * SAMPLE_RATE]
    if not cut:
        sys.exit(f"error: none of the {len(words)} clips is a word under 0.75 s once cut")
    for i in tqdm(range(args.sentences), desc="babble sentences", unit="sentence"):
        target = out / f"words_{i:05d}.wav"
        picks = [cut[int(j)] for j in rng.choice(len(cut), int(rng.integers(3, 9)))]
        sentence = babble_sentence(rng, picks)
        if not target.is_file():  # drawn anyway, so a rerun makes the same files
            partial = target.with_name(target.name + ".partial")  # a kill leaves no torn .wav
            sf.write(partial, sentence.astype(np.float32), SAMPLE_RATE, "PCM_16", format="WAV")
            os.replace(partial, target)
    print(f"{args.sentences} sentences of {len(cut)} of {len(words)} training _unknown_ clips "
          f"in {out}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
