"""Writing classification results: table, json, jsonl, csv, tsv and timelines (audacity, vtt, srt).

JSON/JSONL records: {"file", "duration", "labels": [{"label", "score"}], "events": [{"label",
"start", "end", "score"}], "segments": [...]}, or {"file", "error"} for an input that failed.
CSV/TSV: one row per (file, segment, label); the clip level summary is the row set with segment
"all", events the rows with segment "event". Timelines hold one input's events: an Audacity
label track (start, end, label; tab separated), WebVTT or SubRip subtitles.

Result files are written atomically (a temporary file beside the target, renamed over it once
complete), so an interrupted or failed write never leaves a partial file where a result should be.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePath
from typing import IO, TYPE_CHECKING, TextIO

from .names import printable_name

if TYPE_CHECKING:  # the command line's parser imports this module without torch
    from .inference import ClassificationResult

FORMATS = ("table", "json", "jsonl", "csv", "tsv", "audacity", "vtt", "srt")
TIMELINE_FORMATS = ("audacity", "vtt", "srt")  # one input per file; events only
EXTENSIONS = {
    "table": "txt",
    "json": "json",
    "jsonl": "jsonl",
    "csv": "csv",
    "tsv": "tsv",
    "audacity": "labels.txt",
    "vtt": "vtt",
    "srt": "srt",
}
FORMAT_OF_SUFFIX = {
    ".txt": "table",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".vtt": "vtt",
    ".srt": "srt",
}
CSV_COLUMNS = ["file", "segment", "start", "end", "label", "score", "error"]


def resolve_format(fmt: str | None, output: str | os.PathLike | None) -> str:
    """The format asked for, else the one the output file's name implies, else "table"."""
    if fmt is not None:
        return fmt
    return (format_for_path(output) if output is not None else None) or "table"


def format_for_path(path: str | os.PathLike) -> str | None:
    """The format a file name asks for (``out.csv`` -> "csv"), or None for an unknown suffix.
    ``*.labels.txt`` is an Audacity label track, other ``.txt`` a table."""
    name = os.fspath(path).lower()
    if name.endswith(".labels.txt"):
        return "audacity"
    return FORMAT_OF_SUFFIX.get(PurePath(name).suffix)


class ResultWriter:
    """Streams results to a text file in one format, record by record.

    JSON is an array, so it is opened on the first record and closed by `close()`; the other
    formats are complete after each record. Timeline formats take one input; a failed input
    writes nothing to them (they have no place for an error).
    """

    def __init__(self, stream: TextIO, fmt: str, show_segments: bool = True):
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
        self.stream, self.fmt, self.show_segments = stream, fmt, show_segments
        self.count = 0
        self._csv = None
        self._closed = False
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
        elif self.fmt in TIMELINE_FORMATS:
            if self.count:
                raise ValueError(f"a {self.fmt} timeline holds one input's events")
            self.stream.write(format_timeline(result, self.fmt))
        else:
            self.stream.write(format_table(result, self.show_segments))
        self.count += 1
        self.stream.flush()

    def close(self) -> None:
        """Finish the file (close the JSON array); the stream itself stays open. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.fmt == "json":
            self.stream.write("[]\n" if self.count == 0 else "\n]\n")
        elif self.fmt == "vtt" and self.count == 0:
            self.stream.write("WEBVTT\n")
        self.stream.flush()


def csv_rows(result: ClassificationResult) -> Iterable[list]:
    name = printable_name(result.source)
    if result.error is not None:
        return [[name, "", "", "", "", "", result.error]]
    rows = [
        [name, "all", 0.0, round(result.duration, 3), label, round(score, 6), ""]
        for label, score in result.labels
    ]
    rows += [
        [name, "event", round(e.start, 3), round(e.end, 3), e.label, round(e.score, 6), ""]
        for e in result.events
    ]
    for number, segment in enumerate(result.segments):
        rows += [
            [
                name,
                number,
                round(segment.start, 3),
                round(segment.end, 3),
                label,
                round(score, 6),
                "",
            ]
            for label, score in segment.labels
        ]
    return rows


def _clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:05.2f}"
    return f"{minutes}:{secs:05.2f}"


def format_table(result: ClassificationResult, show_segments: bool = True) -> str:
    """Readable lines: the file, then time span, score and label per row; then the events."""
    out = io.StringIO()
    name = printable_name(result.source)
    if result.error is not None:
        out.write(f"{name}: error: {result.error}\n")
        return out.getvalue()
    out.write(f"{name}  ({_clock(result.duration)})\n")
    span = f"{_clock(0.0)}-{_clock(result.duration)}"
    for label, score in result.labels:
        out.write(f"  {span:>19}  {score:6.3f}  {label}\n")
    if len(result.segments) > 1 and result.events:
        out.write("  events:\n")
        for event in result.events:
            span = f"{_clock(event.start)}-{_clock(event.end)}"
            out.write(f"    {span:>19}  {event.score:6.3f}  {event.label}\n")
    if show_segments and len(result.segments) > 1:
        out.write("  windows:\n")
        for segment in result.segments:
            span = f"{_clock(segment.start)}-{_clock(segment.end)}"
            top = "; ".join(f"{label} {score:.2f}" for label, score in segment.labels[:3])
            out.write(f"    {span:>19}  {top}\n")
    return out.getvalue()


def _cue_time(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def format_timeline(result: ClassificationResult, fmt: str) -> str:
    """One input's events as an Audacity label track, WebVTT or SubRip text ("" if it failed)."""
    if result.error is not None:
        return ""
    events = result.events
    if fmt == "audacity":
        return "".join(f"{e.start:.6f}\t{e.end:.6f}\t{e.label}\n" for e in events)
    if fmt == "vtt":
        cues = [
            f"{_cue_time(e.start, '.')} --> {_cue_time(e.end, '.')}\n{e.label} ({e.score:.2f})\n"
            for e in events
        ]
        return "WEBVTT\n\n" + "\n".join(cues)
    if fmt == "srt":
        return "\n".join(
            f"{n}\n{_cue_time(e.start, ',')} --> {_cue_time(e.end, ',')}\n"
            f"{e.label} ({e.score:.2f})\n"
            for n, e in enumerate(events, start=1)
        )
    raise ValueError(f"not a timeline format: {fmt!r}")


