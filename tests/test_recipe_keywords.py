"""The keyword recipe's data planning and condition sets (recipes/synthetic-commands).

The recipe is not part of the package, but the bundled model and the held-out slice come from
it: these check the parts whose mistakes would not show in a trained model's accuracy (an engine
leaking into held-out splits, a condition that does not do what its name says).
"""

from __future__ import annotations

import shutil
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "synthetic-commands"
sys.path.insert(0, str(RECIPE))

import make_conditions  # noqa: E402
import make_dataset  # noqa: E402
from kws_audio import SAMPLE_RATE, VoiceInventory, festival_voices  # noqa: E402

needs_festival = pytest.mark.skipif(
    not shutil.which("text2wave") or not festival_voices(),
    reason="festival and its voices are not installed (scripts/install-system-deps.sh)",
)


def plan(festival_share: float) -> list:
    inventory = VoiceInventory(
        espeak_accents=["en-gb", "en-us", "en-029"],
        espeak_variants=["f1", "f2", "f3", "m1", "m2", "m3"],
        variant_genders={"f1": "F", "f2": "F", "f3": "F", "m1": "M", "m2": "M", "m3": "M"},
        flite_voices=[("awb", "awb"), ("rms", "rms"), ("slt", "slt")],
    )
    rng = np.random.default_rng(0)
    splits = make_dataset.split_voices(inventory, rng)
    speakers = make_dataset.split_speakers(splits, None, rng, festival=festival_share > 0)
    labels = make_dataset.class_labels(include_unknown=True)
    unknown = make_dataset.unknown_vocabulary(rng)
    return make_dataset.plan_dataset(
        splits, speakers, labels, {"train": 200, "validation": 40, "test": 40}, rng, unknown,
        {}, festival_share=festival_share,
    )  # fmt: skip


@needs_festival
def test_festival_speaks_only_training_clips_at_the_asked_share():
    specs = plan(festival_share=0.2)
    engines = Counter(
        (spec.split, spec.speaker.engine) for spec in specs if spec.speaker is not None
    )
    assert engines[("validation", "festival")] == engines[("test", "festival")] == 0
    train_words = sum(n for (split, _), n in engines.items() if split == "train")
    assert engines[("train", "festival")] / train_words == pytest.approx(0.2, abs=0.02)
    assert engines[("train", "flite")] / train_words == pytest.approx(0.25, abs=0.02)
    voices = {spec.speaker.voice for spec in specs if spec.speaker and spec.split == "train"}
    assert set(festival_voices()) <= voices


def test_without_festival_share_no_clip_is_festival_and_flite_keeps_its_share():
    specs = plan(festival_share=0.0)
    assert not any(spec.speaker and spec.speaker.engine == "festival" for spec in specs)
    flite = sum(
        1 for s in specs if s.speaker and s.speaker.engine == "flite" and s.split == "train"
    )
    words = sum(1 for s in specs if s.speaker and s.split == "train")
    assert flite / words == pytest.approx(make_dataset.FLITE_SHARE, abs=0.02)


def tone_word(seconds: float = 0.3) -> np.ndarray:
    """1 s with a word-like burst (1 kHz and 6 kHz partials) in the middle: (16000,)."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    burst = (np.sin(2 * np.pi * 1000 * t) + np.sin(2 * np.pi * 6000 * t)) * 0.1
    clip = np.zeros(SAMPLE_RATE)
    start = (SAMPLE_RATE - len(burst)) // 2
    clip[start : start + len(burst)] = burst * np.hanning(len(burst))
    return clip


def band_power(x: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
    return float(spectrum[(freqs >= low) & (freqs < high)].sum())


def test_trimmed_conditions_cut_to_the_word_and_the_8k_one_drops_the_top_band():
    clip = tone_word()
    rng = np.random.default_rng(0)
    trimmed = make_conditions.apply_condition("trimmed", clip, rng, [], [])
    assert 0.2 * SAMPLE_RATE <= len(trimmed) <= 0.31 * SAMPLE_RATE
    if shutil.which("sox") is None:
        pytest.skip("sox is not installed")
    narrow = make_conditions.apply_condition("trimmed-8k", clip, rng, [], [])
    assert 0.2 * SAMPLE_RATE <= len(narrow) <= 0.32 * SAMPLE_RATE
    assert band_power(narrow, 4500, 8000) < 1e-4 * band_power(narrow, 500, 1500)
    assert band_power(trimmed, 4500, 8000) > 0.1 * band_power(trimmed, 500, 1500)
