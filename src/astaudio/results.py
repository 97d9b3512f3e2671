"""What AudioClassifier returns: :class:`ClassificationResult` (labels, segments, events, the
command line's JSON record), :class:`EmbeddingResult` and :class:`Segment`, the pipeline-shaped
output type, and the helper that hands results to a callback in input order. Re-exported by
:mod:`astaudio.inference`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .events import Event
from .names import printable_name

PipelineOutput = list[dict[str, Any]]  # transformers audio-classification: [{"score", "label"}]


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
