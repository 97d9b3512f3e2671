"""Kaldi fbank features and ASTFeatureExtractor against torchaudio, transformers and a float64
reference, on real recordings (Debian sound packages) and synthetic signals."""

from __future__ import annotations

import json
import math
import pickle
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch
from fbank_reference import reference_fbank, reference_mel_banks
from torchaudio_kaldi import load_kaldi_module, torchaudio_ast_fbank

import astaudio.fbank as fbank
import astaudio.features as features
from astaudio.errors import ModelNotFoundError
from astaudio.features import (
    ASTFeatureExtractor,
    BatchFeature,
    count_frames,
    kaldi_fbank,
    mel_filterbank,
)

ACCEPT = 2e-3  # max |ours - torchaudio| in any bin, unnormalised log-mel (acceptance criterion)
REPLICA = 5e-5  # what repeating torchaudio's float32 arithmetic on CPU actually achieves (~1e-6)
# transformers' numpy fallback is float64, hence off torchaudio's float32 values by up to
# 7.3e-3 in near-floor bins of loud frames of these recordings (ours match torchaudio)
HF_LOG_TOL = 1e-2
LOG_EPS = math.log(torch.finfo(torch.float32).eps)  # -15.942385: the log floor
STD = 4.5689974
INSTALL_HINT = "apt-get install alsa-utils sound-theme-freedesktop"
VARIANT_RATES = (8000, 44100, 48000, 96000)  # Hz, made with sox
VARIANT_SOURCES = ("Front_Center.wav", "bell.oga", "phone-incoming-call.oga")


def _mono(path: Path) -> tuple[np.ndarray, int]:
    samples, rate = sf.read(str(path), dtype="float64", always_2d=True)
    return samples.mean(axis=1), rate


def _to_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    return soxr.resample(samples, rate, 16000, quality="HQ").astype(np.float32)


def _within_db_of_peak(reference: np.ndarray, db: float) -> np.ndarray:
    """Mask of bins within `db` of their frame's strongest bin (log-mel is natural-log power)."""
    return reference.max(axis=1, keepdims=True) - reference < db / 10 * math.log(10)


@pytest.fixture(scope="module")
def sound_files() -> list[Path]:
    alsa = sorted(Path("/usr/share/sounds/alsa").glob("*.wav"))
    theme = sorted(Path("/usr/share/sounds/freedesktop/stereo").glob("*.oga"))
    if not alsa or not theme:
        pytest.fail(f"real recordings missing from /usr/share/sounds: run `{INSTALL_HINT}`")
    return alsa + theme


@pytest.fixture(scope="module")
def sox_variants(sound_files, tmp_path_factory) -> list[tuple[str, np.ndarray, int]]:
    """(name, mono samples, rate) of a few recordings converted by sox to other rates."""
    if shutil.which("sox") is None:
        pytest.fail("sox is missing: run `apt-get install sox libsox-fmt-all`")
    folder = tmp_path_factory.mktemp("sox")
    by_name = {path.name: path for path in sound_files}
    out = []
    for name in VARIANT_SOURCES:
        for rate in VARIANT_RATES:
            target = folder / f"{Path(name).stem}_{rate}.wav"
            subprocess.run(["sox", str(by_name[name]), "-r", str(rate), str(target)], check=True)
            samples, got = _mono(target)
            assert got == rate
            out.append((target.name, samples, rate))
    return out


@pytest.fixture(scope="module")
def recordings(sound_files, sox_variants) -> list[tuple[str, np.ndarray]]:
    """Every recording and sox variant, mono, resampled to 16 kHz float32."""
    clips = [(path.name, _to_16k(*_mono(path))) for path in sound_files]
    clips += [(name, _to_16k(samples, rate)) for name, samples, rate in sox_variants]
    return clips


