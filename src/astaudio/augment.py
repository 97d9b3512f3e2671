"""Waveform augmentation at training time: talkers, noise, rooms, telephones, codecs, levels.

A :class:`WaveformAugment` is a callable ``augment(waveform, rng) -> waveform`` on a mono float32
waveform ``(T,)`` at ``config.sample_rate``; it returns a new ``(T',)`` float32 array (``T' = T``
unless the trim step shortened it) and draws every random number from ``rng``. Passed to
:class:`astaudio.data.AugmentConfig` as ``waveform`` (or to :func:`astaudio.train.finetune` as
``waveform_augment``), the dataset hands it a generator seeded from (seed, epoch, index), so a
resumed run sees the same audio.

The chain, each step with its own probability (see :class:`WaveformAugmentConfig`):

1. speed: resample by a factor (tempo, pitch and formants move together, like a shorter or
   longer vocal tract);
2. edge: move the loud part of the clip flush against the start or the end;
   or trim: cut the clip down to its loud part and a short random margin, as recordings that
   were trimmed before classification are. The model then sees the feature extractor's padding
   after the word (log-mel 0, a loud flat spectrum, not silence), which it never sees on
   full-length training clips (the keyword recipe's model, trained on 1-s clips only, got 27 %
   of its test voices' trimmed words right against 96 % of the same words in 1-s clips);
3. reverb: convolve with a simulated room impulse response (exponentially decaying noise,
   RT60 drawn per clip, a direct path and a pre-delay), wet/dry mix;
4. babble: 1-3 other talkers (random excerpts of ``babble_files``) at an SNR in dB;
5. noise: a real recording (``noise_files``) or white/pink/brown noise at an SNR in dB;
6. telephone: 8 kHz, 300-3400 Hz band, mu-law or A-law 8-bit companding, back to the input rate;
   or narrowband: a plain 8-kHz recording (nothing above 4 kHz), back to the input rate;
7. codec: MP3, Vorbis or (a tenth of the time: slow) Opus round trip through soundfile at a
   low quality;
8. gain: RMS level drawn in dBFS, sometimes driven into clipping;
9. DC offset.

SNR is speech power over the loud frames / added power over the whole clip. Costs (2-core CPU,
1-s clips): about 1 ms per clip with only gain, 3-6 ms with reverb or babble, 5-25 ms on the
clips that take a codec round trip.
"""

from __future__ import annotations

import functools
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "WaveformAugment",
    "WaveformAugmentConfig",
    "narrowband",
    "room_impulse_response",
    "telephone",
]

_FRAME = 160  # samples: loudness frame (10 ms at 16 kHz)


@dataclass(frozen=True)
class WaveformAugmentConfig:
    """Probabilities and ranges of :class:`WaveformAugment` (ranges are (low, high), uniform).

    ``babble_files`` / ``noise_files``: audio files of background talkers and real noise; empty
    lists turn those steps into coloured noise (noise) or nothing (babble).
    """

    sample_rate: int = 16_000
    p_speed: float = 0.3
    speed: tuple[float, float] = (0.88, 1.12)
    p_edge: float = 0.1
    p_trim: float = 0.0  # of the clips not moved to an edge (0 keeps older runs' random draws)
    trim_db: tuple[float, float] = (20.0, 45.0)  # frames this far below the loudest are cut
    trim_margin_s: tuple[float, float] = (0.0, 0.15)  # kept before and after the loud part
    p_reverb: float = 0.3
    rt60_s: tuple[float, float] = (0.15, 0.9)
    wet_db: tuple[float, float] = (-12.0, 0.0)  # reverberant tail level against the direct path
    p_babble: float = 0.25
    babble_snr_db: tuple[float, float] = (0.0, 20.0)
    babble_files: tuple[str, ...] = ()
    p_noise: float = 0.3
    noise_snr_db: tuple[float, float] = (0.0, 25.0)
    noise_files: tuple[str, ...] = ()
    p_telephone: float = 0.15
    p_narrowband: float = 0.0  # of the clips not sent through the telephone
    p_codec: float = 0.1
    p_gain: float = 1.0
    gain_dbfs: tuple[float, float] = (-45.0, -6.0)  # RMS over the clip
    p_clip: float = 0.05  # of the gained clips: extra 6-20 dB of gain, then hard clipping
    p_dc: float = 0.1
    dc: tuple[float, float] = (-0.05, 0.05)
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if name.startswith("p_") and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} is a probability in [0, 1], got {value}")

    @classmethod
    def from_json(cls, path: str | Path) -> WaveformAugmentConfig:
        """Read a JSON object of field values (lists become tuples; relative file paths are
        taken relative to the JSON file)."""
        path = Path(path)
        raw = json.loads(path.read_text())
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{path}: unknown augmentation settings {sorted(unknown)}")
        for key in ("babble_files", "noise_files"):
            if key in raw:
                raw[key] = [str(path.parent / f) for f in raw[key]]
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def speech_power(x: np.ndarray) -> float:
    """Mean power of the 10-ms frames within 20 dB of the loudest (the word, not the silence)
    of a (T,) float64 clip; a clip shorter than a frame: its mean power."""
    power = _frame_power(x)
    if power is None:  # no whole frame, or only silent ones
        return float(np.mean(np.square(x))) if 0 < x.size < _FRAME else 0.0
    return float(power[power >= power.max() * 0.01].mean())


