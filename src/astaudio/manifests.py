"""Datasets as files and labels: :class:`DatasetSpec` (a list of :class:`Item`), the label files,
the dataset layouts, splits and the check for unreadable files.

Three layouts load into one :class:`DatasetSpec` (see :func:`load_dataset_spec`):

1. a folder with one subfolder per class (audio files found recursively; classes sorted by name);
2. a CSV manifest with columns ``path,labels[,split]``: labels by name, several joined by a
   delimiter (``;``), paths relative to the manifest's folder;
3. the AST repository's JSON ``{"data": [{"wav": path, "labels": "/m/09x0r,/m/05zppz"}]}`` with a
   ``class_labels_indices.csv`` mapping mids to class indices.
"""

from __future__ import annotations

import csv
import json
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio import AUDIO_EXTENSIONS, audio_info
from .errors import AudioLoadError
from .labels import LabelInfo, read_label_csv

SPLIT_ALIASES = {"train": "train", "valid": "valid", "val": "valid", "validation": "valid"}
SPLIT_ALIASES |= {"dev": "valid", "eval": "test", "test": "test"}


@dataclass(frozen=True)
class Item:
    """One audio file and the indices of its classes."""

    path: str
    label_indices: tuple[int, ...]


@dataclass
class DatasetSpec:
    """A dataset as files and labels: ``labels`` are display names in class-index order."""

    items: list[Item]
    labels: list[str]
    multi_label: bool
    source: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def label_counts(self) -> np.ndarray:
        """(C,) number of items carrying each class."""
        counts = np.zeros(self.num_classes, dtype=np.int64)
        for item in self.items:
            for label_index in item.label_indices:
                counts[label_index] += 1
        return counts

    def with_items(self, items: Sequence[Item]) -> DatasetSpec:
        return DatasetSpec(list(items), list(self.labels), self.multi_label, self.source)


# ---------------------------------------------------------------------------- label files


def _label_lookup(infos: Sequence[LabelInfo]) -> dict[str, int]:
    # display names first, then mids, so either spelling finds the class
    lookup = {info.display_name: info.index for info in infos}
    lookup.update({info.mid: info.index for info in infos if info.mid})
    return lookup


def _index_labels(names: Sequence[str], lookup: dict[str, int], where: str) -> tuple[int, ...]:
    indices = []
    for name in names:
        if name not in lookup:
            raise ValueError(f"{where}: label {name!r} is not in the label list")
        if lookup[name] not in indices:
            indices.append(lookup[name])
    return tuple(indices)


# ---------------------------------------------------------------------------- layouts


def _is_audio_file(path: Path) -> bool:
    return (
        path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS and not path.name.startswith(".")
    )


def _folder_spec(root: Path, infos: list[LabelInfo] | None) -> DatasetSpec:
    class_dirs = sorted(
        entry for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith(".")
    )
    if not class_dirs:
        raise ValueError(f"{root} has no class subfolders (expected one folder per class)")
    if infos is None:
        labels = [directory.name for directory in class_dirs]
        lookup = {name: index for index, name in enumerate(labels)}
    else:
        labels = [info.display_name for info in infos]
        lookup = _label_lookup(infos)
    items = []
    for directory in class_dirs:
        label = _index_labels([directory.name], lookup, str(directory))
        files = sorted(path for path in directory.rglob("*") if _is_audio_file(path))
        items.extend(Item(str(path), label) for path in files)
    return DatasetSpec(items, labels, multi_label=False, source=str(root))


def _normalise_split(value: str, where: str) -> str:
    key = value.strip().lower() or "train"
    if key not in SPLIT_ALIASES:
        raise ValueError(f"{where}: split {value!r} is not one of train, valid, test")
    return SPLIT_ALIASES[key]


