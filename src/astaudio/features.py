"""Kaldi-compatible log-mel filter banks and the AST feature extractor.

The features are those of the original AST recipe, which calls
``torchaudio.compliance.kaldi.fbank(waveform, htk_compat=True, sample_frequency=sr,
use_energy=False, window_type='hanning', num_mel_bins=128, dither=0.0, frame_shift=10)``,
computed here without torchaudio, for a whole batch of clips at once.

Speed. On the CPU the batch's frames (all clips' real frames, end to end) go through in blocks
of BLOCK_FRAMES, each step a vectorised op over the block into reused buffers that stay in cache,
and the mel product skips the ~98 % of filter weights that are zero (each filter covers a few FFT
bins). On GPUs, and when autograd is on, it is one vectorised pass over the whole (B, T) grid.

Precision. The AudioSet checkpoints were trained on torchaudio's features, which torchaudio
computes in float32, and float32 rounding is a visible part of them: in loud frames (about 100 dB
between the strongest and the weakest mel bin) the weakest bins sit near the log floor, and the
float32 FFT error (plus float32 DC removal, which cancels badly when the DC dominates) is a few
percent of their energy. The exact (float64) features differ from torchaudio's by up to 7.3e-3
there on the Debian sound files; transformers' numpy fallback is float64 and misses by as much.
So on CPU we repeat torchaudio's float32 arithmetic up to and including the FFT (same operations
in the same order, same FFT library, hence the same rounding): that matches torchaudio to ~1e-6
in every bin. The mel projection, a weighted sum of non-negative powers (no cancellation), runs
in float32 on the CPU as torchaudio's does (float64 there cost a third of the extraction time for
no accuracy). A GPU FFT rounds differently from the CPU one whatever we do, so on CUDA the FFT
and the mel projection run in float64 (cheap for 512-point transforms, and immune to TF32/bf16
matmul settings), leaving only torchaudio's own float32 error (max 5e-3 on those files, in
near-floor bins). MPS has no float64 and stays in float32.
The one-pass path bounds memory on long inputs by FRAMES_PER_CHUNK frames per pass.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import math
import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .constants import AUDIOSET_MEAN, AUDIOSET_STD, PREPROCESSOR_NAME, SAMPLE_RATE
from .hub import resolve_file

FRAME_LENGTH = 400  # samples per frame at 16 kHz (25 ms)
FRAME_SHIFT = 160  # samples between frame starts at 16 kHz (10 ms)
N_FFT = 512  # FFT size: FRAME_LENGTH rounded up to a power of two
PREEMPHASIS = 0.97  # x[i] - 0.97 x[i-1] within each frame
LOW_FREQ = 20.0  # Hz, left edge of the lowest mel filter; the highest ends at Nyquist
LOG_FLOOR = torch.finfo(torch.float32).eps  # 1.19e-7, Kaldi's floor on mel energies before log
FRAME_LENGTH_MS = 25.0  # ms
FRAME_SHIFT_MS = 10.0  # ms
FRAMES_PER_CHUNK = 16384  # frames per pass (~200 MB of intermediates); bounds memory on long clips
BLOCK_FRAMES = 512  # frames per block on the CPU: a block's intermediates (~2.5 MB) stay in cache
MEL_GROUP = 16  # mel filters per block of the banded mel product


def frame_geometry(sampling_rate: int = SAMPLE_RATE) -> tuple[int, int, int]:
    """(frame_length, frame_shift, n_fft) in samples for 25 ms frames every 10 ms, as Kaldi rounds."""
    if not isinstance(sampling_rate, (int, float)) or isinstance(sampling_rate, bool):
        raise TypeError(f"sampling_rate must be a number of Hz, got {sampling_rate!r}")
    # same float expression as torchaudio, so that e.g. 22050 Hz truncates identically
    frame_length = int(sampling_rate * FRAME_LENGTH_MS * 0.001)
    frame_shift = int(sampling_rate * FRAME_SHIFT_MS * 0.001)
    if frame_length < 2 or frame_shift < 1:
        raise ValueError(f"sampling_rate {sampling_rate} Hz is too low for 25 ms / 10 ms frames")
    n_fft = 1 << (frame_length - 1).bit_length()
    return frame_length, frame_shift, n_fft


def count_frames(num_samples: int | Tensor, sampling_rate: int = SAMPLE_RATE) -> int | Tensor:
    """Frames in a clip of ``num_samples`` with snip_edges: 1 + (N - 400) // 160, or 0 if N < 400."""
    frame_length, frame_shift, _ = frame_geometry(sampling_rate)
    if isinstance(num_samples, Tensor):
        frames = 1 + (num_samples - frame_length).div(frame_shift, rounding_mode="floor")
        return torch.where(num_samples >= frame_length, frames, torch.zeros_like(frames))
    return 0 if num_samples < frame_length else 1 + (num_samples - frame_length) // frame_shift


def _kaldi_mel(freq_hz: float) -> float:
    return 1127.0 * math.log(1.0 + freq_hz / 700.0)


