"""Audio in, labels out: AudioClassifier batches clips and windows of long recordings through AST.

Long recordings are cut into windows of the model's length (max_length frames: 10.24 s for
AudioSet models) with a hop (default half a window); every window is classified and the
clip-level scores are the max (or mean) over windows. Decoding runs in a background thread,
one window at a time, so an hour-long file needs memory for a few windows, not the whole file;
with ``num_workers`` it runs in that many DataLoader worker processes instead (several files
decoded and resampled at once, e.g. to keep a GPU busy). Features are computed on the model's
device, in the same batch as the model.
"""

from __future__ import annotations

import math
import os
import queue
import stat
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import torch

from .audio import audio_info, load_audio, stream_windows
from .audio import expand_inputs as expand_audio_inputs
from .constants import DEFAULT_MODEL, PREPROCESSOR_NAME
from .errors import AstAudioError, AudioLoadError, CheckpointError
from .events import DEFAULT_EVENT_THRESHOLD, Event, Thresholds, merge_events, threshold_vector
from .features import FRAME_SHIFT, ASTFeatureExtractor, count_frames, frame_geometry
from .hub import resolve_file
from .model import ASTClassifyOutput, ASTForAudioClassification
from .names import printable_name
from .scores import ACTIVATIONS, Activation, apply_activation, default_activation

AudioInput = str | os.PathLike | bytes | tuple | dict | np.ndarray | torch.Tensor
PipelineOutput = list[dict[str, Any]]  # transformers audio-classification: [{"score", "label"}]
WAVEFORM_KEYS = ("raw", "array")  # the pipeline's dict keys (``array``: the datasets library's)


class Network(Protocol):
    """What AudioClassifier runs: a torch ASTForAudioClassification, an ONNX Runtime session
    (:class:`astaudio.export.OnnxBackend`), or any object with these two members."""

    config: Any

    def classify(self, input_values: torch.Tensor, *, return_tokens: bool = False) -> Any:
        """Features (B, max_length, mel) -> an object with .logits (B, C), .pooled (B, D) and
        .last_hidden_state (B, T, D) when return_tokens (else None)."""


class CallableNetwork:
    """A function features -> (logits, pooled) as a Network, with the model's config."""

    def __init__(self, function: Callable[[torch.Tensor], tuple], config: Any):
        self.function, self.config = function, config

    def classify(self, input_values: torch.Tensor, *, return_tokens: bool = False):
        if return_tokens:
            raise ValueError(
                "tokens=True needs the torch model; this network gives logits and pooled only"
            )
        logits, pooled = self.function(input_values)
        return ASTClassifyOutput(logits, pooled)


@dataclass
class Segment:
    """One window of a recording: [start, end) in seconds and its top labels."""

    start: float
    end: float
    labels: list[tuple[str, float]]


@dataclass
class ClassificationResult:
    """What `AudioClassifier` says about one input.

    scores: (num_labels,) clip-level scores after the activation, pooled over windows.
    window_scores: (num_windows, num_labels), one row per segment.
    """

    source: str
    index: int = 0  # position among the inputs of the call
    duration: float = 0.0
    labels: list[tuple[str, float]] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    scores: np.ndarray | None = None
    window_scores: np.ndarray | None = None
    events: list[Event] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. a cut-off file, classified anyway
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """The JSON record of the command line: file, duration, labels, events, segments (or
        file and error). The file name is text even when the OS name is not UTF-8."""
        if self.error is not None:
            return {"file": printable_name(self.source), "error": self.error}
        warnings = {"warnings": list(self.warnings)} if self.warnings else {}
        return {
            "file": printable_name(self.source),
            "duration": round(self.duration, 3),
            **warnings,
            "labels": _label_dicts(self.labels),
            "events": [e.to_dict() for e in self.events],
            "segments": [
                {
                    "start": round(s.start, 3),
                    "end": round(s.end, 3),
                    "labels": _label_dicts(s.labels),
                }
                for s in self.segments
            ],
        }