def room_impulse_response(rng: np.random.Generator, rt60_s: float, sample_rate: int) -> np.ndarray:
    """A simulated room impulse response ``(L,)``: a unit direct path after a 0-10 ms
    pre-delay, then Gaussian noise decaying by 60 dB over ``rt60_s`` (low-passed a little, as
    walls absorb the highs), scaled to unit energy in the tail."""
    length = max(int(rt60_s * sample_rate), 16)
    delay = int(rng.uniform(0.0, 0.01) * sample_rate)
    t = np.arange(length) / sample_rate
    tail = rng.standard_normal(length) * np.exp(-6.9078 * t / rt60_s)  # ln(1000) = 6.9078
    tail = np.convolve(tail, np.ones(3) / 3.0, mode="same")
    tail /= np.sqrt(np.sum(tail**2)) + 1e-12
    ir = np.zeros(delay + length)
    ir[delay:] = tail
    return ir


def telephone(x: np.ndarray, sample_rate: int, law: str = "mu") -> np.ndarray:
    """Narrow-band telephone channel: 8 kHz, 300-3400 Hz, 8-bit mu-law or A-law: (T,) -> (T,)."""
    import soxr

    narrow = soxr.resample(x.astype(np.float64), sample_rate, 8000)
    spectrum = np.fft.rfft(narrow)
    freqs = np.fft.rfftfreq(len(narrow), d=1 / 8000)
    spectrum[(freqs < 300) | (freqs > 3400)] = 0.0
    narrow = np.fft.irfft(spectrum, len(narrow))
    peak = np.max(np.abs(narrow)) if narrow.size else 0.0
    scale = 1.0 / peak if peak > 1.0 else 1.0  # the codec clips at full scale
    y = np.clip(narrow * scale, -1.0, 1.0)
    if law == "mu":
        mu = 255.0
        code = np.sign(y) * np.log1p(mu * np.abs(y)) / np.log1p(mu)
        code = np.round(code * 127) / 127
        y = np.sign(code) * np.expm1(np.abs(code) * np.log1p(mu)) / mu
    else:  # A-law, A = 87.6
        a = 87.6
        small = np.abs(y) < 1 / a
        code = np.where(
            small,
            a * np.abs(y) / (1 + np.log(a)),
            (1 + np.log(np.maximum(a * np.abs(y), 1e-12))) / (1 + np.log(a)),
        )
        code = np.round(code * 127) / 127
        mag = np.where(
            code < 1 / (1 + np.log(a)),
            code * (1 + np.log(a)) / a,
            np.exp(code * (1 + np.log(a)) - 1) / a,
        )
        y = np.sign(y) * mag
    return _cut_or_pad(soxr.resample(y / scale, 8000, sample_rate), len(x))


def narrowband(x: np.ndarray, sample_rate: int, rate: int = 8000) -> np.ndarray:
    """``x`` as if recorded at ``rate`` (band-limited to rate / 2), back at ``sample_rate``:
    (T,) -> (T,)."""
    import soxr

    wide = soxr.resample(soxr.resample(x.astype(np.float64), sample_rate, rate), rate, sample_rate)
    return _cut_or_pad(wide, len(x))