@functools.lru_cache(maxsize=32)
def _mel_filterbank_cached(
    num_mel_bins: int,
    sampling_rate: float,
    n_fft: int,
    low_freq: float,
    high_freq: float,
    device: torch.device,
    dtype: torch.dtype,
) -> Tensor:
    # float32 is computed with the very operations of Kaldi/torchaudio's get_mel_banks (their
    # float32 rounding included); float64 with the same formula in float64.
    work = torch.float64 if dtype == torch.float64 else torch.float32
    with torch.inference_mode(False):  # a cached inference tensor would break later autograd
        banks = _kaldi_mel_banks(num_mel_bins, sampling_rate, n_fft, low_freq, high_freq, work)
        return banks.to(device=device, dtype=dtype)  # (M, n_fft // 2 + 1)


def _kaldi_mel_banks(
    num_mel_bins: int,
    sampling_rate: float,
    n_fft: int,
    low_freq: float,
    high_freq: float,
    work: torch.dtype,
) -> Tensor:
    mel_low, mel_high = _kaldi_mel(low_freq), _kaldi_mel(high_freq)
    mel_delta = (mel_high - mel_low) / (num_mel_bins + 1)
    index = torch.arange(num_mel_bins, dtype=work).unsqueeze(1)  # (M, 1)
    left = mel_low + index * mel_delta
    centre = mel_low + (index + 1.0) * mel_delta
    right = mel_low + (index + 2.0) * mel_delta
    bin_hz = (sampling_rate / n_fft) * torch.arange(n_fft // 2, dtype=work)  # (K,)
    bin_mel = 1127.0 * (1.0 + bin_hz / 700.0).log()  # log(1 + x), not log1p: Kaldi's rounding
    rising = (bin_mel - left) / (centre - left)  # (M, K)
    falling = (right - bin_mel) / (right - centre)
    banks = torch.clamp(torch.minimum(rising, falling), min=0.0)
    return F.pad(banks, (0, 1))  # the Nyquist bin gets no weight, as in Kaldi


def mel_filterbank(
    num_mel_bins: int,
    sampling_rate: int = SAMPLE_RATE,
    n_fft: int = N_FFT,
    low_freq: float = LOW_FREQ,
    high_freq: float | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Kaldi's triangular mel filters, (num_mel_bins, n_fft // 2 + 1).

    Filters are equally spaced on the Kaldi mel scale 1127 ln(1 + f / 700) between ``low_freq``
    and ``high_freq`` (None: Nyquist; <= 0: that many Hz below Nyquist) and triangular in mel.
    Identical to torchaudio's ``kaldi.get_mel_banks`` padded with a zero Nyquist column.
    """
    if not isinstance(num_mel_bins, int) or isinstance(num_mel_bins, bool) or num_mel_bins < 1:
        raise ValueError(f"num_mel_bins must be a positive integer, got {num_mel_bins!r}")
    if not isinstance(n_fft, int) or n_fft < 2 or n_fft % 2:
        raise ValueError(f"n_fft must be an even integer >= 2, got {n_fft!r}")
    if not sampling_rate > 0:
        raise ValueError(f"sampling_rate must be positive, got {sampling_rate!r}")
    nyquist = 0.5 * sampling_rate
    if high_freq is None:
        high_freq = nyquist
    elif high_freq <= 0.0:
        high_freq = nyquist + high_freq
    if not (0.0 <= low_freq < nyquist and 0.0 < high_freq <= nyquist and low_freq < high_freq):
        raise ValueError(
            f"need 0 <= low_freq < high_freq <= Nyquist ({nyquist} Hz), "
            f"got low_freq={low_freq}, high_freq={high_freq}"
        )
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")
    device = torch.device(device) if device is not None else torch.device("cpu")
    banks = _mel_filterbank_cached(
        num_mel_bins, float(sampling_rate), n_fft, float(low_freq), float(high_freq), device, dtype
    )
    return banks.clone()  # the cached tensor stays untouched by callers


@functools.lru_cache(maxsize=16)
def _hann_window(frame_length: int, device: torch.device) -> Tensor:
    # made on the CPU so every device gets torchaudio's exact float32 values
    with torch.inference_mode(False):
        return torch.hann_window(frame_length, periodic=False, dtype=torch.float32).to(device)


def _spectral_dtype(device: torch.device) -> torch.dtype:
    """Precision of the FFT and power spectrum (see the module docstring)."""
    if device.type == "cpu":
        return torch.float32  # torchaudio's own precision and FFT: same rounding
    if device.type == "mps":
        return torch.float32  # no float64 on Apple GPUs
    return torch.float64


def _no_autocast(device: torch.device):
    if device.type in ("cpu", "cuda"):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()


def _log_mel_batched(frames: Tensor, window: Tensor, banks: Tensor, n_fft: int) -> Tensor:
    """Log-mel energies of raw float32 frames (B, T, L) -> (B, T, M) float32, in one pass.

    The path for autograd and for GPUs (few large kernels); the CPU's inference path is
    ``_log_mel_blocks``, with the same arithmetic.
    """
    length = frames.shape[-1]
    # DC removal, pre-emphasis and window in float32, rounding op by op as torchaudio does
    x = frames - frames.mean(dim=-1, keepdim=True)
    previous = PREEMPHASIS * torch.cat((x[..., :1], x[..., :-1]), dim=-1)  # x[-1] := x[0]
    padded = F.pad((x - previous) * window, (0, n_fft - length))
    spectrum = torch.fft.rfft(padded.to(_spectral_dtype(frames.device)))  # (B, T, K)
    power = torch.view_as_real(spectrum).square().sum(-1)  # re^2 + im^2
    # float64 where the spectrum is float64 (CUDA), keeping the products immune to TF32/bf16
    # matmul settings
    bins = power.shape[-1]
    energies = torch.mm(power.reshape(-1, bins), banks.to(power.dtype).T.contiguous())  # (B*T, M)
    energies = energies.to(torch.float32).reshape(*power.shape[:-1], -1)  # (B, T, M)
    return energies.clamp_min_(LOG_FLOOR).log_()


@functools.lru_cache(maxsize=32)
def _mel_bands(
    num_mel_bins: int, sampling_rate: float, n_fft: int, low_freq: float, high_freq: float
) -> tuple[tuple[int, int, int, int, Tensor], ...]:
    """The mel filters as MEL_GROUP-filter blocks of the FFT bins they cover.

    Each triangular filter spans a few bins (1 to ~9 at 16 kHz), so the dense
    (frames, K) @ (K, M) product is ~98 % multiplications by zero. Each entry is
    (m0, m1, k0, k1, weights): filters m0:m1 are zero outside bins k0:k1, and weights is their
    (k1 - k0, m1 - m0) float32 block. Groups of all-zero filters are left out.
    """
    banks = _mel_filterbank_cached(
        num_mel_bins, sampling_rate, n_fft, low_freq, high_freq, torch.device("cpu"),
        torch.float32,
    )  # fmt: skip
    bands = []
    with torch.inference_mode(False):
        for m0 in range(0, num_mel_bins, MEL_GROUP):
            m1 = min(m0 + MEL_GROUP, num_mel_bins)
            used = (banks[m0:m1] != 0).any(dim=0).nonzero().flatten()  # bins with any weight
            if used.numel():
                k0, k1 = int(used[0]), int(used[-1]) + 1
                bands.append((m0, m1, k0, k1, banks[m0:m1, k0:k1].T.contiguous()))
    return tuple(bands)


def _frame_blocks(frames_per_clip: list[int], block: int):
    """The batch's real frames, clip after clip, in blocks of ``block`` frames (the last shorter).

    Yields (pieces, rows): rows is the block's frame count, each piece (clip, start, stop, row)
    says that frames start:stop of that clip sit at rows row:row + stop - start of the block.
    """
    pieces, rows = [], 0
    for clip, count in enumerate(frames_per_clip):
        start = 0
        while start < count:
            take = min(count - start, block - rows)
            pieces.append((clip, start, start + take, rows))
            start, rows = start + take, rows + take
            if rows == block:
                yield pieces, rows
                pieces, rows = [], 0
    if pieces:
        yield pieces, rows


def _log_mel_blocks(
    frames: Tensor, frames_per_clip: list[int], window: Tensor, n_fft: int, bands, out: Tensor
) -> None:
    """Writes log-mels of frames[b, :frames_per_clip[b]] (B, T, L) into out[b] (B, T', M), CPU.

    The batch's real frames go through in blocks of BLOCK_FRAMES, so that each step's
    intermediates stay in cache and are reused from block to block (the one-pass version spends
    most of its time on memory traffic and on page faults of fresh 30 MB buffers), and padding
    frames are never computed. Same float32 operations as ``_log_mel_batched``.
    """
    length = frames.shape[-1]
    bins, mel_bins = n_fft // 2 + 1, out.shape[-1]
    block = max(1, min(BLOCK_FRAMES, sum(frames_per_clip)))
    x = torch.empty(block, length)  # (C, L) DC-free, pre-emphasised, windowed frames
    previous = torch.empty(block, length)  # 0.97 * x[i - 1], with x[-1] := x[0]
    means = torch.empty(block, 1)
    spectrum = torch.empty(block, bins, dtype=torch.complex64)  # (C, K)
    power = torch.empty(block, bins)
    energies = torch.zeros(block, mel_bins)  # (C, M); columns of all-zero filters stay 0
    log_mels = torch.empty(block, mel_bins)
    for pieces, n in _frame_blocks(frames_per_clip, block):
        for clip, start, stop, row in pieces:
            raw, rows = frames[clip, start:stop], slice(row, row + stop - start)
            torch.mean(raw, dim=-1, keepdim=True, out=means[rows])
            torch.sub(raw, means[rows], out=x[rows])
        xs, prev = x[:n], previous[:n]
        torch.mul(xs[:, :-1], PREEMPHASIS, out=prev[:, 1:])
        torch.mul(xs[:, :1], PREEMPHASIS, out=prev[:, :1])
        xs.sub_(prev).mul_(window)
        torch.fft.rfft(xs, n=n_fft, out=spectrum[:n])  # zero-padded to n_fft
        real_imag = torch.view_as_real(spectrum[:n])  # (n, K, 2)
        torch.mul(real_imag[..., 0], real_imag[..., 0], out=power[:n])
        power[:n].addcmul_(real_imag[..., 1], real_imag[..., 1])  # re^2 + im^2
        for m0, m1, k0, k1, weights in bands:
            torch.mm(power[:n, k0:k1], weights, out=energies[:n, m0:m1])
        torch.clamp_min(energies[:n], LOG_FLOOR, out=log_mels[:n]).log_()
        for clip, start, stop, row in pieces:
            out[clip, start:stop] = log_mels[row : row + stop - start]


def _log_mel_into(
    out: Tensor, waveforms: Tensor, frames_per_clip: Tensor, sampling_rate: int
) -> None:
    """Writes each clip's log-mels into out[b, :frames_per_clip[b]]; other frames untouched.

    waveforms (B, N) float32; out (B, T, M) with T >= frames_per_clip.max().
    """
    frame_length, frame_shift, n_fft = frame_geometry(sampling_rate)
    num_mel_bins, device = out.shape[-1], waveforms.device
    total_frames = int(frames_per_clip.max())
    used = (total_frames - 1) * frame_shift + frame_length
    frames = waveforms[:, :used].unfold(1, frame_length, frame_shift)  # (B, T, L), a view
    window = _hann_window(frame_length, device)
    args = (num_mel_bins, float(sampling_rate), n_fft, LOW_FREQ, 0.5 * sampling_rate)
    with _no_autocast(device):
        blockwise = device.type == "cpu" and _spectral_dtype(device) == torch.float32
        if blockwise and not (waveforms.requires_grad or out.requires_grad):
            _log_mel_blocks(frames, frames_per_clip.tolist(), window, n_fft, _mel_bands(*args), out)
            return
        banks = _mel_filterbank_cached(*args, device, torch.float32)
        chunk = max(1, FRAMES_PER_CHUNK // waveforms.shape[0])
        for start in range(0, total_frames, chunk):
            stop = min(start + chunk, total_frames)
            out[:, start:stop] = _log_mel_batched(frames[:, start:stop], window, banks, n_fft)


def _check_lengths(lengths, batch: int, num_samples: int, device: torch.device) -> Tensor:
    lengths = torch.as_tensor(lengths, device=device)
    if lengths.dtype.is_floating_point or lengths.dtype == torch.bool or lengths.is_complex():
        raise ValueError(f"lengths must hold integers (samples per clip), got {lengths.dtype}")
    if lengths.shape != (batch,):
        raise ValueError(f"lengths must have shape ({batch},), got {tuple(lengths.shape)}")
    lengths = lengths.long()
    if batch:
        low, high = (int(v) for v in torch.aminmax(lengths))
        if low < 0 or high > num_samples:
            raise ValueError(
                f"lengths must lie in [0, {num_samples}] (the padded clip length), "
                f"got values from {low} to {high}"
            )
    return lengths


def kaldi_fbank(
    waveforms: Tensor,
    lengths: Tensor | list[int] | None = None,
    sampling_rate: int = SAMPLE_RATE,
    num_mel_bins: int = 128,
    max_frames: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Kaldi log-mel filter banks of a batch of clips, as the AST recipe gets from torchaudio.

    Args:
        waveforms: (B, N) clips, zero-padded at the end to a common length N, or (N,) for one
            clip. Samples are rounded to float32 first (the recipe feeds torchaudio float32).
        lengths: (B,) samples of each clip; None means every clip fills all N samples.
        sampling_rate: Hz; sets the frame geometry (25 ms frames every 10 ms).
        num_mel_bins: mel filters between 20 Hz and Nyquist.
        max_frames: compute at most this many frames (later ones would be truncated anyway).

    Returns:
        (features, num_frames): features (B, T, num_mel_bins) float32 natural-log mel energies,
        floored at float32 eps, on the input's device, where T is the largest clip's frame count
        (capped by max_frames); frames past a clip's own end are zero. num_frames (B,) int64 holds
        each clip's real frames, 1 + (length - 400) // 160 at 16 kHz, 0 for clips under 400 samples.
    """
    waveforms, frames_per_clip = _clips_and_frames(waveforms, lengths, sampling_rate, max_frames)
    total_frames = int(frames_per_clip.max()) if len(frames_per_clip) else 0
    features = torch.empty(
        len(frames_per_clip), total_frames, num_mel_bins, device=waveforms.device
    )
    if total_frames:
        _log_mel_into(features, waveforms, frames_per_clip, sampling_rate)
    _fill_past_ends(features, frames_per_clip, 0.0)
    return features, frames_per_clip


def _clips_and_frames(
    waveforms: Tensor, lengths, sampling_rate: int, max_frames: int | None
) -> tuple[Tensor, Tensor]:
    """Checked (B, N) float32 clips and each clip's frame count (B,), capped at max_frames."""
    if not isinstance(waveforms, Tensor):
        raise TypeError(f"waveforms must be a torch.Tensor, got {type(waveforms).__name__}")
    if waveforms.dim() == 1:
        waveforms = waveforms.unsqueeze(0)
    if waveforms.dim() != 2:
        raise ValueError(f"waveforms must be (batch, samples), got shape {tuple(waveforms.shape)}")
    if waveforms.is_complex():
        raise ValueError("waveforms must be real-valued, got a complex tensor")
    frame_geometry(sampling_rate)  # checks the rate
    waveforms = waveforms.to(torch.float32)
    batch, num_samples = waveforms.shape
    if lengths is None:
        lengths = torch.full((batch,), num_samples, dtype=torch.long, device=waveforms.device)
    else:
        lengths = _check_lengths(lengths, batch, num_samples, waveforms.device)
    frames_per_clip = count_frames(lengths, sampling_rate)  # (B,)
    if max_frames is not None:
        frames_per_clip = frames_per_clip.clamp(max=max(int(max_frames), 0))
    return waveforms, frames_per_clip


def _fill_past_ends(features: Tensor, frames_per_clip: Tensor, value: float) -> None:
    """Sets features[b, frames_per_clip[b]:] to value in place (frames past each clip's end)."""
    for clip, count in enumerate(frames_per_clip.tolist()):
        if count < features.shape[1]:
            features[clip, count:] = value


# -- BatchFeature ----------------------------------------------------------------------------
TENSOR_KINDS = ("pt", "np", "tf")


def _tensor_kind(kind) -> str | None:
    kind = getattr(kind, "value", kind)  # transformers' TensorType enum
    if kind is None or kind in TENSOR_KINDS:
        return kind
    raise ValueError(f"return_tensors must be one of {TENSOR_KINDS} or None, got {kind!r}")


def _import_tensorflow():
    try:
        import tensorflow as tf
    except ImportError:
        raise ValueError(
            "return_tensors='tf' needs TensorFlow, which is not installed; "
            "use return_tensors='pt' or 'np'"
        ) from None
    return tf


def _convert(value, kind: str):
    if kind == "pt":
        if isinstance(value, Tensor):
            return value
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], Tensor):
            return torch.stack(list(value))
        return torch.as_tensor(np.asarray(value))
    as_numpy = _to_numpy(value)
    if kind == "np":
        return as_numpy
    return _import_tensorflow().convert_to_tensor(as_numpy)


def _to_numpy(value) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], Tensor):
        return np.stack([v.detach().cpu().numpy() for v in value])
    return np.asarray(value)