@pytest.fixture(scope="module")
def recording_fbanks(recordings):
    """(ours, torchaudio) per recording; ours from ONE batched call over all of them."""
    waves = [torch.from_numpy(samples) for _, samples in recordings]
    lengths = torch.tensor([len(w) for w in waves])
    batch = torch.nn.utils.rnn.pad_sequence(waves, batch_first=True)
    ours, num_frames = kaldi_fbank(batch, lengths)
    pairs = []
    for i, wave in enumerate(waves):
        expected = torchaudio_ast_fbank(wave)
        assert int(num_frames[i]) == expected.shape[0], recordings[i][0]
        assert torch.all(ours[i, num_frames[i] :] == 0), "frames past a clip's end must be zero"
        pairs.append((ours[i, : num_frames[i]], expected))
    return pairs


def _worst(named_diffs) -> tuple[float, str]:
    return max(((float(d), name) for name, d in named_diffs), default=(0.0, ""))


# -- (a) real recordings -----------------------------------------------------------------------
def test_real_recordings_match_torchaudio(recordings, recording_fbanks):
    worst, where = _worst(
        (name, (ours - ta).abs().max())
        for (name, _), (ours, ta) in zip(recordings, recording_fbanks, strict=True)
    )
    assert worst <= ACCEPT, f"max |ours - torchaudio| = {worst:.3g} on {where} (limit {ACCEPT})"
    assert worst <= REPLICA, (
        f"max |ours - torchaudio| = {worst:.3g} on {where}: float32 replica off"
    )


def test_real_recordings_at_native_rates_match_torchaudio(sox_variants):
    for name, samples, rate in sox_variants:
        wave = torch.from_numpy(samples.astype(np.float32))
        ours, num_frames = kaldi_fbank(wave, sampling_rate=rate)
        expected = torchaudio_ast_fbank(wave, sampling_rate=rate)
        assert ours.shape == (1, *expected.shape) and int(num_frames) == expected.shape[0]
        worst = float((ours[0] - expected).abs().max())
        assert worst <= REPLICA, f"{name} at {rate} Hz: max |ours - torchaudio| = {worst:.3g}"


def test_real_recordings_match_float64_reference(recordings, recording_fbanks):
    strong, overall = [], []
    for (name, samples), (ours, ta) in zip(recordings, recording_fbanks, strict=True):
        ref = reference_fbank(samples)
        assert ref.shape == tuple(ours.shape), name
        diff = np.abs(ours.double().numpy() - ref)
        strong.append((name, diff[_within_db_of_peak(ref, 40)].max()))
        overall.append((name, diff.max()))
        # the reference itself agrees with torchaudio just as well (it is not fitted to us)
        assert np.abs(ta.double().numpy() - ref).max() <= 1.5e-2, name
    worst, where = _worst(strong)
    assert worst <= 5e-4, f"bins within 40 dB of the frame peak: max diff {worst:.3g} on {where}"
    # near-floor bins of loud frames carry float32 FFT error (torchaudio's too): 7.3e-3 here
    worst, where = _worst(overall)
    assert worst <= 1.5e-2, f"max |ours - float64 reference| = {worst:.3g} on {where}"


def test_float64_spectral_path_stays_within_torchaudio_float32_error(
    recordings, recording_fbanks, monkeypatch
):
    # the path CUDA takes (float64 FFT and mel), exercised on the CPU
    monkeypatch.setattr(fbank, "_spectral_dtype", lambda device: torch.float64)
    worst = strong = 0.0
    for (_, samples), (_, ta) in zip(recordings[::4], recording_fbanks[::4], strict=True):
        ours, _ = kaldi_fbank(torch.from_numpy(samples))
        diff = (ours[0] - ta).abs().numpy()
        worst = max(worst, diff.max())
        strong = max(strong, diff[_within_db_of_peak(ta.double().numpy(), 40)].max())
    assert worst <= 1.5e-2 and strong <= 5e-4, f"float64 path: max {worst:.3g}, strong {strong:.3g}"


