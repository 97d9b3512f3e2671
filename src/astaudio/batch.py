"""Batch tagging: inputs named as on a command line to one result stream or a file per input.

`plan_classify` expands the inputs, decides where every result goes and refuses (ValueError,
one line) what would lose data, before anything is decoded; `run_classify` classifies and
writes. Every input gets exactly one record, in input order: files that fail, inputs that do
not exist and files a folder search could not read get an error record. Result files are
written atomically; an interrupted run leaves complete files (JSON arrays closed), and
``skip_existing`` then skips only inputs whose result file holds a success.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, TextIO

from .audio import InputEntry, expand_inputs
from .names import plan_output_paths
from .output import (
    EXTENSIONS,
    FORMATS,
    TIMELINE_FORMATS,
    AtomicOutput,
    ResultWriter,
    result_file_succeeded,
    write_result_file,
)

STDIN = "-"


@dataclass
class ClassifyPlan:
    """What `run_classify` will do: entries in input order, each one's result file (with
    `output_dir`), and which of them are skipped (results already there)."""

    entries: list[InputEntry]
    fmt: str
    output: Path | None = None
    output_dir: Path | None = None
    paths: list[Path | None] = field(default_factory=list)
    skip: list[bool] = field(default_factory=list)
    stdin: bytes | None = None

    @property
    def to_classify(self) -> list[int]:
        """Indices of the entries that will be decoded and classified."""
        return [i for i, e in enumerate(self.entries) if e.ok and not self.skip[i]]

    @property
    def skipped(self) -> int:
        return sum(self.skip)

    def item(self, index: int) -> Any:
        entry = self.entries[index]
        return self.stdin if entry.argument == STDIN and entry.path is None else entry.path


@dataclass
class BatchSummary:
    """Counts of a run: inputs classified, inputs that failed (with a record), inputs skipped."""

    ok: int = 0
    failed: int = 0
    skipped: int = 0


def plan_classify(
    inputs: Sequence[str],
    fmt: str,
    *,
    output: str | os.PathLike | None = None,
    output_dir: str | os.PathLike | None = None,
    skip_existing: bool = False,
    read_stdin: Callable[[], bytes] | None = None,
) -> ClassifyPlan:
    """Expand `inputs` (files, folders, globs, "-" for `read_stdin()`) and check the outputs.

    Raises ValueError for: a format that doesn't exist; both `output` and `output_dir`;
    `skip_existing` without `output_dir`; an `output` in a folder that doesn't exist or that
    is one of the inputs; a timeline format (one input's events) for several inputs in one
    stream.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if output is not None and output_dir is not None:
        raise ValueError("give either --output-dir (a file per input) or --output (one file)")
    if skip_existing and output_dir is None:
        raise ValueError("--skip-existing needs --output-dir")
    output = Path(output) if output is not None else None
    output_dir = Path(output_dir) if output_dir is not None else None
    if output is not None:
        if output.is_dir():
            raise ValueError(
                f"--output {output} is a folder; use --output-dir for a file per input"
            )
        parent = output.parent
        if not parent.is_dir():
            raise ValueError(f"--output {output}: folder {parent} does not exist")
    if output_dir is not None and output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"--output-dir {output_dir} exists and is not a folder")
    for target in (output.parent if output is not None else None, output_dir):
        if target is not None and not os.access(_nearest_existing(target), os.W_OK | os.X_OK):
            raise ValueError(f"cannot write into {target}: permission denied")

    entries: list[InputEntry] = []
    stdin = None
    paths = [p for p in inputs if p != STDIN]
    if STDIN in inputs:
        if read_stdin is None:
            raise ValueError("'-' (standard input) is not available here")
        stdin = read_stdin()
        entries.append(InputEntry(STDIN, None, PurePath("stdin")))
    entries += expand_inputs(paths)

    real_inputs = {_real(e.path) for e in entries if e.path is not None}
    if output is not None and _real(output) in real_inputs:
        raise ValueError(f"--output {output} is one of the inputs; it would be overwritten")
    if fmt in TIMELINE_FORMATS and output_dir is None and len(entries) > 1:
        raise ValueError(
            f"-f {fmt} holds the events of one input; give --output-dir for one file per input"
        )

    plan = ClassifyPlan(entries, fmt, output, output_dir, stdin=stdin)
    plan.skip = [False] * len(entries)
    if output_dir is None:
        plan.paths = [None] * len(entries)
        return plan
    planned = plan_output_paths(
        output_dir,
        [(e.relative or PurePath(e.argument).name, _identity(e)) for e in entries],
        EXTENSIONS[fmt],
    )
    # standard input's result is "stdin.EXT"; arguments that found no file have none
    plan.paths = [p if e.path is not None or e.ok else None for p, e in zip(planned, entries)]
    clash = next((p for p in plan.paths if p is not None and _real(p) in real_inputs), None)
    if clash is not None:
        raise ValueError(
            f"result file {clash} would overwrite an input; choose another --output-dir"
        )
    if skip_existing:
        plan.skip = [
            e.ok and p is not None and result_file_succeeded(p, fmt)
            for e, p in zip(entries, plan.paths)
        ]
    return plan