class BatchFeature(dict):
    """The extractor's output: a dict (``model(**inputs)``) whose keys are also attributes.

    ``inputs.input_values`` is ``inputs["input_values"]``; ``.to(device or dtype)`` returns a new
    BatchFeature with its tensors moved (a floating dtype casts only floating tensors).
    """

    def __init__(self, data: dict | None = None, tensor_type: str | None = None):
        super().__init__(data or {})
        self.convert_to_tensors(tensor_type)

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"BatchFeature has no key {name!r}") from None

    def convert_to_tensors(self, tensor_type: str | None = None) -> BatchFeature:
        """Turn every value into a "pt", "np" or "tf" tensor, in place (None leaves them)."""
        kind = _tensor_kind(tensor_type)
        if kind == "tf":
            _import_tensorflow()
        if kind is not None:
            for key, value in self.items():
                try:
                    self[key] = _convert(value, kind)
                except (ValueError, RuntimeError, TypeError) as exc:
                    raise ValueError(
                        f"can't make one {kind} tensor of {key!r} (clips of unequal shape?): {exc}"
                    ) from None
        return self

    def to(self, device_or_dtype: torch.device | str | int | torch.dtype) -> BatchFeature:
        """A new BatchFeature with tensors moved to a device, or floating tensors cast to a dtype."""
        moved = {}
        for key, value in self.items():
            if isinstance(value, Tensor):
                if isinstance(device_or_dtype, torch.dtype):
                    if value.is_floating_point() and device_or_dtype.is_floating_point:
                        value = value.to(device_or_dtype)
                else:
                    value = value.to(device_or_dtype)
            moved[key] = value
        return BatchFeature(moved)


