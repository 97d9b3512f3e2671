"""Class lists: ``class_labels_indices.csv`` files, and the three sets the released AST models use.

The packaged sets are the AST repository's own label files (BSD-3-Clause):

- ``audioset``: AudioSet's 527 classes (the AudioSet models, e.g. ast-finetuned-audioset-*);
- ``esc50``: ESC-50's 50 classes;
- ``speechcommands``: Speech Commands V2's 35 words.

Wherever astaudio takes a labels CSV it also takes one of these names. No torch here: the
command line uses this module while it parses arguments.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

LABEL_SETS: dict[str, str] = {
    "audioset": "audioset_class_labels_indices.csv",
    "esc50": "esc50_class_labels_indices.csv",
    "speechcommands": "speechcommands_class_labels_indices.csv",
}
_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class LabelInfo:
    """One row of a ``class_labels_indices.csv``: class index, machine id and display name."""

    index: int
    mid: str
    display_name: str


def label_set_path(name: str) -> Path:
    """The packaged CSV of a label set ('audioset', 'esc50' or 'speechcommands')."""
    try:
        return _HERE / LABEL_SETS[name]
    except KeyError:
        raise ValueError(
            f"no label set named {name!r}; packaged sets: {', '.join(LABEL_SETS)}"
        ) from None


def labels_source(name_or_path: str | os.PathLike) -> Path:
    """A packaged set's name or a CSV path -> the CSV file to read.

    A name wins only when no file of that name exists, so a local ``audioset`` file is read as is.
    """
    text = os.fspath(name_or_path)
    if text in LABEL_SETS and not Path(text).exists():
        return label_set_path(text)
    return Path(text)


def read_label_csv(name_or_path: str | os.PathLike) -> list[LabelInfo]:
    """Read a ``class_labels_indices.csv`` (columns index, mid, display_name), sorted by index.

    ``name_or_path`` is a CSV file or a packaged set's name. Names may hold commas and quotes
    (CSV quoting). Indices must be 0..C-1, each once.
    """
    csv_path = labels_source(name_or_path)
    if not csv_path.is_file():
        raise FileNotFoundError(
            f"label file not found: {csv_path} (or name a packaged set: {', '.join(LABEL_SETS)})"
        )
    with csv_path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = {name.strip() for name in reader.fieldnames or []}
        if not {"index", "mid", "display_name"} <= columns:
            raise ValueError(f"{csv_path} needs the columns index,mid,display_name")
        rows = [
            {key.strip(): (value or "").strip() for key, value in row.items()} for row in reader
        ]
    infos = []
    for line_number, row in enumerate(rows, start=2):
        try:
            index = int(row["index"])
        except ValueError:
            raise ValueError(
                f"{csv_path}:{line_number}: index {row['index']!r} is not an integer"
            ) from None
        infos.append(LabelInfo(index, row["mid"], row["display_name"]))
    infos.sort(key=lambda info: info.index)
    if [info.index for info in infos] != list(range(len(infos))):
        raise ValueError(f"{csv_path}: class indices must be 0..{len(infos) - 1}, each once")
    return infos


def load_labels(name_or_path: str | os.PathLike) -> list[str]:
    """Display names in class order, e.g. ``load_labels("audioset")[0] == "Speech"``."""
    return [info.display_name for info in read_label_csv(name_or_path)]


def label_set_for_size(num_labels: int) -> str | None:
    """The packaged set with exactly ``num_labels`` classes (527, 50, 35), or None."""
    for name in LABEL_SETS:
        if len(read_label_csv(name)) == num_labels:
            return name
    return None


def generic_labels(num_labels: int) -> list[str]:
    """``LABEL_0 .. LABEL_{C-1}``, transformers' names for classes nobody named."""
    return [f"LABEL_{index}" for index in range(num_labels)]