@dataclass
class EmbeddingResult:
    """Pooled embeddings of one input.

    embedding: (hidden,) mean of the window embeddings.
    window_embeddings: (num_windows, hidden), one per window, with `starts`/`ends` in seconds.
    tokens: (num_windows, seq_len, hidden) the final hidden states, when asked for.
    """

    source: str
    index: int = 0  # position among the inputs of the call
    duration: float = 0.0
    embedding: np.ndarray | None = None
    window_embeddings: np.ndarray | None = None
    starts: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)
    tokens: np.ndarray | None = None
    error: str | None = None


def _label_dicts(labels: list[tuple[str, float]]) -> list[dict[str, Any]]:
    return [{"label": name, "score": round(float(score), 6)} for name, score in labels]


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


class AudioClassifier:
    """Classify audio files, bytes or waveforms with an AST checkpoint.

    >>> clf = AudioClassifier.from_pretrained("MIT/ast-finetuned-audioset-10-10-0.4593")
    >>> clf("dog.wav", top_k=3).labels
    [('Dog', 0.91), ('Animal', 0.88), ('Bark', 0.74)]
    """

    def __init__(
        self,
        model: ASTForAudioClassification | Network,
        feature_extractor: ASTFeatureExtractor,
        *,
        device: str | torch.device | None = None,
        dtype: torch.dtype | str | None = None,
        activation: Activation | None = None,
        compile_model: bool | str = False,
        backend: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None,
        pipeline_output: bool = False,
    ):
        """model: the network that runs: a torch ASTForAudioClassification, or any object with
        a ``config`` and ``classify(features, return_tokens=False)`` returning logits and pooled
        (the ONNX Runtime session of :class:`astaudio.export.OnnxBackend`).
        compile_model: run a torch network through ``torch.compile`` (True: inductor, or a
        backend name); the first batch pays the compilation, and every batch is padded to the
        first batch's size so that no shape recompiles.
        backend: an older spelling, a callable features (B, max_length, mel) -> (logits, pooled)
        that runs instead of ``model`` (whose config is used).
        pipeline_output: calls return transformers' pipeline shape, ``[{"score", "label"}]``
        (see :meth:`classify`), so the classifier replaces
        ``transformers.pipeline("audio-classification", model=...)``."""
        if backend is not None:
            model = CallableNetwork(backend, model.config)
        self.network = model
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype)
        if isinstance(model, torch.nn.Module):
            model.to(device=self.device, dtype=self.dtype).eval()
        elif compile_model:
            raise ValueError(
                f"compile_model applies to a torch network, not to a backend ({type(model).__name__})"
            )
        self.feature_extractor = feature_extractor
        self.config = model.config
        check_extractor_fits(self.config, feature_extractor)
        self.activation = activation or default_activation(self.config)
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be sigmoid, softmax or none, got {activation!r}")
        self.labels = [self.config.id2label[i] for i in range(self.config.num_labels)]
        self.compiled_batch = 0  # _run's batch size: a compiled network gets batches padded to it
        self._network = self._network_outputs
        if compile_model:
            name = "inductor" if compile_model is True else str(compile_model)
            self._network = torch.compile(self._network_outputs, backend=name, dynamic=False)
        self.compiled = bool(compile_model)
        self.pipeline_output = pipeline_output

    @property
    def model(self) -> ASTForAudioClassification:
        """The torch network (AttributeError when another runtime, such as ONNX Runtime, runs
        the network: see ``network``)."""
        if not isinstance(self.network, torch.nn.Module):
            raise AttributeError(
                f"this classifier runs {type(self.network).__name__} and has no torch network; "
                "load it with AudioClassifier.from_pretrained for torch features"
            )
        return self.network

    @classmethod
    def from_pretrained(
        cls,
        model: str | os.PathLike = DEFAULT_MODEL,
        *,
        device: str | torch.device | None = None,
        dtype: torch.dtype | str | None = None,
        activation: Activation | None = None,
        compile_model: bool | str = False,
        pipeline_output: bool = False,
        **hub_kwargs: Any,
    ) -> AudioClassifier:
        """Load model and feature extractor from a folder or hub id (`revision`, `cache_dir`,
        `token`, `local_files_only` pass through). A folder without preprocessor_config.json
        gets the default extractor sized to the model's max_length and num_mel_bins."""
        from .bundled import resolve_bundled

        model = resolve_bundled(model)
        network = ASTForAudioClassification.from_pretrained(model, **hub_kwargs)
        extractor = load_feature_extractor(model, network.config, **hub_kwargs)
        return cls(
            network,
            extractor,
            device=device,
            dtype=dtype,
            activation=activation,
            compile_model=compile_model,
            pipeline_output=pipeline_output,
        )

    # -- geometry -------------------------------------------------------------------------
    @property
    def sampling_rate(self) -> int:
        return int(self.feature_extractor.sampling_rate)

    @property
    def window_seconds(self) -> float:
        """The model's window: max_length frames of 10 ms (10.24 s for AudioSet models)."""
        return self.config.max_length * FRAME_SHIFT / self.sampling_rate

    def check_window(self, window: float | None, hop: float | None) -> tuple[float, float]:
        """(window, hop) in seconds for these arguments (None: the model's window, half of it),
        or ValueError saying in one line what the model allows."""
        window_s = self.window_seconds if window is None else _finite(window, "window")
        hop_s = window_s / 2 if hop is None else _finite(hop, "hop")
        rate = self.sampling_rate
        frame_length, frame_shift, _ = frame_geometry(rate)
        shortest = frame_length / rate
        if window_s < shortest:
            raise ValueError(f"window must be at least {shortest:g} s (one 25 ms frame)")
        if count_frames(round(window_s * rate), rate) > self.config.max_length:
            raise ValueError(
                f"window {window_s:g} s is longer than the model's {self.window_seconds:g} s "
                f"({self.config.max_length} frames)"
            )
        if hop_s * rate < frame_shift:
            raise ValueError(f"hop must be at least {frame_shift / rate:g} s (one 10 ms frame)")
        return window_s, hop_s

    def _window_and_hop(self, window: float | None, hop: float | None) -> tuple[int, int]:
        window_s, hop_s = self.check_window(window, hop)
        return round(window_s * self.sampling_rate), round(hop_s * self.sampling_rate)

    # -- decoding (background thread or DataLoader workers) -------------------------------
    def _prefetch(self, generator: Iterator, depth: int) -> Iterator:
        """Run a generator in a thread so decoding overlaps the model's work."""
        if depth <= 0:
            yield from generator
            return
        buffer: queue.Queue = queue.Queue(maxsize=depth)
        done = object()
        stop = threading.Event()

        def produce() -> None:
            try:
                for record in generator:
                    if stop.is_set():
                        return
                    buffer.put(record)
            except BaseException as exc:  # surfaced in the consumer
                buffer.put(exc)
            finally:
                buffer.put(done)

        thread = threading.Thread(target=produce, daemon=True, name="astaudio-decode")
        thread.start()
        try:
            while (record := buffer.get()) is not done:
                if isinstance(record, BaseException):
                    raise record
                yield record
        finally:
            stop.set()
            while thread.is_alive():  # unblock a producer waiting on a full queue
                try:
                    buffer.get_nowait()
                except queue.Empty:
                    thread.join(timeout=0.05)

    # -- model ----------------------------------------------------------------------------
    @torch.inference_mode()
    def _forward(self, batch: list[_Window], tokens: bool = False) -> tuple:
        """Logits (B, num_labels), pooled embeddings (B, hidden) and optionally tokens."""
        lengths = torch.tensor([len(w.samples) for w in batch])
        waveforms = torch.zeros(len(batch), int(lengths.max()))
        for row, w in enumerate(batch):
            waveforms[row, : len(w.samples)] = torch.from_numpy(w.samples)
        features = self.feature_extractor.extract(
            waveforms.to(self.device), lengths.to(self.device)
        )
        count = features.shape[0]
        if self.compiled and count < self.compiled_batch:  # one shape: no recompiles
            features = torch.nn.functional.pad(
                features, (0, 0, 0, 0, 0, self.compiled_batch - count)
            )
        logits, pooled, hidden = self._network(features.to(self.dtype), tokens)
        hidden = hidden[:count] if tokens else None
        return logits[:count].float(), pooled[:count].float(), hidden

    def _network_outputs(self, features: torch.Tensor, tokens: bool) -> tuple:
        """(B, max_length, mel) -> logits (B, labels), pooled (B, hidden), tokens (B, T, hidden)
        or None: a tuple, what torch.compile traces best."""
        out = self.network.classify(features, return_tokens=tokens)
        return out.logits, out.pooled, out.last_hidden_state

    def scores_from_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Apply the activation: (B, num_labels) logits to scores."""
        return apply_activation(logits, self.activation)

    def _run(
        self,
        inputs: Sequence[AudioInput],
        window: float | None,
        hop: float | None,
        batch_size: int,
        on_window: Callable[[_Window, torch.Tensor, torch.Tensor, Any], None],
        on_input_done: Callable[[int, float, str | None, list[str]], None],
        tokens: bool = False,
        prefetch: int | None = None,
        num_workers: int = 0,
    ) -> None:
        window_samples, hop_samples = self._window_and_hop(window, hop)
        self.compiled_batch = batch_size  # a compiled network sees full batches only
        depth = 2 * batch_size if prefetch is None else prefetch
        stream = _WindowStream(inputs, window_samples, hop_samples, self.sampling_rate)
        if num_workers > 0:  # records of different inputs interleave; each input's stay in order
            records = torch.utils.data.DataLoader(
                stream,
                batch_size=None,
                num_workers=min(num_workers, max(len(inputs), 1)),
                prefetch_factor=max(2, -(-depth // num_workers)),
            )
        else:
            records = self._prefetch(iter(stream), depth)
        batch: list[_Window] = []
        finished: list[tuple[int, float]] = []  # inputs whose last window is in `batch`

        def flush() -> None:
            if batch:
                logits, pooled, hidden = self._forward(batch, tokens)
                for row, w in enumerate(batch):
                    on_window(w, logits[row], pooled[row], None if hidden is None else hidden[row])
                batch.clear()
            for index, duration, notes in finished:
                on_input_done(index, duration, None, notes)
            finished.clear()

        for record in records:
            if isinstance(record, _Failure):
                flush()
                on_input_done(record.input_index, 0.0, record.message, [])
                continue
            batch.append(record)
            if record.last:
                finished.append((record.input_index, record.duration, record.notes))
            if len(batch) >= batch_size:
                flush()
        flush()

    # -- public API -----------------------------------------------------------------------
    def classify(
        self,
        inputs: AudioInput | Sequence[AudioInput],
        *,
        top_k: int | None = 5,
        threshold: Thresholds | None = None,
        window: float | None = None,
        hop: float | None = None,
        pooling: Literal["max", "mean"] = "max",
        batch_size: int = 8,
        callback: Callable[[ClassificationResult], None] | None = None,
        on_progress: Callable[[int, float], None] | None = None,
        num_workers: int = 0,
        event_threshold: Thresholds | None = None,
        min_event_duration: float = 0.0,
        max_event_gap: float = 0.0,
        pipeline_output: bool | None = None,
        function_to_apply: Activation | None = None,
    ) -> ClassificationResult | list[ClassificationResult] | PipelineOutput | list[PipelineOutput]:
        """Classify one input or a list of them.

        Each input is a path, a folder (its audio files, recursively and sorted, each an input),
        bytes, a binary file object, a (waveform, sampling_rate) pair, a dict
        ``{"array" or "raw": waveform, "sampling_rate": rate}`` (transformers' pipeline and
        the datasets library's records), or a 1-D array already at the extractor's rate.
        Returns one ClassificationResult per input (a failed input has `error` set; the others
        are unaffected); a single input gives one result, unless it is a folder.
        `callback` gets each result as soon as it is complete (the command line writes output
        files from it); `on_progress(input_index, seconds)` hears of every classified window
        with the seconds of audio it moved the input forward (a progress bar for long
        recordings). `num_workers` > 0 decodes in that many worker processes instead of one
        thread; results still reach `callback` in input order.

        pipeline_output: return what transformers' audio-classification pipeline returns:
            ``[{"score": s, "label": name}, ...]`` (the top_k labels, best first) for a single
            input, a list of those for a list; top_k=None gives every label. A failed input
            raises ValueError, as the pipeline does. None: the classifier's setting.
        function_to_apply: the pipeline's name for the activation ("softmax", "sigmoid",
            "none") of this call; default: the classifier's ``activation``.

        Labels are the `top_k` highest scores (None: no cap) that reach `threshold`: one value,
        a {label: value} mapping (labels it leaves out are not kept) or an array in label order.
        `events` merge the windows where a label reaches `event_threshold` (default: `threshold`,
        else 0.5) across the recording, dropping those shorter than `min_event_duration` and
        joining those at most `max_event_gap` seconds apart (see `astaudio.events`).
        """
        items, single = expand_inputs(inputs)
        if pooling not in ("max", "mean"):
            raise ValueError(f"pooling must be max or mean, got {pooling!r}")
        if top_k is not None and (
            isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1
        ):
            raise ValueError(f"top_k must be a positive integer or None, got {top_k!r}")
        label_thresholds = threshold_vector(threshold, self.labels)
        event_thresholds = threshold_vector(
            threshold if event_threshold is None else event_threshold,
            self.labels,
            default=DEFAULT_EVENT_THRESHOLD,
        )
        if pipeline_output is None:
            pipeline_output = self.pipeline_output
        activation = self.activation if function_to_apply is None else function_to_apply
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"function_to_apply must be sigmoid, softmax or none, got {function_to_apply!r}"
            )
        results = [ClassificationResult(source_name(x, i), i) for i, x in enumerate(items)]
        windows: dict[int, list[tuple[float, torch.Tensor]]] = {}
        window_s, hop_s = self._window_and_hop(window, hop)
        rate = self.sampling_rate
        deliver = _InOrder(callback)

        def on_window(w: _Window, logits, pooled, hidden) -> None:
            start = w.start / rate
            scores = apply_activation(logits, activation)
            windows.setdefault(w.input_index, []).append((start, scores))
            if on_progress is not None:
                on_progress(w.input_index, (w.duration - start) if w.last else hop_s / rate)

        def on_input_done(index: int, duration: float, error: str | None, notes) -> None:
            result = results[index]
            rows = windows.pop(index, [])
            if error is not None:
                result.error = error
            else:
                result.warnings = list(notes)
                result.duration = duration
                scores = torch.stack([r[1] for r in rows]).float().cpu().numpy()  # (W, C)
                if not np.isfinite(scores).all():
                    result.error = "the model gave NaN or infinite scores"
                    deliver(result)
                    return
                result.window_scores = scores
                result.scores = scores.max(0) if pooling == "max" else scores.mean(0)
                result.labels = self.top_labels(result.scores, top_k, label_thresholds)
                starts = [start for start, _ in rows]
                ends = [min(start + window_s / rate, duration) for start in starts]
                result.segments = [
                    Segment(start, end, self.top_labels(s, top_k, label_thresholds))
                    for start, end, s in zip(starts, ends, scores)
                ]
                result.events = merge_events(
                    scores,
                    starts,
                    ends,
                    self.labels,
                    event_thresholds,
                    min_duration=min_event_duration,
                    max_gap=max_event_gap,
                )
            deliver(result)

        self._run(items, window, hop, batch_size, on_window, on_input_done, num_workers=num_workers)
        if pipeline_output:
            shaped = [self._pipeline_labels(result) for result in results]
            return shaped[0] if single else shaped
        return results[0] if single else results

    __call__ = classify

    @staticmethod
    def _pipeline_labels(result: ClassificationResult) -> PipelineOutput:
        """One result as the pipeline's ``[{"score", "label"}]`` (its key order)."""
        if result.error is not None:
            raise ValueError(f"{result.source}: {result.error}")
        return [{"score": score, "label": name} for name, score in result.labels]

    def embed(
        self,
        inputs: AudioInput | Sequence[AudioInput],
        *,
        window: float | None = None,
        hop: float | None = None,
        batch_size: int = 8,
        tokens: bool = False,
        callback: Callable[[EmbeddingResult], None] | None = None,
        num_workers: int = 0,
    ) -> EmbeddingResult | list[EmbeddingResult]:
        """Pooled embeddings (the mean of [CLS] and distillation tokens) per input and window.

        Inputs, windows, `callback` and `num_workers` as for `classify`."""
        items, single = expand_inputs(inputs)
        results = [EmbeddingResult(source_name(x, i), i) for i, x in enumerate(items)]
        rows: dict[int, list[tuple[float, torch.Tensor, Any]]] = {}
        window_s, _ = self._window_and_hop(window, hop)
        rate = self.sampling_rate
        deliver = _InOrder(callback)

        def on_window(w: _Window, logits, pooled, hidden) -> None:
            rows.setdefault(w.input_index, []).append((w.start / rate, pooled, hidden))

        def on_input_done(index: int, duration: float, error: str | None, notes) -> None:
            result = results[index]
            got = rows.pop(index, [])
            if error is not None:
                result.error = error
            else:
                result.duration = duration
                result.window_embeddings = torch.stack([g[1] for g in got]).cpu().numpy()
                result.embedding = result.window_embeddings.mean(0)
                result.starts = [g[0] for g in got]
                result.ends = [min(g[0] + window_s / rate, duration) for g in got]
                if tokens:
                    result.tokens = torch.stack([g[2] for g in got]).float().cpu().numpy()
            deliver(result)

        self._run(
            items,
            window,
            hop,
            batch_size,
            on_window,
            on_input_done,
            tokens=tokens,
            num_workers=num_workers,
        )
        return results[0] if single else results

    def top_labels(
        self, scores: np.ndarray, top_k: int | None = 5, threshold: Thresholds | None = None
    ) -> list[tuple[str, float]]:
        """(label, score) pairs sorted by score: those >= threshold (one value, per label as
        a mapping or an array), at most top_k of them (None: all)."""
        order = np.argsort(-scores, kind="stable")
        limits = threshold_vector(threshold, self.labels)
        if limits is not None:
            order = order[scores[order] >= limits[order]]
        if top_k is not None:
            order = order[:top_k]
        return [(self.labels[i], float(scores[i])) for i in order]


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