def _nearest_existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _real(path: str | os.PathLike) -> str:
    return os.path.normcase(os.path.realpath(path))


def _identity(entry: InputEntry) -> str:
    return os.path.abspath(entry.path) if entry.path is not None else entry.argument


def run_classify(
    plan: ClassifyPlan,
    classifier,
    *,
    stream: TextIO | None = None,
    report: Callable[[InputEntry, str], None] | None = None,
    warn: Callable[[InputEntry, str], None] | None = None,
    on_result: Callable[[Any], None] | None = None,
    **classify_kwargs: Any,
) -> BatchSummary:
    """Classify the plan's inputs with `classifier` (an AudioClassifier) and write the records.

    One stream (`stream`, or the plan's `output` file, written atomically and completed even
    when interrupted) or one file per input (the plan's `output_dir`). `report(entry, reason)`
    hears of every input that failed, `warn(entry, message)` of what decoding survived (a
    cut-off file), `on_result(result)` of every result written.
    `classify_kwargs` go to `AudioClassifier.classify` (top_k, threshold, window, ...).
    """
    from .inference import ClassificationResult

    summary = BatchSummary(skipped=plan.skipped)
    order = plan.to_classify
    target: AtomicOutput | None = None
    writer: ResultWriter | None = None
    if plan.output_dir is None:
        if stream is None:
            if plan.output is None:
                raise ValueError("give a stream, or plan with output or output_dir")
            target = AtomicOutput(plan.output)
            stream = target.stream
        writer = ResultWriter(stream, plan.fmt)
    written = 0  # entries before this one have their record

    def record(index: int, result) -> None:
        entry = plan.entries[index]
        if result.error is not None:
            summary.failed += 1
            if report is not None:
                report(entry, result.error)
        else:
            summary.ok += 1
            for message in result.warnings if warn is not None else ():
                warn(entry, message)
        if writer is not None:
            writer.write(result)
        elif plan.paths[index] is not None:
            write_result_file(plan.paths[index], result, plan.fmt)
        if on_result is not None:
            on_result(result)

    def catch_up(until: int) -> None:
        """Records of the entries before `until` that are not classified (errors, skipped)."""
        nonlocal written
        while written < until:
            entry = plan.entries[written]
            if not entry.ok:
                record(written, ClassificationResult(entry.name, written, error=entry.error))
            written += 1

    def delivered(result) -> None:
        nonlocal written
        index = order[result.index]
        catch_up(index)
        result.index = index
        if plan.entries[index].argument == STDIN and plan.entries[index].path is None:
            result.source = STDIN
        record(index, result)
        written = index + 1

    try:
        if order:
            classifier.classify(
                [plan.item(i) for i in order], callback=delivered, **classify_kwargs
            )
        catch_up(len(plan.entries))
    except BaseException as exc:
        failed_write = isinstance(exc, OSError)  # a full disk, a closed pipe: write no more
        if writer is not None and not failed_write:
            writer.close()  # an interrupted run (Ctrl-C, SIGTERM) still leaves a complete file
        if target is not None:
            if failed_write:
                target.discard()  # keep any earlier file rather than a torn one
            else:
                target.commit()
        raise
    if writer is not None:
        writer.close()
    if target is not None:
        target.commit()
    return summary