# -- files ---------------------------------------------------------------------------------
class AtomicOutput:
    """A file written under a temporary name in the target's folder and renamed over the
    target by `commit()`; `discard()` removes it and leaves any earlier file untouched.

    Text (UTF-8) by default, bytes with ``binary=True``. A target that exists and is not a
    regular file (``/dev/stdout``, a FIFO) is written directly.
    """

    def __init__(self, path: str | os.PathLike, binary: bool = False):
        self.path = Path(path)
        self.temp: str | None = None
        text = {} if binary else {"encoding": "utf-8", "newline": ""}
        mode = "wb" if binary else "w"
        if self.path.exists() and not self.path.is_file():
            self.stream: IO = open(self.path, mode, **text)  # noqa: SIM115
            return
        handle, self.temp = tempfile.mkstemp(
            dir=self.path.parent, prefix=".astaudio-", suffix=".tmp"
        )
        self.stream = os.fdopen(handle, mode, **text)

    def commit(self) -> None:
        """Flush to disk and put the file in place (an error leaves the target untouched)."""
        try:
            self.stream.flush()
            if self.temp is not None:
                os.fsync(self.stream.fileno())
            self.stream.close()
            if self.temp is not None:
                os.chmod(self.temp, 0o666 & ~_umask())
                os.replace(self.temp, self.path)
                self.temp = None
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        try:
            self.stream.close()
        except OSError:  # a full disk fails the final flush too
            pass
        if self.temp is not None:
            try:
                os.unlink(self.temp)
            except OSError:
                pass
            self.temp = None

    def __enter__(self) -> IO:
        return self.stream

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_result_file(path: str | os.PathLike, result: ClassificationResult, fmt: str) -> bool:
    """Write one input's result file atomically; False (nothing written) for a failed input in
    a timeline format, which has no place for an error."""
    if result.error is not None and fmt in TIMELINE_FORMATS:
        return False
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with AtomicOutput(path) as stream:
        writer = ResultWriter(stream, fmt)
        writer.write(result)
        writer.close()
    return True


def result_file_succeeded(path: str | os.PathLike, fmt: str) -> bool:
    """Whether `path` holds a complete, successful result in `fmt` (what --skip-existing skips):
    False for a missing, empty or unparsable file and for a recorded failure."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if not text:
        return fmt == "audacity"  # an Audacity track with no events is an empty file
    try:
        if fmt == "json":
            records = json.loads(text)
            return isinstance(records, list) and bool(records) and _all_ok(records)
        if fmt == "jsonl":
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
            return bool(records) and _all_ok(records)
    except json.JSONDecodeError:
        return False
    if fmt in ("csv", "tsv"):
        rows = list(csv.DictReader(io.StringIO(text), delimiter="," if fmt == "csv" else "\t"))
        return text.startswith(CSV_COLUMNS[0]) and not any(row.get("error") for row in rows)
    if fmt == "table":  # a result's first line ends with its duration, "name  (0:01.43)"
        return re.search(r"  \((\d+:)?\d+:\d\d\.\d\d\)$", text.splitlines()[0]) is not None
    return text.endswith("\n")  # timelines


def _all_ok(records: list) -> bool:
    return all(isinstance(r, dict) and "error" not in r and "labels" in r for r in records)
