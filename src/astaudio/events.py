"""Events: per-label time ranges merged across the windows of a recording.

A label is active in a window whose score reaches the label's threshold. Active windows of
one label that overlap, touch or lie at most ``max_gap`` seconds apart become one event; events
shorter than ``min_duration`` are dropped. An event's score is the highest window score in it.
This is the timeline of a long recording: "Dog 0:12.0-0:31.5", not 60 overlapping windows.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_EVENT_THRESHOLD = 0.5

Thresholds = float | Mapping[str, float] | np.ndarray


@dataclass(frozen=True)
class Event:
    """One label present from `start` to `end` seconds, with its highest window score."""

    label: str
    start: float
    end: float
    score: float

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "score": round(self.score, 6),
        }


def threshold_vector(
    thresholds: Thresholds | None, labels: Sequence[str], default: float | None = None
) -> np.ndarray | None:
    """Per-label thresholds as an array in label order.

    `thresholds` is one value for every label, or a mapping label -> value where labels it
    leaves out get `default` (None: they are never kept). Names that are not labels raise
    ValueError, so a misspelt class in a tuned CSV does not go unnoticed.
    """
    if thresholds is None:
        return None if default is None else np.full(len(labels), float(default))
    if isinstance(thresholds, np.ndarray):
        if thresholds.shape != (len(labels),):
            raise ValueError(f"need {len(labels)} thresholds, got shape {thresholds.shape}")
        return thresholds.astype(np.float64)
    if isinstance(thresholds, Mapping):
        index = {name: i for i, name in enumerate(labels)}
        unknown = [name for name in thresholds if name not in index]
        if unknown:
            raise ValueError(f"thresholds for {len(unknown)} unknown label(s), e.g. {unknown[0]!r}")
        vector = np.full(len(labels), math.inf if default is None else float(default))
        for name, value in thresholds.items():
            vector[index[name]] = _check_threshold(value, name)
        return vector
    return np.full(len(labels), _check_threshold(thresholds, "threshold"))


def _check_threshold(value: float, what: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: threshold must be a number, got {value!r}") from None
    if math.isnan(value):
        raise ValueError(f"{what}: threshold must be a number, got NaN")
    return value


def read_thresholds(path: str | os.PathLike) -> dict[str, float]:
    """Per-class thresholds from a CSV with rows ``label,threshold`` (a header row is allowed).

    Raises ValueError with the file and line of the first row that is not a label and a number.
    """
    out: dict[str, float] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                continue
            if len(row) != 2:
                raise ValueError(f"{path}:{number}: expected 'label,threshold', got {row!r}")
            name, text = row[0].strip(), row[1].strip()
            try:
                value = float(text)
            except ValueError:
                if number == 1 and not out:  # a header such as "label,threshold"
                    continue
                raise ValueError(f"{path}:{number}: {text!r} is not a number") from None
            if not math.isfinite(value):
                raise ValueError(f"{path}:{number}: threshold must be finite, got {text}")
            if name in out:
                raise ValueError(f"{path}:{number}: {name!r} is listed twice")
            out[name] = value
    if not out:
        raise ValueError(f"{path}: no 'label,threshold' rows")
    return out


def merge_events(
    window_scores: np.ndarray,
    starts: Sequence[float],
    ends: Sequence[float],
    labels: Sequence[str],
    thresholds: np.ndarray,
    *,
    min_duration: float = 0.0,
    max_gap: float = 0.0,
) -> list[Event]:
    """Events from a (windows, labels) score matrix and each window's [start, end) seconds.

    Returns events sorted by start, then by score (highest first).
    """
    scores = np.asarray(window_scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] != len(starts) or len(starts) != len(ends):
        raise ValueError("window_scores must be (windows, labels) with one start and end each")
    if min_duration < 0 or max_gap < 0:
        raise ValueError("min_duration and max_gap must be 0 or more")
    active = scores >= np.asarray(thresholds)[None, :]
    events: list[Event] = []
    for label in np.flatnonzero(active.any(axis=0)):
        current: list[float] | None = None  # [start, end, score]
        for row in np.flatnonzero(active[:, label]):
            start, end, score = float(starts[row]), float(ends[row]), float(scores[row, label])
            if current is not None and start <= current[1] + max_gap + 1e-9:
                current[1] = max(current[1], end)
                current[2] = max(current[2], score)
                continue
            if current is not None:
                events.append(Event(labels[label], *current))
            current = [start, end, score]
        if current is not None:
            events.append(Event(labels[label], *current))
    events = [e for e in events if e.end - e.start >= min_duration - 1e-9]
    return sorted(events, key=lambda e: (e.start, -e.score, e.label))
