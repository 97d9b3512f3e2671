"""Waveform augmentation (astaudio.augment) and its hook in AudioDataset."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import soundfile as sf

from astaudio.augment import (
    WaveformAugment,
    WaveformAugmentConfig,
    narrowband,
    room_impulse_response,
    telephone,
)
from astaudio.data import AudioDataset, AugmentConfig, DatasetSpec, Item

SR = 16_000
OFF = {f.name: 0.0 for f in dataclasses.fields(WaveformAugmentConfig) if f.name.startswith("p_")}


def word(seed: int = 0) -> np.ndarray:
    """A 1-s clip with a 0.3-s 'word' (harmonic tone burst) in the middle: (16000,) float32."""
    t = np.arange(int(0.3 * SR)) / SR
    burst = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((220, 440, 880), 1))
    clip = np.zeros(SR)
    start = 6000 + seed * 10
    clip[start : start + len(burst)] = 0.1 * burst * np.hanning(len(burst))
    return clip.astype(np.float32)


def only(**kwargs) -> WaveformAugment:
    return WaveformAugment(WaveformAugmentConfig(**{**OFF, **kwargs}))


def power_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64))))


def test_same_generator_state_same_audio_and_shape_kept(tmp_path):
    babble = tmp_path / "talker.wav"
    sf.write(babble, np.random.default_rng(1).standard_normal(2 * SR) * 0.05, SR)
    augment = WaveformAugment(WaveformAugmentConfig(babble_files=(str(babble),), p_codec=0.5))
    clip = word()
    outputs = [augment(clip, np.random.default_rng([0, e, 3, 2])) for e in (0, 0, 1)]
    assert all(o.shape == clip.shape and o.dtype == np.float32 for o in outputs)
    assert all(np.all(np.abs(o) <= 1.0) for o in outputs)
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert not np.array_equal(outputs[0], outputs[2])
    assert not np.array_equal(clip, outputs[0])


def test_babble_is_mixed_at_the_drawn_snr(tmp_path):
    talker = np.random.default_rng(2).standard_normal(3 * SR) * 0.2
    path = tmp_path / "talker.wav"
    sf.write(path, talker, SR, subtype="FLOAT")
    augment = only(p_babble=1.0, babble_snr_db=(10.0, 10.0), babble_files=(str(path),))
    clip = word()
    added = augment(clip, np.random.default_rng(0)).astype(np.float64) - clip
    loud = np.abs(clip) > 0
    speech = np.mean(clip[loud].astype(np.float64) ** 2)
    # speech power over the loud frames / talker power over the whole clip = 10 dB (+- 1.5)
    assert 10 * np.log10(speech / np.mean(added**2)) == pytest.approx(10.0, abs=1.5)


def test_gain_lands_in_range_and_clipping_saturates():
    levels = [power_db(only(p_gain=1.0)(word(), np.random.default_rng(i))) for i in range(30)]
    assert -45.5 <= min(levels) and max(levels) <= -5.5
    assert max(levels) - min(levels) > 15  # drawn over the range, not fixed
    clipped = only(p_gain=1.0, gain_dbfs=(-6.0, -6.0), p_clip=1.0)(word(), np.random.default_rng(0))
    assert np.max(np.abs(clipped)) == pytest.approx(1.0)


def test_telephone_keeps_the_voice_band_and_drops_the_rest():
    t = np.arange(SR) / SR
    low, high = np.sin(2 * np.pi * 1000 * t) * 0.3, np.sin(2 * np.pi * 6000 * t) * 0.3
    assert power_db(telephone(low, SR, "mu")) == pytest.approx(power_db(low), abs=1.0)
    assert power_db(telephone(high, SR, "a")) < power_db(high) - 40


def test_reverb_tail_decays_by_rt60():
    ir = room_impulse_response(np.random.default_rng(0), rt60_s=0.5, sample_rate=SR)
    first = np.mean(ir[: SR // 20] ** 2)
    late = np.mean(ir[int(0.45 * SR) : int(0.5 * SR)] ** 2)
    assert 10 * np.log10(first / late) > 40


def test_edge_moves_the_word_flush_against_an_end():
    out = only(p_edge=1.0)(word(), np.random.default_rng(0))
    loud = np.nonzero(np.abs(out) > 1e-3)[0]
    assert loud[0] < 200 or loud[-1] > SR - 200


def test_config_from_json_resolves_files_and_rejects_unknown_keys(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"p_reverb": 0.5, "babble_files": ["b.wav"]}))
    config = WaveformAugmentConfig.from_json(tmp_path / "a.json")
    assert config.p_reverb == 0.5 and config.babble_files == (str(tmp_path / "b.wav"),)
    (tmp_path / "bad.json").write_text(json.dumps({"p_reverbb": 0.5}))
    with pytest.raises(ValueError, match="p_reverbb"):
        WaveformAugmentConfig.from_json(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="probability"):
        WaveformAugmentConfig(p_noise=1.5)


def test_dataset_applies_the_waveform_hook_per_seed_epoch_index(tmp_path):
    path = tmp_path / "clip.wav"
    sf.write(path, word(), SR)
    spec = DatasetSpec([Item(str(path), (0,))], ["a"], False)
    plain = AudioDataset(spec, seed=0)[0]["input_values"]
    augment = AugmentConfig(waveform=only(p_gain=1.0, p_noise=1.0))
    dataset = AudioDataset(spec, augment=augment, seed=0, cache_dir=tmp_path / "cache")
    first = dataset[0]["input_values"]
    assert not np.allclose(first.numpy(), plain.numpy())
    assert np.array_equal(dataset[0]["input_values"].numpy(), first.numpy())
    dataset.set_epoch(1)
    assert not np.array_equal(dataset[0]["input_values"].numpy(), first.numpy())


def test_a_codec_that_refuses_a_clip_leaves_it_unchanged(monkeypatch):
    import astaudio.augment as augment_module

    def refuse(*args, **kwargs):
        raise RuntimeError("libsndfile: internal error")  # soundfile.LibsndfileError is one

    monkeypatch.setattr(augment_module, "_codec", refuse)
    clip = word()
    out = only(p_codec=1.0)(clip, np.random.default_rng(0))
    np.testing.assert_allclose(out, clip, atol=1e-7)


def test_trim_cuts_the_clip_to_the_word_and_a_short_margin():
    clip = word()
    power = np.mean(clip.astype(np.float64).reshape(-1, 160) ** 2, axis=1)
    within_20_db = np.nonzero(power >= power.max() / 100)[0]
    nonzero = np.nonzero(power > 0)[0]
    lengths = []
    for seed in range(20):
        out = only(p_trim=1.0, trim_margin_s=(0.0, 0.05))(clip, np.random.default_rng(seed))
        lengths.append(len(out))
        # the whole loud part survives, as one piece
        assert np.max(np.abs(out)) == pytest.approx(np.max(np.abs(clip)), rel=1e-6)
        assert (within_20_db[-1] - within_20_db[0] + 1) * 160 <= len(out)
        assert len(out) <= (nonzero[-1] - nonzero[0] + 1) * 160 + 2 * 800
    assert len(set(lengths)) > 5  # threshold and margins are drawn per clip
    assert max(lengths) < len(clip) // 2


def test_trim_off_never_shortens_and_edge_wins_over_trim():
    clip = word()
    for seed in range(10):
        assert len(only(p_gain=1.0, p_noise=1.0)(clip, np.random.default_rng(seed))) == len(clip)
        assert len(only(p_edge=1.0, p_trim=1.0)(clip, np.random.default_rng(seed))) == len(clip)


def test_dataset_pads_a_trimmed_clip_as_the_feature_extractor_pads_a_short_file(tmp_path):
    from astaudio import ASTFeatureExtractor

    path = tmp_path / "clip.wav"
    sf.write(path, word(), SR, subtype="FLOAT")
    spec = DatasetSpec([Item(str(path), (0,))], ["a"], False)
    augment = AugmentConfig(waveform=only(p_trim=1.0))
    extractor = ASTFeatureExtractor(num_mel_bins=64, max_length=100)
    dataset = AudioDataset(spec, extractor, augment=augment, seed=0)
    trimmed = only(p_trim=1.0)(word(), np.random.default_rng([0, 0, 0, 2]))
    expected = extractor(trimmed, sampling_rate=SR, return_tensors="np")["input_values"][0]
    np.testing.assert_allclose(dataset[0]["input_values"].numpy(), expected, atol=1e-4)
    frames = len(trimmed) // 160
    assert frames < 60  # the padding is there to compare
    np.testing.assert_allclose(expected[frames + 1 :], expected[-1][None, :].repeat(99 - frames, 0))


def test_narrowband_drops_everything_above_4_khz():
    t = np.arange(SR) / SR
    low, high = np.sin(2 * np.pi * 1000 * t) * 0.3, np.sin(2 * np.pi * 6000 * t) * 0.3
    assert power_db(narrowband(low, SR)) == pytest.approx(power_db(low), abs=0.5)
    assert power_db(narrowband(high, SR)) < power_db(high) - 40
    out = only(p_narrowband=1.0)(low, np.random.default_rng(0))
    assert power_db(out) == pytest.approx(power_db(low), abs=0.5)
