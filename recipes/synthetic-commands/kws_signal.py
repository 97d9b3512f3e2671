"""Signal helpers of the synthetic-commands recipe: levels, trimming and background noise.

Audio arrays are float64 mono at 16 kHz in [-1, 1] unless a docstring says otherwise. Noise
generators return unit-RMS arrays; the callers set their level (an SNR or a dBFS level).
"""

from __future__ import annotations

import functools

import numpy as np
import soundfile as sf
import soxr

SAMPLE_RATE = 16_000  # Hz
CLIP_SAMPLES = SAMPLE_RATE  # 1 s
FRAME = 160  # samples, 10 ms: envelope / trimming frame
TRIM_THRESHOLD_DB = -40.0  # frames this far below the loudest frame count as silence


def frame_rms(audio: np.ndarray, frame: int = FRAME) -> np.ndarray:
    """RMS of consecutive non-overlapping frames: (T,) -> (T // frame,)."""
    usable = len(audio) // frame * frame
    return np.sqrt(np.mean(audio[:usable].reshape(-1, frame) ** 2, axis=1))


def trim_silence(audio: np.ndarray, threshold_db: float = TRIM_THRESHOLD_DB) -> np.ndarray:
    """Drop leading/trailing frames quieter than ``threshold_db`` below the loudest frame."""
    envelope = frame_rms(audio)
    if envelope.size == 0 or envelope.max() <= 0:
        return audio[:0]
    loud = np.nonzero(envelope >= envelope.max() * 10 ** (threshold_db / 20))[0]
    return audio[loud[0] * FRAME : (loud[-1] + 1) * FRAME]


def middle(audio: np.ndarray, n: int) -> np.ndarray:
    """The middle ``n`` samples of a clip longer than ``n``; a shorter clip as it is."""
    if len(audio) <= n:
        return audio
    start = (len(audio) - n) // 2
    return audio[start : start + n]


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio)))) if audio.size else 0.0


def db(power_ratio: float) -> float:
    return float(10 * np.log10(max(power_ratio, 1e-20)))


def to_int16(clip: np.ndarray) -> np.ndarray:
    return np.clip(np.round(clip * 32767), -32768, 32767).astype(np.int16)


def colored_noise(rng, n: int, exponent: float) -> np.ndarray:
    """Unit-RMS noise with power spectrum ~ 1/f**exponent (0 white, 1 pink, 2 brown): (n,)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.maximum(np.fft.rfftfreq(n, d=1 / SAMPLE_RATE), 20.0)  # Hz; floor tames DC
    noise = np.fft.irfft(spectrum * freqs ** (-exponent / 2), n)
    return noise / rms(noise)


def mains_hum(rng, n: int) -> np.ndarray:
    """Unit-RMS 50/60 Hz mains hum with random harmonics and a faint hiss: (n,)."""
    fundamental = float(rng.choice([50.0, 60.0])) * rng.uniform(0.995, 1.005)  # Hz
    t = np.arange(n) / SAMPLE_RATE
    hum = np.zeros(n)
    for harmonic in range(1, 11):
        amplitude = rng.uniform(0.1, 1.0) / harmonic ** rng.uniform(0.5, 1.5)
        hum += amplitude * np.sin(
            2 * np.pi * fundamental * harmonic * t + rng.uniform(0, 2 * np.pi)
        )
    hum = hum / rms(hum) + 0.01 * rng.standard_normal(n)  # hiss 40 dB down
    return hum / rms(hum)


@functools.lru_cache(maxsize=64)
def load_recording(path: str) -> np.ndarray:
    """A noise recording as mono 16 kHz float64 (cached per process)."""
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    return soxr.resample(audio.mean(axis=1), rate, SAMPLE_RATE).astype(np.float64)


def recorded_noise(rng, n: int, path: str) -> np.ndarray:
    """Unit-RMS 1-s excerpt of a recording; shorter recordings sit at a random offset in zeros."""
    recording = load_recording(path)
    if len(recording) < n:
        excerpt = np.zeros(n)
        start = int(rng.integers(0, n - len(recording) + 1))
        excerpt[start : start + len(recording)] = recording
    else:
        for _ in range(8):  # avoid a near-silent stretch of a long recording
            start = int(rng.integers(0, len(recording) - n + 1))
            excerpt = recording[start : start + n]
            if rms(excerpt) > 0.1 * rms(recording):
                break
    level = rms(excerpt)
    return excerpt / level if level > 0 else colored_noise(rng, n, 1.0)


@functools.lru_cache(maxsize=512)
def load_babble(path: str) -> np.ndarray:
    """One babble-pool sentence (16 kHz PCM WAV) as float64, cached per process."""
    return sf.read(path, dtype="float64")[0]


def babble_noise(rng, n: int, paths: list[str], talkers: int | None = None) -> np.ndarray:
    """Unit-RMS mixture of 1-3 talkers (random sentences of ``paths``, random excerpts): (n,).

    Each talker gets a random level within 6 dB of the others; a sentence shorter than ``n``
    sits at a random offset.
    """
    count = int(rng.integers(1, 4)) if talkers is None else talkers
    mix = np.zeros(n)
    for _ in range(count):
        sentence = load_babble(paths[int(rng.integers(len(paths)))])
        if len(sentence) >= n:
            start = int(rng.integers(0, len(sentence) - n + 1))
            part = sentence[start : start + n]
        else:
            part = np.zeros(n)
            start = int(rng.integers(0, n - len(sentence) + 1))
            part[start : start + len(sentence)] = sentence
        level = rms(part)
        if level > 0:
            mix += part / level * 10 ** (rng.uniform(-6.0, 0.0) / 20)
    level = rms(mix)
    return mix / level if level > 0 else colored_noise(rng, n, 1.0)


def make_noise(kind: str, rng, n: int = CLIP_SAMPLES, path: str = "") -> np.ndarray:
    """Unit-RMS noise of ``kind`` (white, pink, brown, hum, real, dither, babble): (n,).

    ``path`` is the recording (real) or the ``|``-joined babble-pool files (babble)."""
    if kind in ("white", "dither"):
        return colored_noise(rng, n, 0.0)
    if kind == "pink":
        return colored_noise(rng, n, 1.0)
    if kind == "brown":
        return colored_noise(rng, n, 2.0)
    if kind == "hum":
        return mains_hum(rng, n)
    if kind == "real":
        return recorded_noise(rng, n, path)
    if kind == "babble":
        return babble_noise(rng, n, path.split("|"))
    raise ValueError(f"unknown noise kind {kind!r}")
