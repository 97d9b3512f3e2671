"""hibari's voice changed inside its vocoder: are such variants new voices to a keyword model?

    python vocoder_voices.py ../../src/astaudio/bundled/keywords runs/stage-w2/shipped \\
        runs/stage-x/shipped

hibari's network (PyPI hibari-tts) predicts for every 12.5-ms frame a pitch curve and spectral
envelopes (601 frequency bins of a harmonic, a noise and a free-phase part), and its vocoder
(``hibari.dsp.synth``) turns them into audio. Scaling the pitch curve (its median by PITCH, its
swing around the median by CONTOUR) and stretching the envelopes along the frequency axis (by
ENVELOPE: below 1 a longer vocal tract, lower formants) makes another speaker who articulates
as hibari does. Each variant says the 20 commands at three speeds (hibari's 0.85, 1 and 1.2),
centred in 1 s at one level, and every model's top-1 on each variant is printed. A model that
trained on hibari's plain voice (stage W2) and still hears her variants as well as her own voice
has learned nothing from them that a new speaker would teach (README: "hibari's vocoder voices").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from kws_audio import COMMAND_WORDS

RATE = 24_000  # hibari's output
SPEEDS = (0.85, 1.0, 1.2)
VOICED_ABOVE = 40.0  # Hz: hibari.dsp.pulses treats f0 values up to this as unvoiced
# (pitch, contour, envelope): the plain voice, deeper and longer-tracted ones, a flat one and
# higher, shorter-tracted ones
VARIANTS = ((1.0, 1.0, 1.0), (0.55, 1.0, 0.85), (0.6, 1.3, 0.9), (0.75, 0.6, 0.95),
            (1.3, 1.0, 1.1), (0.5, 0.8, 0.82), (1.4, 1.5, 1.12))  # fmt: skip


def stretch_envelope(envelope: np.ndarray, factor: float) -> np.ndarray:
    """(bins, frames) -> (bins, frames): what lay at bin k now lies at bin k * factor (linear
    interpolation; bins beyond the top repeat the last one)."""
    bins = envelope.shape[0]
    source = np.clip(np.arange(bins, dtype=np.float64) / factor, 0, bins - 1)
    low = np.floor(source).astype(int)
    high = np.minimum(low + 1, bins - 1)
    weight = (source - low)[:, None]
    return (envelope[low] * (1 - weight) + envelope[high] * weight).astype(envelope.dtype)


def scale_pitch(f0: np.ndarray, pitch: float, contour: float) -> np.ndarray:
    """(frames,) Hz -> (frames,) Hz: voiced frames moved to ``median * pitch * (f0 /
    median) ** contour``; unvoiced frames are left as they are."""
    voiced = f0 > VOICED_ABOVE
    if not voiced.any():
        return f0.copy()
    median = float(np.median(f0[voiced]))
    out = f0.astype(np.float64).copy()
    out[voiced] = median * pitch * (f0[voiced] / median) ** contour
    return out.astype(f0.dtype)


def say(tts, text: str, variant: tuple[float, float, float], speed: float, seed: int):
    """hibari saying ``text`` as ``variant`` (pitch, contour, envelope): 1 s at 16 kHz."""
    import soxr
    from hibari import dsp

    from astaudio.augment import fit_length

    pitch, contour, envelope = variant
    ids = tts.ids(" ".join(tts.phonemize(text)))
    inputs = {"ids": np.asarray([ids], np.int64), "speed": np.asarray([speed], np.float32)}
    *envelopes, f0 = (out[0] for out in tts.sess.run(None, inputs))
    envelopes = [stretch_envelope(e, envelope) for e in envelopes]
    audio = dsp.synth(*envelopes, scale_pitch(f0, pitch, contour), np.random.default_rng(seed))
    audio = soxr.resample(audio, RATE, 16_000)
    audio *= 0.05 / (np.sqrt(np.mean(audio**2)) + 1e-9)
    return fit_length(audio, 16_000).astype(np.float32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", type=Path, help="keyword model folders")
    args = parser.parse_args()
    for folder in args.models:
        if not (folder / "model.safetensors").is_file():
            sys.exit(f"error: {folder} is not a model folder (no model.safetensors)")
    try:
        from hibari import Hibari
    except ImportError:
        sys.exit("error: hibari-tts is not installed (pip install -r requirements.txt)")
    import torch

    from astaudio import ASTFeatureExtractor, ASTForAudioClassification

    tts = Hibari(threads=1)
    models = [(ASTForAudioClassification.from_pretrained(f).eval(),
               ASTFeatureExtractor.from_pretrained(f)) for f in args.models]  # fmt: skip
    takes = [(word, speed) for word in COMMAND_WORDS for speed in SPEEDS]
    print("| pitch, contour, envelope | " + " | ".join(str(f) for f in args.models) + " |")
    print("|---|" + "---|" * len(args.models))
    for variant in VARIANTS:
        clips = [say(tts, word, variant, speed, seed) for seed, (word, speed) in enumerate(takes)]
        cells = []
        for model, extractor in models:
            with torch.no_grad():
                logits = model(**extractor(clips, sampling_rate=16_000, return_tensors="pt")).logits
            said = [model.config.id2label[int(i)] for i in logits.argmax(-1)]
            right = sum(s == word for s, (word, _) in zip(said, takes, strict=True))
            cells.append(f"{right}/{len(takes)}")
        print(f"| x{variant[0]:g}, x{variant[1]:g}, x{variant[2]:g} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
