"""Writing classification results: table, json, jsonl, csv and tsv.

JSON/JSONL records: {"file", "duration", "labels": [{"label", "score"}], "segments": [...]}, or
{"file", "error"} for an input that failed. CSV/TSV: one row per (file, segment, label); the clip
level summary is the row set with segment "all".
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from .inference import ClassificationResult

FORMATS = ("table", "json", "jsonl", "csv", "tsv")
EXTENSIONS = {"table": "txt", "json": "json", "jsonl": "jsonl", "csv": "csv", "tsv": "tsv"}
CSV_COLUMNS = ["file", "segment", "start", "end", "label", "score", "error"]


class ResultWriter:
    """Streams results to a text file in one format, record by record.

    JSON is an array, so it is opened on the first record and closed by `close()`; the other
    formats are complete after each record.
    """

    def __init__(self, stream: TextIO, fmt: str, show_segments: bool = True):
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
        self.stream, self.fmt, self.show_segments = stream, fmt, show_segments
        self.count = 0
        self._csv = None
        if fmt in ("csv", "tsv"):
            self._csv = csv.writer(
                stream, delimiter="," if fmt == "csv" else "\t", lineterminator="\n"
            )
            self._csv.writerow(CSV_COLUMNS)

    def write(self, result: ClassificationResult) -> None:
        if self.fmt == "json":
            self.stream.write("[\n" if self.count == 0 else ",\n")
            self.stream.write(json.dumps(result.to_dict(), ensure_ascii=False))
        elif self.fmt == "jsonl":
            self.stream.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        elif self._csv is not None:
            self._csv.writerows(csv_rows(result))
        else:
            self.stream.write(format_table(result, self.show_segments))
        self.count += 1
        self.stream.flush()

    def close(self) -> None:
        if self.fmt == "json":
            self.stream.write("[]\n" if self.count == 0 else "\n]\n")
        self.stream.flush()


def csv_rows(result: ClassificationResult) -> Iterable[list]:
    if result.error is not None:
        return [[result.source, "", "", "", "", "", result.error]]
    rows = [
        [result.source, "all", 0.0, round(result.duration, 3), name, round(score, 6), ""]
        for name, score in result.labels
    ]
    for number, segment in enumerate(result.segments):
        rows += [
            [
                result.source,
                number,
                round(segment.start, 3),
                round(segment.end, 3),
                name,
                round(score, 6),
                "",
            ]
            for name, score in segment.labels
        ]
    return rows


def _clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:05.2f}"
    return f"{minutes}:{secs:05.2f}"


def format_table(result: ClassificationResult, show_segments: bool = True) -> str:
    """Readable lines: the file, then time span, score and label per row."""
    out = io.StringIO()
    if result.error is not None:
        out.write(f"{result.source}: error: {result.error}\n")
        return out.getvalue()
    out.write(f"{result.source}  ({_clock(result.duration)})\n")
    span = f"{_clock(0.0)}-{_clock(result.duration)}"
    for name, score in result.labels:
        out.write(f"  {span:>19}  {score:6.3f}  {name}\n")
    if show_segments and len(result.segments) > 1:
        for segment in result.segments:
            span = f"{_clock(segment.start)}-{_clock(segment.end)}"
            top = "; ".join(f"{name} {score:.2f}" for name, score in segment.labels[:3])
            out.write(f"    {span:>19}  {top}\n")
    return out.getvalue()