# -- ASTFeatureExtractor ---------------------------------------------------------------------
FEATURE_EXTRACTOR_TYPE = "ASTFeatureExtractor"


def _float_tensor(samples, where: str) -> Tensor:
    """A float32 tensor of numeric samples (numpy arrays, lists, tensors), device kept."""
    if isinstance(samples, Tensor):
        tensor = samples
    else:
        array = np.asarray(samples)
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
            raise ValueError(f"raw_speech{where} must hold numbers, got dtype {array.dtype}")
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.is_complex():
        raise ValueError(f"raw_speech{where} must be real-valued audio, got complex samples")
    return tensor.to(torch.float32)


def _as_batch(raw_speech, device: torch.device | None) -> tuple[Tensor, Tensor]:
    """(B, N) zero-padded float32 clips and their (B,) lengths from any supported input."""
    if isinstance(raw_speech, np.generic):  # a numpy scalar: shape ()
        raw_speech = np.asarray(raw_speech)
    if isinstance(raw_speech, (np.ndarray, Tensor)):
        if raw_speech.ndim == 0 or raw_speech.ndim > 2:
            raise ValueError(
                "raw_speech must be one clip (samples,) or a batch (batch, samples) of mono "
                f"audio, got shape {tuple(raw_speech.shape)}; average the channels first"
            )
        waveforms = _float_tensor(raw_speech, "")
        waveforms = waveforms.unsqueeze(0) if waveforms.dim() == 1 else waveforms
        waveforms = waveforms.to(device) if device is not None else waveforms
        lengths = torch.full((waveforms.shape[0],), waveforms.shape[1], dtype=torch.long)
    elif isinstance(raw_speech, (list, tuple)):
        if len(raw_speech) == 0:
            raise ValueError("raw_speech is an empty batch: pass at least one clip")
        batched = isinstance(raw_speech[0], (np.ndarray, Tensor, list, tuple))
        clips = [
            _float_tensor(clip, f" (clip {i})" if batched else "")
            for i, clip in enumerate(raw_speech if batched else [raw_speech])
        ]
        for i, clip in enumerate(clips):
            if clip.dim() != 1:
                raise ValueError(
                    f"each clip must be 1-D mono audio, clip {i} has shape {tuple(clip.shape)}; "
                    "average the channels first"
                )
        if device is None:  # tensors on a GPU keep the work there
            device = next((c.device for c in clips if c.device.type != "cpu"), clips[0].device)
        lengths = torch.tensor([clip.shape[0] for clip in clips], dtype=torch.long)
        waveforms = torch.empty(len(clips), int(lengths.max()), device=device)  # (B, N)
        for row, clip in zip(waveforms, clips, strict=True):  # zeros after each clip
            row[: clip.shape[0]] = clip
            row[clip.shape[0] :] = 0.0
    else:
        raise TypeError(
            "raw_speech must be a numpy array, a torch tensor, or a list of floats/arrays/"
            f"tensors, got {type(raw_speech).__name__}"
        )
    if waveforms.shape[0] == 0:
        raise ValueError("raw_speech is an empty batch: pass at least one clip")
    # a sum is finite unless a sample is NaN/Inf (or the sum overflows): check samples only then
    finite = torch.isfinite(waveforms.sum(dim=1))  # (B,)
    if not bool(finite.all()):
        finite = torch.isfinite(waveforms).all(dim=1)
    if not bool(finite.all()):
        bad = int((~finite).nonzero()[0])
        where = "" if waveforms.shape[0] == 1 else f" (clip {bad})"
        raise ValueError(f"raw_speech contains NaN or Inf samples{where}")
    return waveforms, lengths.to(waveforms.device)


