"""Audio in, labels out: AudioClassifier batches clips and windows of long recordings through AST.

Long recordings are cut into windows of the model's length (max_length frames: 10.24 s for
AudioSet models) with a hop (default half a window); every window is classified and the
clip-level scores are the max (or mean) over windows. Decoding runs in a background thread,
one window at a time, so an hour-long file needs memory for a few windows, not the whole file;
with ``num_workers`` it runs in that many DataLoader worker processes instead (several files
decoded and resampled at once, e.g. to keep a GPU busy). Features are computed on the model's
device, in the same batch as the model.

Result types are in :mod:`astaudio.results`, inputs and their windows in
:mod:`astaudio.windows`, the network protocol, device, dtype and feature-extractor loading in
:mod:`astaudio.runtime`; their public names are re-exported here.
"""

from __future__ import annotations

import math
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import numpy as np
import torch

from .constants import DEFAULT_MODEL
from .events import DEFAULT_EVENT_THRESHOLD, Thresholds, merge_events, threshold_vector
from .features import FRAME_SHIFT, ASTFeatureExtractor, count_frames, frame_geometry
from .model import ASTForAudioClassification
from .results import (  # noqa: F401 (re-exported)
    ClassificationResult,
    EmbeddingResult,
    PipelineOutput,
    Segment,
    _InOrder,
)
from .runtime import (  # noqa: F401 (re-exported)
    CallableNetwork,
    Network,
    check_extractor_fits,
    load_feature_extractor,
    resolve_device,
    resolve_dtype,
)
from .scores import ACTIVATIONS, Activation, apply_activation, default_activation
from .windows import (  # noqa: F401 (re-exported)
    WAVEFORM_KEYS,
    AudioInput,
    _Failure,
    _Window,
    _WindowStream,
    expand_inputs,
    input_windows,
    source_name,
    window_coverage,
    window_starts,
)


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
        (the ONNX Runtime session of :class:`astaudio.export.OnnxBackend`); a network with
        ``takes_waveforms = True`` is called as network(waveforms (B, N) zero-padded, lengths
        (B,)) -> (logits, pooled) instead and makes the features itself.
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
        if getattr(self.network, "takes_waveforms", False):  # the graph makes its own features
            if tokens:
                raise ValueError("tokens=True needs the torch model")
            waveforms, lengths = self.feature_extractor.place_short_clips(waveforms, lengths)
            logits, pooled = self.network(waveforms, lengths)
            return logits.float(), pooled.float(), None
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


def _finite(value: float, name: str) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value:g}")
    return value
