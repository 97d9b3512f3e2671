"""Audio in: files, bytes or file objects decoded to mono float32 at 16 kHz, in bounded memory.

WAV, FLAC, OGG (Vorbis, Opus), MP3, AIFF, AU, CAF ... decode through soundfile (libsndfile);
anything libsndfile does not recognise (m4a/AAC, mp4, mkv, webm, ...) through the ``ffmpeg``
program when it is on PATH. Channels are averaged to mono; resampling uses soxr ("HQ"), run as a
stream over blocks so that a long file never needs more memory than its output plus one block.

Every failure a user can cause (missing, empty, truncated, corrupt, not audio, needs ffmpeg)
raises :class:`~astaudio.errors.AudioLoadError` with a one-line message naming the file.

Decoding back ends and source checks are in :mod:`astaudio.decoders` and
:mod:`astaudio.sources`, finding files in :mod:`astaudio.inputs`; their public names are
re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import soundfile
import soxr

from .constants import SAMPLE_RATE
from .decoders import (  # noqa: F401 (re-exported)
    AUDIO_EXTENSIONS,
    FFMPEG_EXTENSIONS,
    MIN_SOURCE_RATE,
    SOUNDFILE_EXTENSIONS,
    _check_source_rate,
    _FfmpegDecoder,
    _ffprobe_info,
    _open_decoder,
    _require_program,
    _SoundfileDecoder,
    _try_soundfile,
    native_stderr_silenced,
)
from .inputs import InputEntry, expand_inputs, find_audio_files  # noqa: F401 (re-exported)
from .sources import AudioSource, _Source  # noqa: F401 (re-exported)

RESAMPLE_QUALITY = "HQ"  # soxr quality preset
_BLOCK_FRAMES = 1 << 16  # input frames decoded per block in load_audio (~1.4 s at 48 kHz)
_GROWTH = 1.25  # capacity factor when the output length was not known in advance
_FIRST_CAPACITY = 600  # seconds allocated up front at most, whatever a header declares


@dataclass(frozen=True)
class AudioInfo:
    """What a source holds, read from its header (``frames`` is an estimate for MP3 and for
    formats probed with ffprobe)."""

    sampling_rate: int  # Hz
    channels: int
    frames: int  # samples per channel
    duration: float  # seconds
    format: str  # container, e.g. "WAV", "FLAC", "OGG", "MP3", "mov,mp4,m4a,3gp,3g2,mj2"
    codec: str  # e.g. "PCM_16", "VORBIS", "OPUS", "aac"


# --------------------------------------------------------------------------------------------
# Public API


def _check_rate(sampling_rate: int | None, allow_none: bool) -> None:
    if sampling_rate is None and allow_none:
        return
    if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, (int, np.integer)):
        raise ValueError(f"sampling_rate must be a positive integer (Hz), got {sampling_rate!r}")
    if sampling_rate <= 0:
        raise ValueError(f"sampling_rate must be a positive integer (Hz), got {sampling_rate}")


def _resampled_blocks(
    decoder: _SoundfileDecoder | _FfmpegDecoder, sampling_rate: int | None, block_frames: int
) -> Iterator[np.ndarray]:
    """Mono float32 blocks at ``sampling_rate`` (None: the source's own); closes the decoder."""
    try:
        if sampling_rate is None or sampling_rate == decoder.sampling_rate:
            yield from decoder.blocks(block_frames)
            return
        stream = soxr.ResampleStream(
            decoder.sampling_rate, sampling_rate, 1, dtype="float32", quality=RESAMPLE_QUALITY
        )
        for block in decoder.blocks(block_frames):
            resampled = stream.resample_chunk(block)
            if resampled.size:
                yield resampled
        tail = stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        if tail.size:
            yield tail
    finally:
        decoder.close()


def load_audio_with_rate(
    source: AudioSource, sampling_rate: int | None = None, *, notes: list[str] | None = None
) -> tuple[np.ndarray, int]:
    """Decode a whole source to mono float32.

    Args:
        source: a path, bytes, or a binary file object.
        sampling_rate: output rate in Hz; None keeps the source's own rate.
        notes: a list that hears of problems decoding survived (a cut-off Ogg or MP3 file
            decodes to the part that is there), one line each.

    Returns:
        ``(samples, rate)``: samples of shape (num_samples,), float32 in [-1, 1] for PCM input,
        and the rate they are at.

    Memory: the output array plus one decoding block; the output is allocated up front when
    the header gives the length (grown by reallocation otherwise, e.g. for ffmpeg input).
    """
    _check_rate(sampling_rate, allow_none=True)
    decoder = _open_decoder(source, notes)
    rate = int(sampling_rate or decoder.sampling_rate)
    if decoder.frames:  # a header can claim anything: grow beyond _FIRST_CAPACITY as decoded
        declared = round(decoder.frames * rate / decoder.sampling_rate)
        capacity = min(declared, _FIRST_CAPACITY * rate)
    else:
        capacity = 60 * rate  # a minute, grown as needed
    output = np.empty(max(capacity, 1), dtype=np.float32)
    filled = 0
    for block in _resampled_blocks(decoder, sampling_rate, _BLOCK_FRAMES):
        if filled + len(block) > len(output):
            # ndarray.resize reallocates in place where it can, unlike concatenating a copy
            output.resize(max(filled + len(block), int(len(output) * _GROWTH)), refcheck=False)
        output[filled : filled + len(block)] = block
        filled += len(block)
    if filled != len(output):
        output.resize(filled, refcheck=False)
    return output, rate


def load_audio(
    source: AudioSource, sampling_rate: int | None = SAMPLE_RATE, *, notes: list[str] | None = None
) -> np.ndarray:
    """Decode a whole source to mono float32 at ``sampling_rate`` Hz (None: the source's rate).

    Args:
        source: a path (str or PathLike), bytes, or a binary file object.
        sampling_rate: output rate in Hz, 16000 by default (what AST expects).

    Returns:
        samples of shape (num_samples,), float32; num_samples == round(frames * rate / source_rate).

    Raises:
        AudioLoadError: the source is missing, empty, truncated, corrupt, not audio, or needs
            ffmpeg that is not installed.
    """
    return load_audio_with_rate(source, sampling_rate, notes=notes)[0]


def stream_audio(
    source: AudioSource,
    sampling_rate: int | None = SAMPLE_RATE,
    block_seconds: float = 10.0,
    *,
    notes: list[str] | None = None,
) -> Iterator[np.ndarray]:
    """Decode a source block by block: consecutive mono float32 arrays at ``sampling_rate``.

    Blocks hold about ``block_seconds`` of audio each (the first and last may be shorter);
    concatenated they equal :func:`load_audio`'s output. Memory stays bounded by a few blocks
    however long the source is. Errors opening the source are raised by this call; errors in
    the data part-way through are raised while iterating.
    """
    _check_rate(sampling_rate, allow_none=True)
    if not block_seconds > 0:
        raise ValueError(f"block_seconds must be positive, got {block_seconds}")
    decoder = _open_decoder(source, notes)
    block_frames = max(1, round(block_seconds * decoder.sampling_rate))
    return _resampled_blocks(decoder, sampling_rate, block_frames)


def stream_windows(
    source: AudioSource,
    window_samples: int,
    hop_samples: int,
    sampling_rate: int = SAMPLE_RATE,
    block_seconds: float = 10.0,
    *,
    notes: list[str] | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Overlapping windows over a source, in bounded memory: ``(start_sample, window)`` pairs.

    Windows start at 0, hop, 2*hop, ... and stop with the first window that reaches the end of
    the audio; that last one is shorter than ``window_samples`` unless the audio ends exactly
    on it (the caller pads). Audio shorter than one window gives one short window. So there are
    ``1 + ceil(max(0, total - window) / hop)`` windows for ``hop <= window``.
    Each window is a fresh float32 array of shape (<= window_samples,).
    """
    for name, value in (("window_samples", window_samples), ("hop_samples", hop_samples)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    blocks = stream_audio(source, sampling_rate, block_seconds, notes=notes)
    return _windows(blocks, int(window_samples), int(hop_samples))


def _windows(
    blocks: Iterator[np.ndarray], window: int, hop: int
) -> Iterator[tuple[int, np.ndarray]]:
    pending = np.zeros(0, dtype=np.float32)  # samples from absolute index pending_start on
    pending_start = next_start = last_end = total = 0
    for block in blocks:
        pending = np.concatenate((pending, block))
        total += len(block)
        while next_start + window <= total:
            offset = next_start - pending_start
            yield next_start, pending[offset : offset + window].copy()
            last_end = next_start + window
            next_start += hop
        drop = min(next_start, total) - pending_start
        pending, pending_start = pending[drop:], pending_start + drop
    if last_end < total and next_start < total:
        yield next_start, pending[next_start - pending_start :].copy()


def audio_info(source: AudioSource) -> AudioInfo:
    """Read a source's rate, channels, length and format without decoding it.

    Uses ffprobe (installed with ffmpeg) for formats libsndfile does not read.
    """
    checked = _Source(source)
    opened = _try_soundfile(checked)
    if isinstance(opened, soundfile.SoundFile):
        with opened:
            rate, frames, channels = opened.samplerate, opened.frames, opened.channels
            _check_source_rate(checked, rate)
            return AudioInfo(rate, channels, frames, frames / rate, opened.format, opened.subtype)
    ffprobe = _require_program(checked, "ffprobe", opened)
    probed = _ffprobe_info(checked, ffprobe, libsndfile_reason=opened)
    _check_source_rate(checked, probed["sampling_rate"])
    return AudioInfo(**probed)
