"""The datasets of a fine-tuning run, as `astaudio finetune` builds them from paths or specs:
split detection (a manifest's split column), held-out fractions, unreadable files dropped, and
validation labels aligned to the training order."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigurationError
from .manifests import DatasetSpec, align_labels, load_dataset_spec, split_spec, validate_items


@dataclass
class PreparedData:
    """Datasets of a run: what train/valid specs turned into, and files left out (path, why)."""

    train: DatasetSpec
    valid: DatasetSpec | None
    dropped: list[tuple[str, str]] = field(default_factory=list)


def _has_split_column(path: Path) -> bool:
    if path.suffix.lower() not in (".csv", ".tsv") or not path.is_file():
        return False
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header = next(
            csv.reader(handle, delimiter="\t" if path.suffix.lower() == ".tsv" else ","), []
        )
    return "split" in {name.strip().lower() for name in header}


def _load(
    source: str | os.PathLike | DatasetSpec,
    split: str | None,
    labels: Any,
    delimiter: str,
    multi_label: bool | None,
) -> DatasetSpec:
    if isinstance(source, DatasetSpec):
        return source
    if not Path(source).exists():
        raise ConfigurationError(f"{source}: no such dataset file or folder")
    return load_dataset_spec(
        source, labels_csv=labels, split=split, delimiter=delimiter, multi_label=multi_label
    )


def prepare_datasets(
    train: str | os.PathLike | DatasetSpec,
    valid: str | os.PathLike | DatasetSpec | None = None,
    *,
    valid_fraction: float | None = None,
    labels: str | os.PathLike | None = None,
    delimiter: str = ";",
    multi_label: bool | None = None,
    loss: str | None = None,
    seed: int = 0,
) -> PreparedData:
    """Training and validation datasets from paths (or specs), as `astaudio finetune` builds them.

    - A CSV manifest with a split column trains on its train rows and, unless `valid` or
      `valid_fraction` is given, validates on its valid rows.
    - `valid_fraction` holds out a stratified share of the training items (seeded).
    - An AST JSON datafile (multi-label by layout) is single-label when every item has one
      label and the loss is "ce"; `multi_label` forces either.
    - Files that can't be opened are dropped and listed in `dropped`.
    - The validation classes are renumbered to the training label order (by name).
    """
    if valid is not None and valid_fraction is not None:
        raise ConfigurationError("give a validation set or a validation fraction, not both")
    if valid_fraction is not None and not 0.0 < valid_fraction < 1.0:
        raise ConfigurationError(f"valid_fraction must lie between 0 and 1, got {valid_fraction}")
    has_split = not isinstance(train, DatasetSpec) and _has_split_column(Path(train))
    train_spec = _load(train, "train" if has_split else None, labels, delimiter, multi_label)
    valid_spec = None
    if valid is not None:
        valid_spec = _load(valid, None, labels, delimiter, multi_label)
    elif has_split and valid_fraction is None:
        valid_spec = _load(train, "valid", labels, delimiter, multi_label)
        if not valid_spec.items:
            valid_spec = None
    json_layout = [
        spec
        for spec in (train_spec, valid_spec)
        if spec is not None and spec.source.lower().endswith(".json")
    ]
    if multi_label is None and loss == "ce" and json_layout:
        specs = [spec for spec in (train_spec, valid_spec) if spec is not None]
        if all(len(item.label_indices) == 1 for spec in specs for item in spec.items):
            for spec in specs:
                spec.multi_label = False
    dropped: list[tuple[str, str]] = []
    good, bad = validate_items(train_spec.items)
    dropped += bad
    if not good:
        raise ConfigurationError(f"{train_spec.source or 'training data'}: no readable audio files")
    train_spec = train_spec.with_items(good)
    if valid_spec is not None:
        good, bad = validate_items(valid_spec.items)
        dropped += bad
        valid_spec = valid_spec.with_items(good)
        if valid_spec.labels != train_spec.labels:
            valid_spec = align_labels(valid_spec, train_spec.labels)
    if valid_fraction is not None:
        train_spec, valid_spec = split_spec(train_spec, valid_fraction, seed=seed)
    return PreparedData(train_spec, valid_spec, dropped)