def _manifest_spec(
    manifest: Path, infos: list[LabelInfo] | None, split: str | None, delimiter: str
) -> DatasetSpec:
    with manifest.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(
            handle, delimiter="\t" if manifest.suffix.lower() == ".tsv" else ","
        )
        columns = {name.strip().lower(): name for name in reader.fieldnames or []}
        label_column = columns.get("labels", columns.get("label"))
        if "path" not in columns or label_column is None:
            raise ValueError(f"{manifest} needs the columns path,labels (and optionally split)")
        rows = list(reader)
    if split is not None and "split" not in columns:
        raise ValueError(f"{manifest} has no split column, so split={split!r} cannot be selected")
    wanted_split = None if split is None else _normalise_split(split, "split argument")
    parsed = []  # (path, label names, split)
    for line_number, row in enumerate(rows, start=2):
        where = f"{manifest}:{line_number}"
        raw_path = (row[columns["path"]] or "").strip()
        if not raw_path:
            raise ValueError(f"{where}: empty path")
        names = [name.strip() for name in (row[label_column] or "").split(delimiter)]
        names = [name for name in names if name]
        if not names:
            raise ValueError(f"{where}: no labels")
        row_split = (
            _normalise_split(row[columns["split"]] or "", where) if "split" in columns else None
        )
        parsed.append((os.path.normpath(manifest.parent / raw_path), names, row_split, where))
    # the label list comes from every row, so all splits share the same class indices
    if infos is None:
        labels = sorted({name for _, names, _, _ in parsed for name in names})
        lookup = {name: index for index, name in enumerate(labels)}
    else:
        labels = [info.display_name for info in infos]
        lookup = _label_lookup(infos)
    items = [
        Item(path, _index_labels(names, lookup, where))
        for path, names, row_split, where in parsed
        if wanted_split is None or row_split == wanted_split
    ]
    # decided on every row too, so the splits of one manifest agree on the label format
    multi_label = any(len(set(names)) > 1 for _, names, _, _ in parsed)
    return DatasetSpec(items, labels, multi_label, source=str(manifest))