# -- (b) synthetic signals ---------------------------------------------------------------------
def _synthetic() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1234)
    t = np.arange(16000) / 16000.0  # 1 s at 16 kHz
    clicks = np.zeros(16000)
    clicks[::1600] = 1.0
    return {
        "sine 440 Hz": 0.5 * np.sin(2 * np.pi * 440 * t),
        "sine 1 kHz quiet": 0.01 * np.sin(2 * np.pi * 1000 * t),
        "sine 7.5 kHz": 0.3 * np.sin(2 * np.pi * 7500 * t),
        "clicks": clicks,
        "white noise": 0.1 * rng.standard_normal(16000),
        "dc offset + sine": 0.3 + 0.05 * np.sin(2 * np.pi * 300 * t),
        "very quiet noise": 3e-5 * rng.standard_normal(16000),
        "full-scale square": np.sign(np.sin(2 * np.pi * 250 * t + 0.1)),
        "int16-scale noise": np.clip(8000 * rng.standard_normal(16000), -32768, 32767).round(),
    }


@pytest.mark.parametrize("name", list(_synthetic()))
def test_synthetic_signals_match_torchaudio_and_reference(name):
    samples = _synthetic()[name].astype(np.float32)
    ours, num_frames = kaldi_fbank(torch.from_numpy(samples))
    expected = torchaudio_ast_fbank(torch.from_numpy(samples))
    assert int(num_frames) == expected.shape[0] == 1 + (16000 - 400) // 160
    worst = float((ours[0] - expected).abs().max())
    assert worst <= REPLICA, f"{name}: max |ours - torchaudio| = {worst:.3g}"
    ref = reference_fbank(samples)
    strong = _within_db_of_peak(ref, 40) & (ref > LOG_EPS + 1.0)  # clear of the floor
    diff = np.abs(ours[0].double().numpy() - ref)[strong]
    assert diff.size and diff.max() <= 5e-4, f"{name}: vs float64 reference {diff.max():.3g}"


def test_silence_is_the_log_floor_everywhere():
    ours, num_frames = kaldi_fbank(torch.zeros(2, 8000))
    assert ours.shape == (2, 48, 128) and num_frames.tolist() == [48, 48]
    assert torch.all(ours == np.float32(LOG_EPS))
    assert torch.equal(ours[0], torchaudio_ast_fbank(torch.zeros(8000)))
    # a constant (pure DC) is removed frame by frame: silence again
    dc, _ = kaldi_fbank(torch.full((4000,), 0.25))
    assert torch.all(dc == np.float32(LOG_EPS))


def test_frame_count_follows_snip_edges():
    for n in (0, 1, 399, 400, 401, 559, 560, 16000, 160000):
        expected = 0 if n < 400 else 1 + (n - 400) // 160
        assert count_frames(n) == expected
        assert kaldi_fbank(torch.ones(n))[0].shape == (1, expected, 128)
    lengths = torch.tensor([0, 399, 400, 560, 16000])
    assert count_frames(lengths).tolist() == [0, 0, 1, 2, 98]


