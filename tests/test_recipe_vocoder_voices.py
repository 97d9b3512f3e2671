"""The keyword recipe's vocoder variants of hibari (recipes/synthetic-commands/vocoder_voices.py).

A variant's envelope stretch must move spectral features by its factor along the frequency axis,
and its pitch change must scale the voiced frames' median and swing and leave unvoiced frames
alone; otherwise the README's reading of the variants (deeper, flatter, shorter-tracted voices)
would be wrong. The synthesis itself needs hibari-tts and is not run here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "synthetic-commands"
sys.path.insert(0, str(RECIPE))

from vocoder_voices import VOICED_ABOVE, scale_pitch, stretch_envelope  # noqa: E402


def _peaks(envelope: np.ndarray) -> np.ndarray:
    return envelope.argmax(axis=0)


def test_envelope_stretch_moves_a_formant_by_its_factor():
    bins = np.arange(601, dtype=np.float32)[:, None]
    centres = np.array([100.0, 240.0, 400.0], dtype=np.float32)  # one formant per frame
    envelope = -((bins - centres) ** 2) / 50.0  # (601, 3) log-magnitudes peaking at the centres
    np.testing.assert_allclose(stretch_envelope(envelope, 1.0), envelope)
    for factor in (0.85, 1.1):
        stretched = stretch_envelope(envelope, factor)
        assert stretched.shape == envelope.shape and stretched.dtype == envelope.dtype
        expected = np.minimum(np.round(centres * factor), 600)
        np.testing.assert_allclose(_peaks(stretched), expected, atol=1)
    # a longer vocal tract (factor < 1) fills the top bins with the last one's value
    shrunk = stretch_envelope(envelope, 0.8)
    np.testing.assert_allclose(shrunk[-1], envelope[-1])


def test_pitch_scales_the_voiced_median_and_swing_only():
    f0 = np.array([0.0, 180.0, 200.0, 30.0, 250.0], dtype=np.float32)
    voiced = f0 > VOICED_ABOVE
    median = float(np.median(f0[voiced]))  # 200: an odd count, so the middle frame's own
    out = scale_pitch(f0, 0.5, 2.0)
    np.testing.assert_array_equal(out[~voiced], f0[~voiced])
    np.testing.assert_allclose(np.median(out[voiced]), median * 0.5, rtol=1e-5)
    # the swing around the median doubles in log frequency: 180 Hz is 2x as far below it
    np.testing.assert_allclose(
        np.log(out[voiced] / (median * 0.5)), 2 * np.log(f0[voiced] / median), atol=1e-5
    )
    np.testing.assert_allclose(scale_pitch(f0, 1.0, 1.0), f0)
    silent = np.zeros(4, dtype=np.float32)
    np.testing.assert_array_equal(scale_pitch(silent, 0.5, 1.5), silent)
