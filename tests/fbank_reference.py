"""Float64 numpy reference of Kaldi's log-mel filter banks, written from the formulas.

Independent of astaudio and torchaudio: plain loops over frames and filters, clarity over speed.
Settings are those of the AST recipe (25 ms Hann frames every 10 ms, snip_edges, DC removal,
pre-emphasis 0.97, 512-point FFT, power spectrum, 20 Hz .. Nyquist, log floored at float32 eps).
"""

from __future__ import annotations

import math

import numpy as np

FLOAT32_EPS = 1.1920928955078125e-07  # numeric_limits<float>::epsilon(), Kaldi's log floor


def kaldi_mel(freq_hz: float) -> float:
    return 1127.0 * math.log(1.0 + freq_hz / 700.0)


def reference_mel_banks(
    num_bins: int, sampling_rate: float, n_fft: int = 512, low_freq: float = 20.0
) -> np.ndarray:
    """(num_bins, n_fft // 2 + 1) triangular filters, equally spaced on the Kaldi mel scale.

    Each filter rises linearly in mel from its left edge to its centre and falls to its right edge;
    FFT bin k sits at k * sr / n_fft Hz. The Nyquist bin gets no weight (as in Kaldi).
    """
    nyquist = sampling_rate / 2.0
    mel_low, mel_high = kaldi_mel(low_freq), kaldi_mel(nyquist)
    delta = (mel_high - mel_low) / (num_bins + 1)
    banks = np.zeros((num_bins, n_fft // 2 + 1))
    for m in range(num_bins):
        left = mel_low + m * delta
        centre = mel_low + (m + 1) * delta
        right = mel_low + (m + 2) * delta
        for k in range(n_fft // 2):
            mel = kaldi_mel(k * sampling_rate / n_fft)
            if left < mel <= centre:
                banks[m, k] = (mel - left) / (centre - left)
            elif centre < mel < right:
                banks[m, k] = (right - mel) / (right - centre)
    return banks


def reference_fbank(
    waveform: np.ndarray, sampling_rate: int = 16000, num_mel_bins: int = 128
) -> np.ndarray:
    """Log-mel energies (num_frames, num_mel_bins) of a 1-D waveform, all in float64."""
    x = np.asarray(waveform, dtype=np.float64)
    frame_length = int(sampling_rate * 0.025)  # samples in 25 ms
    frame_shift = int(sampling_rate * 0.010)  # samples in 10 ms
    n_fft = 1 << (frame_length - 1).bit_length()  # next power of two
    num_frames = 0 if len(x) < frame_length else 1 + (len(x) - frame_length) // frame_shift
    # symmetric Hann window: 0.5 - 0.5 cos(2 pi n / (N - 1))
    n = np.arange(frame_length)
    window = 0.5 - 0.5 * np.cos(2.0 * math.pi * n / (frame_length - 1))
    banks = reference_mel_banks(num_mel_bins, sampling_rate, n_fft)
    out = np.empty((num_frames, num_mel_bins))
    for t in range(num_frames):
        frame = x[t * frame_shift : t * frame_shift + frame_length].copy()
        frame -= frame.mean()
        emphasised = np.empty_like(frame)
        emphasised[0] = frame[0] - 0.97 * frame[0]
        for i in range(1, frame_length):
            emphasised[i] = frame[i] - 0.97 * frame[i - 1]
        padded = np.zeros(n_fft)
        padded[:frame_length] = emphasised * window
        spectrum = np.fft.rfft(padded)
        power = spectrum.real**2 + spectrum.imag**2
        for m in range(num_mel_bins):
            out[t, m] = math.log(max(float(banks[m] @ power), FLOAT32_EPS))
    return out