def _codec(x: np.ndarray, sample_rate: int, kind: str, quality: float) -> np.ndarray:
    """Round trip through MP3 / Vorbis / Opus (soundfile) at ``quality`` in [0, 1] (1 = worst)."""
    import soundfile as sf

    fmt, subtype = {"mp3": ("MP3", "MPEG_LAYER_III"), "vorbis": ("OGG", "VORBIS"),
                    "opus": ("OGG", "OPUS")}[kind]  # fmt: skip
    rate = 48000 if kind == "opus" else sample_rate
    signal = x.astype(np.float64)
    if rate != sample_rate:
        import soxr

        signal = soxr.resample(signal, sample_rate, rate)
    peak = np.max(np.abs(signal)) if signal.size else 0.0
    scale = 0.99 / peak if peak > 0.99 else 1.0
    buffer = io.BytesIO()
    sf.write(buffer, signal * scale, rate, format=fmt, subtype=subtype, compression_level=quality)
    buffer.seek(0)
    decoded, _ = sf.read(buffer, dtype="float64")
    if rate != sample_rate:
        import soxr

        decoded = soxr.resample(decoded, rate, sample_rate)
    return _cut_or_pad(decoded, len(x)) / scale


@functools.lru_cache(maxsize=1024)
def _load(path: str, sample_rate: int) -> np.ndarray:
    """A mono float64 recording at ``sample_rate`` (cached per process)."""
    import soundfile as sf

    audio, rate = sf.read(path, dtype="float64", always_2d=True)
    audio = audio.mean(axis=1)
    if rate != sample_rate:
        import soxr

        audio = soxr.resample(audio, rate, sample_rate)
    return audio


def _excerpt(rng: np.random.Generator, source: np.ndarray, n: int) -> np.ndarray:
    """``n`` samples of ``source`` from a random start, or ``source`` at a random offset."""
    out = np.zeros(n)
    if len(source) >= n:
        start = int(rng.integers(0, len(source) - n + 1))
        out[:] = source[start : start + n]
    elif len(source):
        start = int(rng.integers(0, n - len(source) + 1))
        out[start : start + len(source)] = source
    return out


