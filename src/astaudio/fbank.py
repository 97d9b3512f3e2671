"""Kaldi-compatible log-mel filter banks: frame geometry, the window, the mel filter bank and
:func:`kaldi_fbank` (used by :class:`astaudio.features.ASTFeatureExtractor`).

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
import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .constants import SAMPLE_RATE

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


def window_samples(max_length: int, sampling_rate: int = SAMPLE_RATE) -> int:
    """Samples in ``max_length`` frames of 10 ms: the model's window (16,000 for 100 frames)."""
    return int(max_length) * frame_geometry(sampling_rate)[1]


def center_short_clips(waveforms: Tensor, lengths: Tensor, window: int) -> tuple[Tensor, Tensor]:
    """Clips shorter than ``window`` samples, moved to the middle of ``window`` samples of zeros.

    ``waveforms`` (B, N) holds each clip from sample 0, zeros after its ``lengths`` (B,); the
    result is (B, max(N, window)) with each short clip centred and its length ``window``.
    Longer clips are unchanged. A word cut to its own length then looks like a 1-s keyword
    clip (silence around the word), not like a clip whose filter banks end early.
    """
    short = lengths < window
    if not bool(short.any()):
        return waveforms, lengths
    out = waveforms.new_zeros(waveforms.shape[0], max(waveforms.shape[1], window))
    out[:, : waveforms.shape[1]] = waveforms
    for row in short.nonzero().flatten().tolist():
        n = int(lengths[row])
        start = (window - n) // 2
        out[row, :window] = 0.0
        out[row, start : start + n] = waveforms[row, :n]
    return out, torch.where(short, torch.full_like(lengths, window), lengths)


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