class _InOrder:
    """Hands results to `callback` in input order, holding back any that finish early."""

    def __init__(self, callback: Callable | None):
        self.callback, self.next, self.waiting = callback, 0, {}

    def __call__(self, result) -> None:
        if self.callback is None:
            return
        self.waiting[result.index] = result
        while self.next in self.waiting:
            self.callback(self.waiting.pop(self.next))
            self.next += 1


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


def _finite(value: float, name: str) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value:g}")
    return value


def resolve_device(device: str | torch.device | None) -> torch.device:
    """A torch device from "auto" (a CUDA GPU when there is one), "cpu", "cuda", "cuda:N" or
    "mps"; ValueError (one line) for a device this machine does not have."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except RuntimeError:
        raise ValueError(
            f"device must be auto, cpu, cuda, cuda:N or mps, got {str(device)!r}"
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device '{device}' was asked for but no CUDA GPU is available")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ValueError(f"device '{device}' does not exist: this machine has {count} GPU(s)")
    elif device.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ValueError("device 'mps' was asked for but Apple's Metal (MPS) is not available")
    elif device.type != "cpu":
        raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps, got '{device}'")
    return device


def resolve_dtype(dtype: torch.dtype | str | None) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    names = {
        "float32": torch.float32,
        "fp32": torch.float32,
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
        "float16": torch.float16,
        "fp16": torch.float16,
    }
    try:
        return names[str(dtype)]
    except KeyError:
        raise ValueError(f"dtype must be one of {sorted(names)}, got {dtype!r}") from None


def check_extractor_fits(config, extractor: ASTFeatureExtractor) -> None:
    """CheckpointError when the extractor's features can't be the model's input (a
    preprocessor_config.json from another model), before any audio is decoded."""
    for name in ("num_mel_bins", "max_length"):
        ours, theirs = getattr(extractor, name), getattr(config, name)
        if ours != theirs:
            raise CheckpointError(
                f"preprocessor_config.json gives {name}={ours} but the model's config.json "
                f"{theirs}: the two files belong to different models"
            )


def load_feature_extractor(
    model: str | os.PathLike, config, **hub_kwargs: Any
) -> ASTFeatureExtractor:
    """The model's preprocessor_config.json, or (when it has none) the default extractor sized
    to the model's max_length and num_mel_bins."""
    path = resolve_file(model, PREPROCESSOR_NAME, required=False, **hub_kwargs)
    if path is None:
        return ASTFeatureExtractor(num_mel_bins=config.num_mel_bins, max_length=config.max_length)
    return ASTFeatureExtractor.from_pretrained(path.parent)