# -- mel filter bank ---------------------------------------------------------------------------
@pytest.mark.parametrize("rate,n_fft,bins", [(16000, 512, 128), (8000, 256, 23), (44100, 2048, 64)])
def test_mel_filterbank_is_torchaudios_get_mel_banks(rate, n_fft, bins):
    kaldi = load_kaldi_module()
    expected, _ = kaldi.get_mel_banks(bins, n_fft, float(rate), 20.0, 0.0, 100.0, -500.0, 1.0)
    ours = mel_filterbank(bins, sampling_rate=rate, n_fft=n_fft)
    assert ours.shape == (bins, n_fft // 2 + 1) and ours.dtype == torch.float32
    assert torch.equal(ours[:, :-1], expected) and torch.all(ours[:, -1] == 0)
    exact = mel_filterbank(bins, sampling_rate=rate, n_fft=n_fft, dtype=torch.float64)
    np.testing.assert_allclose(exact.numpy(), reference_mel_banks(bins, rate, n_fft), atol=1e-12)


def test_mel_filterbank_cache_is_not_shared_with_callers():
    first = mel_filterbank(128)
    first.fill_(7.0)
    assert mel_filterbank(128).max() <= 1.0
    with pytest.raises(ValueError, match="high_freq"):
        mel_filterbank(128, low_freq=9000.0)
    with pytest.raises(ValueError, match="num_mel_bins"):
        mel_filterbank(0)


def test_features_are_differentiable_after_inference_mode_use():
    features._mel_filterbank_cached.cache_clear()
    features._hann_window.cache_clear()
    with torch.inference_mode():  # caches filled here must not poison later autograd
        kaldi_fbank(torch.randn(2000), num_mel_bins=40)
    wave = (0.1 * torch.randn(2000)).requires_grad_()
    fbank, _ = kaldi_fbank(wave, num_mel_bins=40)
    # the autograd path (one batched pass, dense mel product) and the CPU's blocked inference
    # path (banded mel product) differ only in the mel sums' rounding order
    torch.testing.assert_close(
        fbank, kaldi_fbank(wave.detach(), num_mel_bins=40)[0], atol=2e-6, rtol=0
    )
    fbank.sum().backward()
    assert wave.grad is not None and torch.isfinite(wave.grad).all() and wave.grad.abs().sum() > 0


# -- (c) transformers' ASTFeatureExtractor -----------------------------------------------------
@pytest.fixture(scope="module")
def hf_module():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its "mel filter has all zero values" notice
        from transformers import ASTFeatureExtractor as HFExtractor
        from transformers import AutoFeatureExtractor

        yield HFExtractor, AutoFeatureExtractor


def _hf(hf_cls, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hf_cls(**kwargs)


def test_matches_transformers_on_recordings_single_and_batched(hf_module, recordings):
    hf = _hf(hf_module[0])
    ours = ASTFeatureExtractor()
    long_clip = np.concatenate([samples for _, samples in recordings[:12]])  # > 1024 frames
    assert count_frames(len(long_clip)) > 1024
    batch = [recordings[0][1], long_clip, recordings[20][1]]  # unequal; padded and truncated
    for inputs in (recordings[3][1], batch):
        expected = hf(inputs, sampling_rate=16000, return_tensors="np")["input_values"]
        got = ours(inputs, sampling_rate=16000, return_tensors="np")["input_values"]
        assert got.shape == expected.shape and got.dtype == np.float32
        worst = float(np.abs(got - expected).max())
        assert worst <= HF_LOG_TOL / (2 * STD), f"normalised max diff {worst:.3g}"
    # padded frames are normalised zeros, exactly as transformers has them
    got = ours(batch[0], sampling_rate=16000, return_tensors="np")["input_values"][0]
    real = count_frames(len(batch[0]))
    assert np.all(got[real:] == np.float32((0.0 - ours.mean) / (2 * ours.std)))


def test_matches_transformers_unnormalised_and_list_outputs(hf_module):
    rng = np.random.default_rng(7)
    clips = [0.2 * rng.standard_normal(n).astype(np.float32) for n in (400, 7000, 12345)]
    hf = _hf(hf_module[0], do_normalize=False, max_length=80)
    ours = ASTFeatureExtractor(do_normalize=False, max_length=80)
    expected = hf(clips, sampling_rate=16000)["input_values"]
    got = ours(clips, sampling_rate=16000)["input_values"]
    assert isinstance(got, list) and len(got) == 3 and isinstance(got[0], np.ndarray)
    for e, g in zip(expected, got, strict=True):
        assert g.shape == e.shape == (80, 128)
        assert np.abs(g - e).max() <= HF_LOG_TOL
    two_d = np.stack([clips[2][:9000], clips[2][1000:10000]])
    pt = ours(two_d, sampling_rate=16000, return_tensors="pt")["input_values"]
    hf_pt = hf(two_d, sampling_rate=16000, return_tensors="pt")["input_values"]
    assert isinstance(pt, torch.Tensor) and pt.shape == hf_pt.shape == (2, 80, 128)
    assert (pt - hf_pt).abs().max() <= HF_LOG_TOL


def test_attention_mask_marks_real_frames():
    ours = ASTFeatureExtractor(max_length=100, return_attention_mask=True)
    lengths = [16000, 300, 400, 20000]  # 98, 0, 1 and 123 -> 100 frames
    clips = [np.full(n, 0.1, np.float32) for n in lengths]
    out = ours(clips, sampling_rate=16000, return_tensors="pt")
    assert out.attention_mask.shape == (4, 100) and out.attention_mask.dtype == torch.int32
    assert out.attention_mask.sum(1).tolist() == [98, 0, 1, 100]
    assert torch.equal(out.attention_mask[0, :98], torch.ones(98, dtype=torch.int32))
    padded = (ours.padding_value - ours.mean) / (2 * ours.std)
    assert torch.all(out.input_values[1] == np.float32(padded)), "a short clip is all padding"
    no_mask = ours(clips, sampling_rate=16000, return_attention_mask=False)
    assert "attention_mask" not in no_mask


def test_padding_value_fills_padded_frames():
    ours = ASTFeatureExtractor(max_length=50, padding_value=-1.5, do_normalize=False)
    out = ours([np.ones(2000, np.float32), np.ones(6000, np.float32)], sampling_rate=16000)
    assert np.all(out["input_values"][0][count_frames(2000) :] == -1.5)
    assert np.all(out["input_values"][1][: count_frames(6000)] == np.float32(LOG_EPS))


# -- (d) batching ------------------------------------------------------------------------------
def test_batched_equals_one_by_one(recordings, monkeypatch):
    clips = [
        samples[:n]
        for (_, samples), n in zip(recordings[::9][:4], (3000, 16000, 9999, 40000), strict=True)
    ]
    clips += [np.zeros(100, np.float32), _synthetic()["clicks"].astype(np.float32)]
    ours = ASTFeatureExtractor(max_length=200, return_attention_mask=True)
    batched = ours(clips, sampling_rate=16000, return_tensors="pt")
    for i, clip in enumerate(clips):
        single = ours(clip, sampling_rate=16000, return_tensors="pt")
        torch.testing.assert_close(
            batched.input_values[i], single.input_values[0], rtol=0, atol=1e-6
        )
        assert torch.equal(batched.attention_mask[i], single.attention_mask[0])
    # how the frames are cut up changes nothing: CPU blocks that split clips (37 frames, vs the
    # default 512 that holds several), and the one-pass path's chunks (autograd, GPUs)
    waves = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(c) for c in clips], batch_first=True)
    lengths = torch.tensor([len(c) for c in clips])
    whole = kaldi_fbank(waves, lengths)
    monkeypatch.setattr(fbank, "BLOCK_FRAMES", 37)
    blocks = kaldi_fbank(waves, lengths)
    torch.testing.assert_close(whole[0], blocks[0], rtol=0, atol=1e-6)
    assert torch.equal(whole[1], blocks[1])
    one_pass = kaldi_fbank(waves.requires_grad_(), lengths)[0].detach()
    monkeypatch.setattr(fbank, "FRAMES_PER_CHUNK", 37)
    chunked = kaldi_fbank(waves, lengths)[0].detach()
    assert torch.equal(one_pass, chunked)
    torch.testing.assert_close(whole[0], one_pass, rtol=0, atol=2e-6)


