"""The inputs of a classify/embed call and their windows: expanding folders, naming inputs,
turning paths, bytes, file objects and waveforms into :class:`_Window` records (or a
:class:`_Failure`) of the model's length at a hop, decoded in bounded memory, and the dataset that
DataLoader workers read them from. Re-exported by :mod:`astaudio.inference`.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .audio import audio_info, load_audio, stream_windows
from .audio import expand_inputs as expand_audio_inputs
from .errors import AstAudioError, AudioLoadError
from .features import count_frames

AudioInput = str | os.PathLike | bytes | tuple | dict | np.ndarray | torch.Tensor
WAVEFORM_KEYS = ("raw", "array")  # the pipeline's dict keys (``array``: the datasets library's)


def window_starts(num_samples: int, window: int, hop: int) -> list[int]:
    """Start samples of the windows that cover a recording of num_samples.

    Windows advance by `hop` until one reaches the end; a recording no longer than one window
    is a single window. The last window may run past the end (its features are zero-padded).
    No window starts at or beyond the end, so with a hop longer than the window the audio
    between windows is not classified (see `window_coverage`).
    """
    if window <= 0 or hop <= 0:
        raise ValueError("window and hop must be positive")
    count = 1 + max(0, math.ceil((num_samples - window) / hop))
    return [i * hop for i in range(count) if i == 0 or i * hop < num_samples]


def window_coverage(window: float, hop: float) -> float:
    """The share of a long recording that windows of `window` every `hop` classify (<= 1)."""
    return min(1.0, window / hop)


def source_name(item: AudioInput, index: int) -> str:
    if isinstance(item, (str, os.PathLike)):
        return os.fspath(item)
    if isinstance(item, bytes):
        return f"<bytes {index}>"
    if isinstance(item, dict) and isinstance(item.get("path"), (str, os.PathLike)):
        return os.fspath(item["path"])  # a datasets Audio record names its file
    return f"<array {index}>"


def expand_inputs(inputs: AudioInput | Sequence[AudioInput]) -> tuple[list[Any], bool]:
    """The inputs of one call as a list, folders replaced by their audio files (recursively,
    sorted, as the command line does), and whether the call was for a single input.

    A folder with no audio files stays in the list (it fails with a one-line error)."""
    single = _is_single(inputs)
    items = [inputs] if single else list(inputs)
    expanded: list[Any] = []
    for item in items:
        if isinstance(item, (str, os.PathLike)) and os.path.isdir(os.path.expanduser(item)):
            single = False
            for entry in expand_audio_inputs([item]):  # FIFOs and link loops fail, not hang
                expanded.append(entry.path if entry.ok else _EmptyFolder(entry.name, entry.error))
        else:
            expanded.append(item)
    return expanded, single


@dataclass
class _EmptyFolder:
    """A folder that held no audio files, or a file in one that can't be read (a FIFO, a link
    loop): it fails like an unreadable file."""

    path: str
    message: str

    def __fspath__(self) -> str:
        return self.path


@dataclass
class _Window:
    input_index: int
    start: int  # samples at the model's rate
    samples: np.ndarray
    last: bool  # the input's final window
    duration: float  # the input's length in seconds (known once the last window is read)
    notes: list[str] = field(default_factory=list)  # what decoding survived (on the last)


@dataclass
class _Failure:
    input_index: int
    message: str


def _is_single(inputs: Any) -> bool:
    if isinstance(inputs, (str, os.PathLike, bytes, dict, np.ndarray, torch.Tensor)):
        return True
    if hasattr(inputs, "read"):
        return True
    if isinstance(inputs, tuple) and len(inputs) == 2 and isinstance(inputs[1], (int, float)):
        return not isinstance(inputs[0], (str, os.PathLike, bytes))
    return False


def _waveform_at_rate(item: Any, rate: int) -> np.ndarray:
    """A (waveform, sampling_rate) pair, a {"array"|"raw": waveform, "sampling_rate": rate} dict
    or a bare array at `rate`, as mono float32 at `rate`."""
    if isinstance(item, dict):
        key = next((k for k in WAVEFORM_KEYS if item.get(k) is not None), None)
        if key is None or "sampling_rate" not in item:
            raise ValueError(
                'a dict input needs "array" (or "raw") holding the waveform and "sampling_rate", '
                f"got keys {sorted(map(str, item))}"
            )
        item = (item[key], item["sampling_rate"])
    if isinstance(item, tuple):
        waveform, source_rate = item
    else:
        waveform, source_rate = item, rate
    if isinstance(waveform, torch.Tensor):
        waveform = waveform.detach().cpu().numpy()
    samples = np.asarray(waveform, dtype=np.float32)
    if samples.ndim == 2:  # (channels, samples) or (samples, channels): average the short axis
        samples = samples.mean(axis=0 if samples.shape[0] < samples.shape[1] else 1)
    if samples.ndim != 1:
        raise ValueError(f"a waveform must be 1-D or 2-D, got shape {samples.shape}")
    if not np.isfinite(samples).all():
        raise ValueError("the waveform contains NaN or Inf samples")
    if int(source_rate) != rate:
        import soxr

        samples = soxr.resample(samples, int(source_rate), rate, quality="HQ").astype(np.float32)
    return samples


def input_windows(index: int, item: Any, window: int, hop: int, rate: int) -> Iterator:
    """_Window records of one input at `rate` Hz, or one _Failure if it can't be read."""
    try:
        if isinstance(item, _EmptyFolder):
            raise AstAudioError(item.message)
        if isinstance(item, (str, os.PathLike, bytes)) or hasattr(item, "read"):
            yield from _file_windows(index, item, window, hop, rate)
        else:
            yield from _array_windows(index, _waveform_at_rate(item, rate), window, hop, rate)
    except AudioLoadError as exc:  # the record names the file; the reason is enough
        yield _Failure(index, exc.reason)
    except (AstAudioError, ValueError, OSError) as exc:
        yield _Failure(index, str(exc))