def _ast_json_spec(json_path: Path, infos: list[LabelInfo] | None) -> DatasetSpec:
    if infos is None:
        raise ValueError(
            f"{json_path} is an AST JSON datafile: pass labels_csv (class_labels_indices.csv)"
        )
    try:
        with json_path.open(encoding="utf-8") as handle:
            entries = json.load(handle)["data"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{json_path} is not an AST datafile {{'data': [...]}}: {error}") from None
    lookup = {info.mid: info.index for info in infos}
    lookup.update(
        {info.display_name: info.index for info in infos if info.display_name not in lookup}
    )
    items = []
    for position, entry in enumerate(entries):
        where = f"{json_path} entry {position}"
        if not isinstance(entry, dict) or "wav" not in entry or "labels" not in entry:
            raise ValueError(f"{where}: needs the keys 'wav' and 'labels'")
        names = [name.strip() for name in str(entry["labels"]).split(",") if name.strip()]
        items.append(
            Item(
                os.path.normpath(json_path.parent / entry["wav"]),
                _index_labels(names, lookup, where),
            )
        )
    labels = [info.display_name for info in infos]
    return DatasetSpec(items, labels, multi_label=True, source=str(json_path))


def load_dataset_spec(
    path: str | Path,
    labels_csv: str | Path | None = None,
    split: str | None = None,
    delimiter: str = ";",
    multi_label: bool | None = None,
) -> DatasetSpec:
    """Load a dataset description, choosing the layout from ``path``.

    Args:
        path: a folder of class subfolders, a ``.csv``/``.tsv`` manifest or an AST ``.json``.
        labels_csv: a ``class_labels_indices.csv`` that fixes the class list and order (names are
            matched by display_name or mid); required for JSON datafiles.
        split: keep only the manifest rows of this split (train, valid/val/validation/dev,
            test/eval); only CSV manifests have splits. Rows with an empty split count as train.
        delimiter: separator of several labels in a manifest's labels cell.
        multi_label: override; by default True when any item has several labels (JSON: always).
    """
    source = Path(path)
    if not source.exists():
        raise FileNotFoundError(f"dataset not found: {source}")
    infos = read_label_csv(labels_csv) if labels_csv is not None else None
    if source.is_dir():
        if split is not None:
            raise ValueError(
                "split selects rows of a CSV manifest; a class-folder dataset has none"
            )
        spec = _folder_spec(source, infos)
    elif source.suffix.lower() == ".json":
        if split is not None:
            raise ValueError(
                "split selects rows of a CSV manifest; AST JSON files are one split each"
            )
        spec = _ast_json_spec(source, infos)
    elif source.suffix.lower() in (".csv", ".tsv"):
        spec = _manifest_spec(source, infos, split, delimiter)
    else:
        raise ValueError(f"{source}: expected a folder, a .csv manifest or an AST .json datafile")
    if multi_label is not None:
        spec.multi_label = multi_label
    if not spec.multi_label and any(len(item.label_indices) != 1 for item in spec.items):
        raise ValueError(f"{source}: single-label datasets need exactly one label per item")
    return spec


def split_spec(
    spec: DatasetSpec, valid_fraction: float, seed: int = 0
) -> tuple[DatasetSpec, DatasetSpec]:
    """Split into (train, valid) deterministically, stratified by each item's first label.

    Each class gives ``valid_fraction`` of its items (largest-remainder rounding so the total is
    ``round(N * valid_fraction)``); which items go is drawn with ``seed``. Both parts keep the
    original item order.
    """
    if not 0.0 < valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must lie strictly between 0 and 1, got {valid_fraction}")
    rng = np.random.default_rng(seed)
    groups: dict[int, list[int]] = defaultdict(list)
    for position, item in enumerate(spec.items):
        groups[item.label_indices[0] if item.label_indices else -1].append(position)
    keys = sorted(groups)
    exact = np.array([len(groups[key]) * valid_fraction for key in keys])
    quotas = np.floor(exact).astype(int)
    remaining = int(round(len(spec.items) * valid_fraction)) - int(quotas.sum())
    # ties in the remainders are broken by a seeded random key
    order = np.lexsort((rng.random(len(keys)), -(exact - quotas)))
    quotas[order[: max(remaining, 0)]] += 1
    valid_positions: set[int] = set()
    for key, quota in zip(keys, quotas, strict=True):
        members = np.array(groups[key])
        valid_positions.update(rng.permutation(members)[:quota].tolist())
    train = [item for pos, item in enumerate(spec.items) if pos not in valid_positions]
    valid = [item for pos, item in enumerate(spec.items) if pos in valid_positions]
    return spec.with_items(train), spec.with_items(valid)


def align_labels(spec: DatasetSpec, model_labels: list[str]) -> DatasetSpec:
    """The dataset with its class indices renumbered to the model's label order (by name)."""
    if spec.labels == model_labels:
        return spec
    index = {name: i for i, name in enumerate(model_labels)}
    missing = [name for name in spec.labels if name not in index]
    if missing:
        raise ValueError(
            f"the model has no label for {len(missing)} dataset classes, e.g. {missing[:3]}; "
            "evaluate with a model trained on these classes"
        )
    items = [
        Item(item.path, tuple(index[spec.labels[i]] for i in item.label_indices))
        for item in spec.items
    ]
    return DatasetSpec(items, list(model_labels), spec.multi_label, spec.source)


# ---------------------------------------------------------------------------- bad files


def _check_audio_file(path: str) -> str | None:
    """None when the file looks decodable, else a one-line reason."""
    file_path = Path(path)
    if not file_path.is_file():
        return "file not found"
    if file_path.stat().st_size == 0:
        return "empty file"
    try:
        info = audio_info(file_path)
    except (AudioLoadError, OSError) as error:
        return str(error).splitlines()[0] if str(error) else type(error).__name__
    if info.frames <= 0 or info.sampling_rate <= 0:
        return "no audio samples"
    return None


def validate_items(items: Sequence[Item]) -> tuple[list[Item], list[tuple[str, str]]]:
    """Split items into readable ones and ``(path, reason)`` for files that cannot be opened.

    Reads headers only (:func:`astaudio.audio.audio_info`: libsndfile, else ffprobe), so it is
    fast; a file whose data is corrupt past a valid header is caught later by
    :class:`astaudio.data.AudioDataset`, which reports it and drops it (see
    :func:`astaudio.data.collate_dropping`).
    """
    good: list[Item] = []
    bad: list[tuple[str, str]] = []
    for item in items:
        reason = _check_audio_file(item.path)
        if reason is None:
            good.append(item)
        else:
            bad.append((item.path, reason))
    return good, bad