def test_input_kinds_agree():
    rng = np.random.default_rng(3)
    a, b = (0.1 * rng.standard_normal(n).astype(np.float32) for n in (5000, 8000))
    ours = ASTFeatureExtractor(max_length=60)

    def run(x):
        return ours(x, sampling_rate=16000, return_tensors="np")["input_values"]

    batch = run([a, b])
    assert batch.shape == (2, 60, 128)
    np.testing.assert_array_equal(run([a.tolist(), b.tolist()]), batch)
    np.testing.assert_array_equal(run([torch.from_numpy(a), torch.from_numpy(b)]), batch)
    np.testing.assert_array_equal(run([a.astype(np.float64), b]), batch)
    np.testing.assert_array_equal(run(a.tolist())[0], batch[0])
    np.testing.assert_array_equal(run(torch.from_numpy(a))[0], batch[0])
    np.testing.assert_array_equal(run(np.stack([b[:5000], a]))[1], batch[0])
    np.testing.assert_array_equal(run(torch.from_numpy(np.stack([a, b[:5000]])))[0], batch[0])


def test_extract_is_the_tensor_path_of_call():
    ours = ASTFeatureExtractor(max_length=120)
    waves = torch.randn(3, 9000) * 0.1
    lengths = torch.tensor([9000, 4000, 350])
    got = ours.extract(waves, lengths)
    clips = [waves[i, :n] for i, n in enumerate(lengths.tolist())]
    expected = ours(clips, sampling_rate=16000, return_tensors="pt")["input_values"]
    assert got.shape == (3, 120, 128) and torch.equal(got, expected)
    assert torch.equal(ours.extract(waves[0]), expected[:1])
    assert torch.equal(ours.normalize(torch.zeros(1)), torch.tensor([-ours.mean / (2 * ours.std)]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_torchaudio(recordings):
    worst = 0.0
    for _, samples in recordings[::3]:
        wave = torch.from_numpy(samples)
        ours, _ = kaldi_fbank(wave.cuda())
        assert ours.device.type == "cuda"
        worst = max(worst, float((ours[0].cpu() - torchaudio_ast_fbank(wave)).abs().max()))
    assert worst <= 1.5e-2, f"CUDA: max |ours - torchaudio| = {worst:.3g}"
    out = ASTFeatureExtractor()(samples, sampling_rate=16000, return_tensors="pt", device="cuda")
    assert out.input_values.device.type == "cuda"


# -- (e) bad inputs ----------------------------------------------------------------------------
def test_bad_inputs_raise_clear_errors():
    ours = ASTFeatureExtractor()
    clip = np.zeros(1000, np.float32)
    with pytest.raises(ValueError, match="resample"):
        ours(clip, sampling_rate=44100)
    with pytest.warns(UserWarning, match="sampling_rate"):
        ours(clip)
    for bad in (np.nan, np.inf, -np.inf):
        poisoned = clip.copy()
        poisoned[10] = bad
        with pytest.raises(ValueError, match="NaN or Inf"):
            ours(poisoned, sampling_rate=16000)
        with pytest.raises(ValueError, match=r"NaN or Inf samples \(clip 1\)"):
            ours([clip, poisoned], sampling_rate=16000)
    with pytest.raises(ValueError, match="mono"):
        ours(np.zeros((2, 2, 1000), np.float32), sampling_rate=16000)
    with pytest.raises(ValueError, match="mono"):
        ours([np.zeros((2, 1000), np.float32)], sampling_rate=16000)
    with pytest.raises(ValueError, match="mono"):
        ours(np.float32(0.5), sampling_rate=16000)
    for empty in ([], np.zeros((0, 1000), np.float32), torch.zeros(0, 1000)):
        with pytest.raises(ValueError, match="empty batch"):
            ours(empty, sampling_rate=16000)
    with pytest.raises(ValueError, match="numbers"):
        ours(["a", "b"], sampling_rate=16000)
    with pytest.raises(ValueError, match="complex"):
        ours(np.zeros(1000, np.complex64), sampling_rate=16000)
    with pytest.raises(TypeError, match="raw_speech"):
        ours("speech.wav", sampling_rate=16000)
    with pytest.raises(ValueError, match="return_tensors"):
        ours(clip, sampling_rate=16000, return_tensors="jax")


def test_tf_without_tensorflow_is_a_clear_error():
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="TensorFlow"):
            ASTFeatureExtractor()(np.zeros(1000), sampling_rate=16000, return_tensors="tf")
    else:
        out = ASTFeatureExtractor()(np.zeros(1000), sampling_rate=16000, return_tensors="tf")
        assert tuple(out["input_values"].shape) == (1, 1024, 128)


def test_kaldi_fbank_rejects_bad_lengths():
    waves = torch.zeros(2, 1000)
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, 1000\]"):
        kaldi_fbank(waves, torch.tensor([1000, 1001]))
    with pytest.raises(ValueError, match="shape"):
        kaldi_fbank(waves, torch.tensor([5]))
    with pytest.raises(ValueError, match="integers"):
        kaldi_fbank(waves, torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"\(batch, samples\)"):
        kaldi_fbank(torch.zeros(1, 2, 1000))
    with pytest.raises(TypeError, match="torch.Tensor"):
        kaldi_fbank(np.zeros(1000))