class ASTFeatureExtractor:
    """Audio Spectrogram Transformer features: normalised Kaldi log-mel filter banks.

    Same arguments, defaults, outputs and preprocessor_config.json as transformers'
    ``ASTFeatureExtractor``. Each clip becomes ``max_length`` frames (25 ms, every 10 ms) of
    ``num_mel_bins`` log-mel energies, padded at the end with ``padding_value`` or truncated,
    then normalised as (x - mean) / (2 std) (padded frames too, as transformers does).
    (transformers pads with 0.0 whatever ``padding_value`` says; at the default 0.0 the two agree.)
    The log-mels equal torchaudio's ``kaldi.fbank`` (the original recipe) to ~1e-6; transformers'
    own numpy fallback differs from torchaudio by up to ~7e-3 before normalisation.
    Unknown keyword arguments are kept and written back by ``save_pretrained``.
    """

    model_input_names = ["input_values", "attention_mask"]

    def __init__(
        self,
        feature_size: int = 1,
        sampling_rate: int = SAMPLE_RATE,
        num_mel_bins: int = 128,
        max_length: int = 1024,
        padding_value: float = 0.0,
        do_normalize: bool = True,
        mean: float = AUDIOSET_MEAN,
        std: float = AUDIOSET_STD,
        return_attention_mask: bool = False,
        **kwargs,
    ):
        kind = kwargs.pop("feature_extractor_type", FEATURE_EXTRACTOR_TYPE)
        if kind != FEATURE_EXTRACTOR_TYPE:
            raise ValueError(f"this config is for a {kind}, not an {FEATURE_EXTRACTOR_TYPE}")
        padding_side = kwargs.pop("padding_side", "right")
        if padding_side != "right":
            raise ValueError(
                f"padding_side must be 'right' (AST pads at the end), got {padding_side!r}"
            )
        for name, value in (
            ("feature_size", feature_size), ("sampling_rate", sampling_rate),
            ("num_mel_bins", num_mel_bins), ("max_length", max_length),
        ):  # fmt: skip
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not float(std) > 0:
            raise ValueError(f"std must be positive, got {std!r}")
        frame_geometry(sampling_rate)
        self.feature_size = feature_size
        self.sampling_rate = sampling_rate
        self.num_mel_bins = num_mel_bins
        self.max_length = max_length
        self.padding_value = float(padding_value)
        self.padding_side = padding_side
        self.do_normalize = bool(do_normalize)
        self.mean = float(mean)
        self.std = float(std)
        self.return_attention_mask = bool(return_attention_mask)
        self.extra: dict = kwargs

    # -- features -----------------------------------------------------------------------------
    def normalize(self, input_values):
        """(x - mean) / (2 std), for numpy arrays and tensors alike (dtype kept)."""
        return (input_values - self.mean) / (self.std * 2)

    def _features_and_mask(
        self, waveforms: Tensor, lengths: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        waveforms, num_frames = _clips_and_frames(
            waveforms, lengths, self.sampling_rate, self.max_length
        )  # (B, N), (B,) real frames, truncated
        mask = torch.arange(self.max_length, device=waveforms.device) < num_frames.unsqueeze(1)
        # (B, max_length, M): the log-mels, padding_value after each clip's last frame
        features = torch.empty(
            len(num_frames), self.max_length, self.num_mel_bins, device=waveforms.device
        )
        if len(num_frames) and int(num_frames.max()) > 0:
            _log_mel_into(features, waveforms, num_frames, self.sampling_rate)
        _fill_past_ends(features, num_frames, self.padding_value)
        if self.do_normalize:  # in place: same float32 rounding as normalize()
            features.sub_(self.mean).div_(self.std * 2)
        return features, mask

    def extract(self, waveforms: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Model inputs (B, max_length, num_mel_bins) from a (B, N) or (N,) waveform tensor.

        For the pipelines: clips are zero-padded at the end to N, ``lengths`` (B,) says how many
        samples each really has (None: all N). Runs on the tensor's device, no checks of the
        sampling rate (the caller resamples) or of NaN samples.
        """
        return self._features_and_mask(waveforms, lengths)[0]

    def __call__(
        self,
        raw_speech,
        sampling_rate: int | None = None,
        return_tensors: str | None = None,
        return_attention_mask: bool | None = None,
        device: torch.device | str | None = None,
        padding: bool | str = "max_length",
        truncation: bool = True,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
    ) -> BatchFeature:
        """Featurise one clip or a batch of mono clips.

        ``padding``, ``truncation``, ``max_length`` and ``pad_to_multiple_of`` are accepted as
        transformers' ASTFeatureExtractor accepts them, and ignored as it ignores them: every
        clip becomes exactly ``self.max_length`` frames (padded or cut), the length the model's
        position embeddings were built for. Use :meth:`pad` to pad raw waveforms.

        Args:
            raw_speech: one clip (1-D numpy array, list of floats, 1-D tensor) or a batch
                (2-D array/tensor, or a list of 1-D arrays/lists/tensors of any lengths).
                Clips shorter than 400 samples (25 ms) have no complete frame: they come out
                fully padded, with an all-zero attention mask.
            sampling_rate: Hz of raw_speech; must equal the extractor's (resample otherwise).
            return_tensors: "pt", "np", "tf", or None for a list of numpy arrays.
            return_attention_mask: add "attention_mask" (B, max_length), 1 for real frames;
                None uses the extractor's setting.
            device: where to compute (default: the input tensors' device, else CPU); "pt"
                outputs stay there.

        Returns:
            BatchFeature with "input_values" (B, max_length, num_mel_bins) float32.
        """
        if sampling_rate is None:
            warnings.warn(
                f"pass sampling_rate= to {type(self).__name__}() (it expects "
                f"{self.sampling_rate} Hz audio); without it a wrong rate goes unnoticed",
                UserWarning,
                stacklevel=2,
            )
        elif sampling_rate != self.sampling_rate:
            raise ValueError(
                f"audio sampled at {sampling_rate} Hz, but this extractor expects "
                f"{self.sampling_rate} Hz: resample first, e.g. with "
                f"astaudio.load_audio(path, sampling_rate={self.sampling_rate}) or "
                f"soxr.resample(x, {sampling_rate}, {self.sampling_rate})"
            )
        kind = _tensor_kind(return_tensors)
        if kind == "tf":
            _import_tensorflow()
        if return_attention_mask is None:
            return_attention_mask = self.return_attention_mask
        waveforms, lengths = _as_batch(raw_speech, torch.device(device) if device else None)
        features, mask = self._features_and_mask(waveforms, lengths)
        outputs = {"input_values": features}
        if return_attention_mask:
            outputs["attention_mask"] = mask.to(torch.int32)
        if kind is None:  # like transformers: one numpy array per clip
            return BatchFeature({k: list(_to_numpy(v)) for k, v in outputs.items()})
        return BatchFeature(outputs, tensor_type=kind)

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """preprocessor_config.json contents, in transformers' keys (unknown keys kept)."""
        out = {
            "feature_extractor_type": FEATURE_EXTRACTOR_TYPE,
            "feature_size": self.feature_size,
            "sampling_rate": self.sampling_rate,
            "num_mel_bins": self.num_mel_bins,
            "max_length": self.max_length,
            "padding_value": self.padding_value,
            "padding_side": self.padding_side,
            "do_normalize": self.do_normalize,
            "mean": self.mean,
            "std": self.std,
            "return_attention_mask": self.return_attention_mask,
        }
        out.update(copy.deepcopy(self.extra))
        return out

    @classmethod
    def from_dict(cls, data: dict, **overrides) -> ASTFeatureExtractor:
        return cls(**{**data, **overrides})

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_dict` as JSON to ``path``."""
        Path(path).write_text(self.to_json_string())

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> ASTFeatureExtractor:
        """An extractor from a JSON file written by :meth:`to_json_file` or save_pretrained."""
        return cls.from_pretrained(path)

    def save_pretrained(self, folder: str | os.PathLike) -> list[str]:
        """Write ``folder/preprocessor_config.json``; returns the written files' paths, as
        transformers does."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / PREPROCESSOR_NAME
        path.write_text(self.to_json_string())
        return [str(path)]

    # -- padding raw sequences ----------------------------------------------------------------
    def pad(
        self,
        processed_features,
        padding: bool | str = True,
        max_length: int | None = None,
        truncation: bool = False,
        pad_to_multiple_of: int | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
    ) -> BatchFeature:
        """Pad (and cut) sequences of samples to one length, as transformers'
        ``SequenceFeatureExtractor.pad``.

        processed_features: a dict (or BatchFeature) whose "input_values" is a list of
            sequences (N_i,) or (N_i, feature_size), or a list of such dicts.
        padding: True / "longest" (to the longest), "max_length" (to ``max_length``), or
            False / "do_not_pad". Padding goes at the end, with ``padding_value``.
        truncation: cut sequences longer than ``max_length`` (needs padding="max_length").
        pad_to_multiple_of: round the padded length up to a multiple of this.
        return_attention_mask: add "attention_mask" (B, length), 1 for real samples; None uses
            the extractor's setting.
        return_tensors: "pt", "np", "tf", or None for a list of float32 numpy arrays.
        """
        name = self.model_input_names[0]
        if isinstance(processed_features, (list, tuple)) and processed_features:
            if isinstance(processed_features[0], Mapping):
                keys = processed_features[0].keys()
                processed_features = {k: [f[k] for f in processed_features] for k in keys}
        if not isinstance(processed_features, Mapping) or name not in processed_features:
            raise ValueError(f"pad() needs a dict or list of dicts with {name!r}")
        sequences = []
        for value in processed_features[name]:
            array = _to_numpy(value)
            sequences.append(array.astype(np.float32) if array.dtype.kind == "f" else array)
        mode = {True: "longest", False: "do_not_pad", "do_not_pad": "do_not_pad"}.get(
            padding, padding
        )
        if mode not in ("longest", "max_length", "do_not_pad"):
            raise ValueError(
                f"padding must be True, False, 'longest' or 'max_length', got {padding!r}"
            )
        if mode == "max_length" and max_length is None:
            raise ValueError("padding='max_length' needs max_length")
        if truncation and (mode != "max_length" or max_length is None):
            raise ValueError("truncation=True needs padding='max_length' and max_length")
        target = None
        if mode == "longest":
            target = max(len(x) for x in sequences)
        elif mode == "max_length":
            target = max_length
        if target is not None and pad_to_multiple_of:
            target = -(-target // pad_to_multiple_of) * pad_to_multiple_of
        if truncation:
            sequences = [x[:target] for x in sequences]
        lengths = [len(x) for x in sequences]
        if target is not None:
            sequences = [
                np.pad(
                    x,
                    [(0, max(target - len(x), 0))] + [(0, 0)] * (x.ndim - 1),
                    constant_values=self.padding_value,
                )
                for x in sequences
            ]
        outputs: dict = {name: sequences}
        if self.return_attention_mask if return_attention_mask is None else return_attention_mask:
            outputs["attention_mask"] = [
                (np.arange(len(x)) < n).astype(np.int32) for x, n in zip(sequences, lengths)
            ]
        if len({len(x) for x in sequences}) > 1:  # unequal lengths stay lists, as transformers
            return_tensors = None
        return BatchFeature(outputs, tensor_type=return_tensors)

    @classmethod
    def from_pretrained(
        cls,
        model: str | os.PathLike,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        token: str | bool | None = None,
        local_files_only: bool = False,
        subfolder: str = "",
        **overrides,
    ) -> ASTFeatureExtractor:
        """Read preprocessor_config.json from a folder (or its ``subfolder``), the file itself,
        a bundled model's name, or a hub id; ``overrides`` replace settings."""
        path = Path(model).expanduser()
        if not path.is_file():
            name = f"{subfolder}/{PREPROCESSOR_NAME}" if subfolder else PREPROCESSOR_NAME
            path = resolve_file(
                model, name, revision=revision, cache_dir=cache_dir,
                token=token, local_files_only=local_files_only,
            )  # fmt: skip
        try:
            data = json.loads(Path(path).read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
        return cls.from_dict(data, **overrides)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ASTFeatureExtractor) and self.to_dict() == other.to_dict()

    __hash__ = None

    def __repr__(self) -> str:
        return f"{type(self).__name__} {self.to_json_string()}"