def _colored(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
    noise = np.fft.irfft(spectrum * freqs ** (-exponent / 2), n)
    return noise / (_rms(noise) + 1e-12)


class WaveformAugment:
    """The augmentation chain of the module docstring; ``augment(waveform, rng)`` -> waveform.

    Picklable (DataLoader workers copy it); recordings are loaded lazily and cached per process.
    """

    def __init__(self, config: WaveformAugmentConfig | None = None) -> None:
        self.config = config or WaveformAugmentConfig()

    def __repr__(self) -> str:
        return f"WaveformAugment({self.config!r})"

    def _mix(self, x: np.ndarray, other: np.ndarray, snr_db: float) -> np.ndarray:
        speech = speech_power(x)
        level = _rms(other)
        if speech <= 0 or level <= 0:
            return x + other * 0.01  # a silent clip: the background alone at a low level
        return x + other / level * np.sqrt(speech / 10 ** (snr_db / 10))

    def _babble(self, rng, n: int) -> np.ndarray:
        cfg = self.config
        mix = np.zeros(n)
        for _ in range(int(rng.integers(1, 4))):
            source = _load(cfg.babble_files[int(rng.integers(len(cfg.babble_files)))],
                           cfg.sample_rate)  # fmt: skip
            part = _excerpt(rng, source, n)
            level = _rms(part)
            if level > 0:
                mix += part / level * 10 ** (rng.uniform(-6.0, 0.0) / 20)
        return mix

    def _noise(self, rng, n: int) -> np.ndarray:
        cfg = self.config
        if cfg.noise_files and rng.random() < 0.7:
            source = _load(cfg.noise_files[int(rng.integers(len(cfg.noise_files)))],
                           cfg.sample_rate)  # fmt: skip
            part = _excerpt(rng, source, n)
            if _rms(part) > 0:
                return part
        return _colored(rng, n, float(rng.choice([0.0, 1.0, 2.0])))

    def __call__(self, waveform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Augment one clip: ``(T,)`` float -> ``(T,)`` float32 (see the module docstring)."""
        cfg = self.config
        x = np.asarray(waveform, dtype=np.float64).copy()
        n = len(x)
        if n == 0:
            return x.astype(np.float32)
        sr = cfg.sample_rate
        if rng.random() < cfg.p_speed:
            import soxr

            x = fit_length(soxr.resample(x, sr, sr / rng.uniform(*cfg.speed)), n)
        if rng.random() < cfg.p_edge:
            x = self._to_edge(x, bool(rng.random() < 0.5))
        elif cfg.p_trim > 0 and rng.random() < cfg.p_trim:
            x = self._trim(rng, x)
            n = len(x)
        if rng.random() < cfg.p_reverb:
            ir = room_impulse_response(rng, rng.uniform(*cfg.rt60_s), sr)
            wet = np.convolve(x, ir)[:n] if len(ir) < 64 else _fftconvolve(x, ir)[:n]
            gain = 10 ** (rng.uniform(*cfg.wet_db) / 20)
            x = x + gain * wet * (_rms(x) / (_rms(wet) + 1e-12))
        if cfg.babble_files and rng.random() < cfg.p_babble:
            x = self._mix(x, self._babble(rng, n), rng.uniform(*cfg.babble_snr_db))
        if rng.random() < cfg.p_noise:
            x = self._mix(x, self._noise(rng, n), rng.uniform(*cfg.noise_snr_db))
        if rng.random() < cfg.p_telephone:
            x = telephone(x, sr, "mu" if rng.random() < 0.5 else "a")
        elif cfg.p_narrowband > 0 and rng.random() < cfg.p_narrowband:
            x = narrowband(x, sr)
        if rng.random() < cfg.p_codec and np.all(np.isfinite(x)):  # LAME aborts on NaN
            kind = str(rng.choice(["mp3", "vorbis", "opus"], p=[0.45, 0.45, 0.1]))  # opus: 25 ms
            quality = float(rng.uniform(0.6, 1.0))
            try:
                x = _codec(x, sr, kind, quality)
            except (
                RuntimeError,
                OSError,
            ):  # libsndfile refuses a few clips: leave them as they are
                pass
        if rng.random() < cfg.p_gain:
            level = _rms(x)
            if level > 0:
                x *= 10 ** (rng.uniform(*cfg.gain_dbfs) / 20) / level
                if rng.random() < cfg.p_clip:
                    x = np.clip(x * 10 ** (rng.uniform(6.0, 20.0) / 20), -1.0, 1.0)
        if rng.random() < cfg.p_dc:
            x = x + rng.uniform(*cfg.dc)
        return np.clip(x, -1.0, 1.0).astype(np.float32)

    def _trim(self, rng, x: np.ndarray) -> np.ndarray:
        """The frames within ``trim_db`` of the loudest, with a random margin on each side."""
        cfg = self.config
        power = _frame_power(x)
        if power is None:
            return x
        loud = np.nonzero(power >= power.max() * 10 ** (-rng.uniform(*cfg.trim_db) / 10))[0]
        before = int(rng.uniform(*cfg.trim_margin_s) * cfg.sample_rate)
        after = int(rng.uniform(*cfg.trim_margin_s) * cfg.sample_rate)
        first = max(loud[0] * _FRAME - before, 0)
        last = min((loud[-1] + 1) * _FRAME + after, len(x))
        return x[first:last]

    @staticmethod
    def _to_edge(x: np.ndarray, at_start: bool) -> np.ndarray:
        """Move the span of frames within 30 dB of the loudest flush to one end of the clip."""
        power = _frame_power(x)
        if power is None:
            return x
        loud = np.nonzero(power >= power.max() * 1e-3)[0]
        first, last = loud[0] * _FRAME, (loud[-1] + 1) * _FRAME
        out = np.zeros_like(x)
        span = x[first:last]
        if at_start:
            out[: len(span)] = span
        else:
            out[len(x) - len(span) :] = span
        return out


def _frame_power(x: np.ndarray) -> np.ndarray | None:
    """Mean power of each whole 160-sample frame, (T,) -> (T // 160,); None when the clip holds no
    whole frame or only silent ones."""
    n = len(x) // _FRAME * _FRAME
    if n == 0:
        return None
    power = np.mean(np.square(x[:n].reshape(-1, _FRAME)), axis=1)
    return power if power.max() > 0 else None


def fit_length(y: np.ndarray, n: int) -> np.ndarray:
    """``y`` cut or zero-padded to ``n`` samples around its centre of energy: (T,) -> (n,)."""
    if len(y) <= n:
        out = np.zeros(n)
        start = (n - len(y)) // 2
        out[start : start + len(y)] = y
        return out
    energy = np.square(y)
    total = energy.sum()
    centre = int(np.sum(np.arange(len(y)) * energy) / total) if total > 0 else len(y) // 2
    start = min(max(centre - n // 2, 0), len(y) - n)
    return y[start : start + n]


def _cut_or_pad(y: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` samples of ``y``, zero-padded at the end when shorter: (T,) -> (n,)."""
    out = np.zeros(n)
    out[: min(n, len(y))] = y[:n]
    return out


def _fftconvolve(x: np.ndarray, ir: np.ndarray) -> np.ndarray:
    size = len(x) + len(ir) - 1
    fft_size = 1 << (size - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(x, fft_size) * np.fft.rfft(ir, fft_size), fft_size)[:size]