def test_bad_configs_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="max_length"):
        ASTFeatureExtractor(max_length=0)
    with pytest.raises(ValueError, match="padding_side"):
        ASTFeatureExtractor(padding_side="left")
    (tmp_path / "preprocessor_config.json").write_text(
        json.dumps({"feature_extractor_type": "WhisperFeatureExtractor", "feature_size": 80})
    )
    with pytest.raises(ValueError, match="WhisperFeatureExtractor"):
        ASTFeatureExtractor.from_pretrained(tmp_path)
    with pytest.raises(ModelNotFoundError):
        ASTFeatureExtractor.from_pretrained(tmp_path / "missing")


# -- BatchFeature ------------------------------------------------------------------------------
def test_batch_feature_behaves_like_model_kwargs():
    out = ASTFeatureExtractor(max_length=16, return_attention_mask=True)(
        np.ones(4000, np.float32), sampling_rate=16000, return_tensors="pt"
    )
    assert out.input_values is out["input_values"]

    def model(input_values, attention_mask):
        return input_values.shape, attention_mask.shape

    assert model(**out) == ((1, 16, 128), (1, 16))
    half = out.to(torch.float16)
    assert isinstance(half, BatchFeature) and half is not out
    assert half.input_values.dtype == torch.float16 and half.attention_mask.dtype == torch.int32
    assert out.input_values.dtype == torch.float32
    assert out.to("cpu").input_values.device.type == "cpu"
    as_np = BatchFeature(dict(out)).convert_to_tensors("np")
    assert isinstance(as_np.input_values, np.ndarray) and as_np.input_values.shape == (1, 16, 128)
    with pytest.raises(AttributeError):
        _ = out.pixel_values
    copied = pickle.loads(pickle.dumps(out))  # DataLoader workers send these between processes
    assert isinstance(copied, BatchFeature) and torch.equal(copied.input_values, out.input_values)