def _file_windows(index: int, item, window: int, hop: int, rate: int) -> Iterator[_Window]:
    notes: list[str] = []
    if isinstance(item, (str, os.PathLike)) and _is_pipe(item):  # bash's <(cmd): read once
        with open(item, "rb") as stream:
            item = stream.read()
    if isinstance(item, bytes) or hasattr(item, "read"):
        samples = load_audio(item, rate, notes=notes)
        yield from _array_windows(index, samples, window, hop, rate, notes)
        return
    info = audio_info(item)
    if info.duration * rate <= 4 * window:  # short file: one decode is cheapest
        samples = load_audio(item, rate, notes=notes)
        yield from _array_windows(index, samples, window, hop, rate, notes)
        return
    pending = None
    for start, samples in stream_windows(item, window, hop, sampling_rate=rate, notes=notes):
        _check_finite(samples, start, rate)
        if pending is not None:
            yield pending
        pending = _Window(index, start, samples, False, 0.0)
    if pending is None:
        raise AstAudioError("no audio samples")
    pending.last = True
    pending.duration = (pending.start + len(pending.samples)) / rate
    pending.notes = notes
    yield pending


def _is_pipe(path: str | os.PathLike) -> bool:
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:  # reported when the file is opened
        return False


class _WindowStream(torch.utils.data.IterableDataset):
    """Every input's records; DataLoader worker w of W decodes inputs w, w + W, w + 2W, ..."""

    def __init__(self, items: Sequence[AudioInput], window: int, hop: int, rate: int):
        self.items, self.window, self.hop, self.rate = items, window, hop, rate

    def __iter__(self) -> Iterator:
        worker = torch.utils.data.get_worker_info()
        first, step = (0, 1) if worker is None else (worker.id, worker.num_workers)
        for index in range(first, len(self.items), step):
            yield from input_windows(index, self.items[index], self.window, self.hop, self.rate)


def _array_windows(
    index: int, samples: np.ndarray, window: int, hop: int, rate: int, notes: Sequence[str] = ()
) -> Iterator[_Window]:
    if len(samples) == 0:
        raise AstAudioError("no audio samples")
    if count_frames(len(samples), rate) == 0:
        raise AstAudioError(
            f"audio is shorter than one 25 ms frame ({len(samples)} samples at {rate} Hz)"
        )
    _check_finite(samples, 0, rate)
    starts = window_starts(len(samples), window, hop)
    duration = len(samples) / rate
    for n, start in enumerate(starts):
        last = n == len(starts) - 1
        notes_here = list(notes) if last else []
        yield _Window(index, start, samples[start : start + window], last, duration, notes_here)


def _check_finite(samples: np.ndarray, start: int, rate: int) -> None:
    """Float files can hold NaN or Inf, which would turn every score into NaN."""
    if not np.isfinite(samples).all():
        at = (start + int(np.flatnonzero(~np.isfinite(samples))[0])) / rate
        raise AstAudioError(f"audio contains NaN or infinite samples (first at {at:.2f} s)")