# -- (f) preprocessor_config.json ------------------------------------------------------------
def test_save_and_load_round_trip(tmp_path):
    ours = ASTFeatureExtractor(max_length=512, mean=-5.0, std=3.0, custom_key=[1, 2])
    written = ours.save_pretrained(tmp_path)  # the written files, as transformers returns
    assert written == [str(tmp_path / "preprocessor_config.json")]
    path = Path(written[0])
    data = json.loads(path.read_text())
    assert data["feature_extractor_type"] == "ASTFeatureExtractor"
    assert data["padding_side"] == "right" and data["custom_key"] == [1, 2]
    loaded = ASTFeatureExtractor.from_pretrained(tmp_path)
    assert loaded == ours and loaded.extra == {"custom_key": [1, 2]}
    assert ASTFeatureExtractor.from_pretrained(path, max_length=64).max_length == 64
    assert "max_length" in repr(loaded) and loaded != ASTFeatureExtractor()


def test_transformers_reads_ours_and_we_read_theirs(hf_module, tmp_path):
    hf_cls, auto_cls = hf_module
    ours = ASTFeatureExtractor(max_length=300, mean=-3.0, std=2.5, return_attention_mask=True)
    ours.save_pretrained(tmp_path / "ours")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = auto_cls.from_pretrained(tmp_path / "ours")
    assert type(theirs).__name__ == "ASTFeatureExtractor"
    for key in ("max_length", "mean", "std", "num_mel_bins", "sampling_rate", "do_normalize"):
        assert getattr(theirs, key) == getattr(ours, key), key
    clip = np.sin(np.arange(8000) / 7.0).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = theirs(clip, sampling_rate=16000, return_tensors="np")["input_values"]
    got = ours(clip, sampling_rate=16000, return_tensors="np")["input_values"]
    assert np.abs(got - expected).max() <= HF_LOG_TOL / (2 * ours.std)

    hf = _hf(hf_cls, max_length=256, foo="bar")
    hf.save_pretrained(tmp_path / "theirs")
    loaded = ASTFeatureExtractor.from_pretrained(tmp_path / "theirs")
    assert loaded.max_length == 256 and loaded.extra.get("foo") == "bar"
    assert loaded == ASTFeatureExtractor(max_length=256, foo="bar")
    their_json = json.loads((tmp_path / "theirs" / "preprocessor_config.json").read_text())
    assert set(their_json) <= set(loaded.to_dict())


# -- (g) short clips centred in the window (astaudio's own setting) ------------------------------
def test_centred_short_clip_equals_the_clip_padded_by_hand_around_the_middle():
    rng = np.random.default_rng(3)
    word = (0.3 * rng.standard_normal(5000)).astype(np.float32)  # 0.31 s, window 1.00 s
    by_hand = np.zeros(16000, np.float32)
    by_hand[5500:10500] = word  # (16000 - 5000) // 2 = 5500 zeros before it
    plain = ASTFeatureExtractor(max_length=100)
    centred = ASTFeatureExtractor(max_length=100, center_short_clips=True)
    expected = plain(by_hand, sampling_rate=16000, return_tensors="np")["input_values"]
    got = centred(word, sampling_rate=16000, return_tensors="np")["input_values"]
    np.testing.assert_array_equal(got, expected)
    # the default stays transformers': filter banks of the clip, then padded frames
    assert not np.array_equal(plain(word, sampling_rate=16000)["input_values"][0], expected[0])
    long = (0.3 * rng.standard_normal(20000)).astype(np.float32)  # longer than the window
    np.testing.assert_array_equal(
        centred(long, sampling_rate=16000)["input_values"][0],
        plain(long, sampling_rate=16000)["input_values"][0],
    )
    # batched, and through the pipelines' tensor path, each clip is centred on its own length
    batch = centred([word, long[:12000]], sampling_rate=16000, return_tensors="np")
    np.testing.assert_array_equal(batch["input_values"][0], expected[0])
    padded = torch.zeros(2, 12000)
    padded[0, :5000], padded[1] = torch.from_numpy(word), torch.from_numpy(long[:12000])
    tensor_path = centred.extract(padded, torch.tensor([5000, 12000])).numpy()
    np.testing.assert_array_equal(tensor_path, batch["input_values"])


def test_centring_is_saved_only_when_set_and_read_back(tmp_path):
    ASTFeatureExtractor(max_length=100).save_pretrained(tmp_path / "plain")
    assert "center_short_clips" not in (tmp_path / "plain" / "preprocessor_config.json").read_text()
    ASTFeatureExtractor(max_length=100, center_short_clips=True).save_pretrained(tmp_path / "c")
    loaded = ASTFeatureExtractor.from_pretrained(tmp_path / "c")
    assert loaded.center_short_clips is True and loaded.extra == {}
