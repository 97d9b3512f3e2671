"""Datasets for fine-tuning: label files, dataset layouts, bad-file checks and the training dataset.

Three layouts load into one :class:`DatasetSpec` (see :func:`load_dataset_spec`):

1. a folder with one subfolder per class (audio files found recursively; classes sorted by name);
2. a CSV manifest with columns ``path,labels[,split]``: labels by name, several joined by a
   delimiter (``;``), paths relative to the manifest's folder;
3. the AST repository's JSON ``{"data": [{"wav": path, "labels": "/m/09x0r,/m/05zppz"}]}`` with a
   ``class_labels_indices.csv`` mapping mids to class indices.

:class:`AudioDataset` follows the AST repository's training dataloader step by step: decode and
remove the mean; optional waveform mixup (Beta(10, 10) lambda, partner padded/cut to the first
item's length); Kaldi log-mel filter banks; zero pad/cut to ``max_length`` frames; SpecAugment
(one frequency mask, then one time mask, zero fill, on the unnormalised filter banks);
normalisation ``(fbank - mean) / (2 * std)``; optional noise (uniform noise scaled by a uniform
factor / 10, then a time roll of -10..9 frames) for Speech Commands.

Determinism: every random draw of an item comes from ``numpy.random.default_rng([seed, epoch,
index])`` (the noise from ``[seed, epoch, index, 1]``), never from global state, so an item's augmentation depends only on (seed, epoch, index),
whichever DataLoader worker computes it and in whatever order. Call :meth:`AudioDataset.set_epoch`
before creating each epoch's iterator (workers copy the dataset when the iterator starts, so do not
use ``persistent_workers=True`` with per-epoch augmentation) and give the sampler a
``torch.Generator`` seeded from (seed, epoch); a resumed run then sees bit-identical batches.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import logging
import math
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .audio import AUDIO_EXTENSIONS, audio_info, load_audio
from .constants import AUDIOSET_MEAN, AUDIOSET_STD, SAMPLE_RATE
from .errors import AstAudioError, AudioLoadError
from .features import frame_geometry, kaldi_fbank
from .labels import LabelInfo, read_label_csv

logger = logging.getLogger(__name__)

SPLIT_ALIASES = {"train": "train", "valid": "valid", "val": "valid", "validation": "valid"}
SPLIT_ALIASES |= {"dev": "valid", "eval": "test", "test": "test"}
BALANCE_WEIGHT_NUMERATOR = 1000.0  # AST's per-label weight is 1000 / (count + 0.01)
BALANCE_COUNT_OFFSET = 0.01
MIXUP_BETA = 10.0  # lambda ~ Beta(10, 10)
NOISE_ROLL_FRAMES = 10  # noise augmentation rolls by an integer in [-10, 10)
CACHE_FORMAT_VERSION = 1


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


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentations (all off by default, as for evaluation).

    freqm / timem: SpecAugment mask widths in mel bins / frames.
    mixup: probability of mixing an item with a random other one.
    noise: Speech Commands' noise-and-roll augmentation.

    The AST recipes: AudioSet freqm=48, timem=192, mixup=0.5; ESC-50 freqm=24, timem=96;
    Speech Commands freqm=48, timem=48, mixup=0.6, noise=True.
    """

    freqm: int = 0
    timem: int = 0
    mixup: float = 0.0
    noise: bool = False

    def __post_init__(self) -> None:
        if self.freqm < 0 or self.timem < 0:
            raise ValueError(f"freqm and timem must be >= 0, got {self.freqm} and {self.timem}")
        if not 0.0 <= self.mixup <= 1.0:
            raise ValueError(f"mixup is a probability in [0, 1], got {self.mixup}")


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
    :class:`AudioDataset`, which reports and replaces it.
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


def balanced_sample_weights(spec: DatasetSpec) -> np.ndarray:
    """(N,) AST's sampling weights: per class 1000 / (count + 0.01), an item sums its classes'.

    Use with ``torch.utils.data.WeightedRandomSampler(weights, num_samples, replacement=True)``.
    """
    label_weights = BALANCE_WEIGHT_NUMERATOR / (spec.label_counts() + BALANCE_COUNT_OFFSET)
    weights = np.zeros(len(spec.items), dtype=np.float64)
    for position, item in enumerate(spec.items):
        weights[position] = sum(label_weights[index] for index in item.label_indices)
    return weights


# ---------------------------------------------------------------------------- augmentation


def spec_augment(
    fbank: torch.Tensor, freqm: int, timem: int, rng: np.random.Generator
) -> torch.Tensor:
    """One frequency mask then one time mask, zero filled, on a (T, M) filter bank.

    Like torchaudio's FrequencyMasking/TimeMasking: width = floor(u * param) (so 0..param-1),
    start = floor(u' * (size - u * param)). Returns a new tensor.
    """
    masked = fbank.clone()
    for axis, param in ((1, freqm), (0, timem)):
        if param <= 0:
            continue
        size = masked.shape[axis]
        width_real = rng.random() * min(param, size)
        start = int(rng.random() * (size - width_real))
        end = start + int(width_real)
        if axis == 1:
            masked[:, start:end] = 0.0
        else:
            masked[start:end, :] = 0.0
    return masked


def add_noise_and_roll(fbank: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Speech Commands' augmentation on a (T, M) filter bank: ``+ U(0,1) * u / 10``, time roll."""
    noise = torch.from_numpy(rng.random(tuple(fbank.shape), dtype=np.float32))
    noisy = fbank + noise * float(rng.random()) / 10.0
    shift = int(rng.integers(-NOISE_ROLL_FRAMES, NOISE_ROLL_FRAMES))
    return torch.roll(noisy, shift, dims=0)


def mix_waveforms(first: np.ndarray, second: np.ndarray, mix_lambda: float) -> np.ndarray:
    """AST's waveform mixup: both mean-removed, ``second`` zero-padded or cut to ``first``'s length,
    ``lambda * first + (1 - lambda) * second``, mean removed again. 1-D float32 in and out."""
    first = first - first.mean()
    second = second - second.mean()
    matched = np.zeros_like(first)
    length = min(len(first), len(second))
    matched[:length] = second[:length]
    mixed = mix_lambda * first + (1.0 - mix_lambda) * matched
    return (mixed - mixed.mean()).astype(np.float32)


# ---------------------------------------------------------------------------- dataset


@dataclass(frozen=True)
class FeatureParams:
    """The feature settings a dataset needs; defaults are the AudioSet checkpoints' (10.24 s)."""

    sampling_rate: int = SAMPLE_RATE  # Hz
    num_mel_bins: int = 128
    max_length: int = 1024  # frames (10 ms each)
    mean: float = AUDIOSET_MEAN
    std: float = AUDIOSET_STD
    do_normalize: bool = True

    @classmethod
    def from_extractor(cls, extractor: Any) -> FeatureParams:
        """Read the settings of an :class:`astaudio.features.ASTFeatureExtractor` (or transformers')."""
        return cls(
            sampling_rate=int(extractor.sampling_rate),
            num_mel_bins=int(extractor.num_mel_bins),
            max_length=int(extractor.max_length),
            mean=float(extractor.mean),
            std=float(extractor.std),
            do_normalize=bool(extractor.do_normalize),
        )


def _pad_or_cut_frames(fbank: torch.Tensor, max_length: int) -> torch.Tensor:
    """(T, M) -> (max_length, M): zero frames appended at the end, or the tail dropped."""
    frames = fbank.shape[0]
    if frames > max_length:
        return fbank[:max_length]
    if frames < max_length:
        return torch.nn.functional.pad(fbank, (0, 0, 0, max_length - frames))
    return fbank


class AudioDataset(Dataset):
    """Items of a :class:`DatasetSpec` as AST inputs, with the AST repository's augmentations.

    ``dataset[i]`` is ``{"input_values": (max_length, num_mel_bins) float32, "labels": ...}``
    where labels is a (C,) float32 multi-hot (soft under mixup) for multi-label data or when
    mixup is on, else the int class index (``label_format`` forces "multi_hot" or "index").

    Args:
        spec: the items and class names.
        feature_extractor: an ASTFeatureExtractor whose settings (rate, mel bins, max_length,
            mean, std, do_normalize) to use; or a :class:`FeatureParams`; None: AudioSet defaults.
        augment: training augmentations; None for evaluation.
        clip_seconds: keep at most this much audio from each file's start (frames beyond
            max_length are cut in any case; shorter clips are zero-padded in the filter-bank
            domain, as AST does, not in the waveform).
        seed: base of the per-item random generators (see the module docstring).
        cache_dir: folder for ``.npy`` caches of the unaugmented filter banks, keyed by path,
            mtime, size and feature settings; mixed items are computed afresh.

    An item whose file fails to decode is reported (logging.warning, once per worker process)
    and replaced by the next readable item in order (wrapping around), so a bad file never
    stops training.
    """

    def __init__(
        self,
        spec: DatasetSpec,
        feature_extractor: Any = None,
        *,
        augment: AugmentConfig | None = None,
        clip_seconds: float | None = None,
        seed: int = 0,
        cache_dir: str | Path | None = None,
        label_format: str = "auto",
    ) -> None:
        if not spec.items:
            raise ValueError(
                f"dataset {spec.source!r} has no items" if spec.source else "dataset has no items"
            )
        if isinstance(feature_extractor, FeatureParams):
            self.params = feature_extractor
        elif feature_extractor is None:
            self.params = FeatureParams()
        else:
            self.params = FeatureParams.from_extractor(feature_extractor)
        if clip_seconds is not None and clip_seconds <= 0:
            raise ValueError(f"clip_seconds must be positive, got {clip_seconds}")
        if label_format not in ("auto", "index", "multi_hot"):
            raise ValueError(f"label_format must be auto, index or multi_hot, not {label_format!r}")
        self.spec = spec
        self.augment = augment or AugmentConfig()
        if label_format == "auto":
            use_index = not spec.multi_label and self.augment.mixup == 0.0
            label_format = "index" if use_index else "multi_hot"
        if label_format == "index" and (spec.multi_label or self.augment.mixup > 0.0):
            raise ValueError("index labels need single-label data without mixup")
        self.label_format = label_format
        self.clip_seconds = clip_seconds
        self.seed = int(seed)
        self.epoch = 0
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._unreadable: set[int] = set()  # per worker process: indices known to fail

    def __len__(self) -> int:
        return len(self.spec.items)

    @property
    def num_classes(self) -> int:
        return self.spec.num_classes

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose augmentations the next iterator draws."""
        self.epoch = int(epoch)

    def item_rng(self, index: int) -> np.random.Generator:
        """The generator of every random draw for ``index`` in the current epoch."""
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    # -- decoding

    def _max_samples(self) -> int:
        # samples that make exactly max_length frames; later samples never reach the output
        frame_length, frame_shift, _ = frame_geometry(self.params.sampling_rate)
        limit = frame_length + (self.params.max_length - 1) * frame_shift
        if self.clip_seconds is not None:
            limit = min(limit, max(1, round(self.clip_seconds * self.params.sampling_rate)))
        return limit

    def _decode(self, index: int) -> np.ndarray:
        waveform = load_audio(self.spec.items[index].path, self.params.sampling_rate)
        waveform = np.asarray(waveform, dtype=np.float32)[: self._max_samples()]
        if waveform.size == 0:
            raise AudioLoadError(f"cannot read audio {self.spec.items[index].path}: no samples")
        return waveform - waveform.mean()

    def _first_readable(self, start: int) -> tuple[int, np.ndarray]:
        """Decode item ``start`` or, if it fails, the next readable one (wrapping around)."""
        count = len(self)
        for step in range(count):
            index = (start + step) % count
            if index in self._unreadable:
                continue
            try:
                return index, self._decode(index)
            except (AudioLoadError, OSError) as error:
                self._unreadable.add(index)
                logger.warning(
                    "skipping unreadable item %d (%s): %s",
                    index,
                    self.spec.items[index].path,
                    error,
                )
        raise AstAudioError(f"no item of {self.spec.source or 'the dataset'} could be decoded")

    # -- features

    def _fbank(self, waveform: np.ndarray) -> torch.Tensor:
        """(T, M) unnormalised log-mel filter banks of a 1-D waveform (T may be below max_length)."""
        frame_length, _, _ = frame_geometry(self.params.sampling_rate)
        if waveform.shape[0] < frame_length:  # too short for one frame: pad to one
            waveform = np.pad(waveform, (0, frame_length - waveform.shape[0]))
        fbank, num_frames = kaldi_fbank(
            torch.from_numpy(np.ascontiguousarray(waveform)).unsqueeze(0),
            sampling_rate=self.params.sampling_rate,
            num_mel_bins=self.params.num_mel_bins,
            max_frames=self.params.max_length,
        )
        return fbank[0, : int(num_frames[0])]

    def _cache_path(self, index: int) -> Path | None:
        if self.cache_dir is None:
            return None
        path = Path(self.spec.items[index].path)
        try:
            stat = path.stat()
        except OSError:
            return None
        key = "|".join(
            str(part)
            for part in (
                CACHE_FORMAT_VERSION, os.path.abspath(path), stat.st_mtime_ns, stat.st_size,
                self.params.sampling_rate, self.params.num_mel_bins, self._max_samples(),
            )
        )  # fmt: skip
        return self.cache_dir / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.npy"

    def _unmixed_fbank(self, index: int) -> tuple[int, torch.Tensor]:
        """(index actually used, (T, M) fbank) for one item, through the cache when enabled."""
        cache_path = self._cache_path(index) if index not in self._unreadable else None
        if cache_path is not None and cache_path.is_file():
            try:
                return index, torch.from_numpy(np.load(cache_path))
            except (OSError, ValueError):
                pass  # a torn or stale cache file: recompute it
        used, waveform = self._first_readable(index)
        fbank = self._fbank(waveform)
        if used == index and cache_path is not None:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            temporary = cache_path.with_name(f"{cache_path.stem}.{os.getpid()}.tmp.npy")
            np.save(temporary, fbank.numpy())
            os.replace(temporary, cache_path)  # atomic: concurrent workers never see half a file
        return used, fbank

    def _multi_hot(self, index: int) -> np.ndarray:
        target = np.zeros(self.num_classes, dtype=np.float32)
        target[list(self.spec.items[index].label_indices)] = 1.0
        return target

    def features_and_targets(self, index: int) -> tuple[torch.Tensor, np.ndarray, int]:
        """Unnormalised, augmented (max_length, M) filter banks, the (C,) float target and the
        index of the item actually used (a replacement when ``index`` is unreadable)."""
        rng = self.item_rng(index)
        augment = self.augment
        if augment.mixup > 0.0 and rng.random() < augment.mixup:
            partner_start = int(rng.integers(0, len(self)))
            mix_lambda = float(rng.beta(MIXUP_BETA, MIXUP_BETA))
            used, first = self._first_readable(index)
            partner, second = self._first_readable(partner_start)
            fbank = self._fbank(mix_waveforms(first, second, mix_lambda))
            target = mix_lambda * self._multi_hot(used) + (1.0 - mix_lambda) * self._multi_hot(
                partner
            )
        else:
            used, fbank = self._unmixed_fbank(index)
            target = self._multi_hot(used)
        fbank = _pad_or_cut_frames(fbank, self.params.max_length)
        if augment.freqm > 0 or augment.timem > 0:
            fbank = spec_augment(fbank, augment.freqm, augment.timem, rng)
        return fbank, target.astype(np.float32), used

    def __getitem__(self, index: int) -> dict[str, Any]:
        fbank, target, used = self.features_and_targets(index)
        if self.params.do_normalize:
            fbank = (fbank - self.params.mean) / (2.0 * self.params.std)
        if self.augment.noise:
            # after normalising, as AST does
            fbank = add_noise_and_roll(fbank, self._noise_rng(index))
        if self.label_format == "index":
            labels: Any = self.spec.items[used].label_indices[0]
        else:
            labels = torch.from_numpy(target)
        return {"input_values": fbank.to(torch.float32).contiguous(), "labels": labels}

    def _noise_rng(self, index: int) -> np.random.Generator:
        # a child stream so the noise does not depend on how many draws the masks consumed
        return np.random.default_rng([self.seed, self.epoch, int(index), 1])


def compute_norm_stats(
    source: AudioDataset | DatasetSpec,
    feature_extractor: Any = None,
    *,
    augment: AugmentConfig | None = None,
    batch_size: int = 1000,
    num_batches: int | None = None,
    num_workers: int = 0,
    seed: int = 0,
    clip_seconds: float | None = None,
) -> tuple[float, float]:
    """Dataset mean and std of the unnormalised filter banks, as the AST repository's get_norm_stats.

    Consecutive items (no shuffling) form batches of ``batch_size``; each batch's mean and
    (unbiased) std over all its values, zero padding included, are averaged over the batches.
    The repository computes them with the training augmentations (mixup, SpecAugment) on; pass
    ``augment`` (or a dataset built with one) to do the same. Noise is never applied here.
    Memory stays small: batches are accumulated as float64 sums, item by item.

    Args:
        source: an :class:`AudioDataset` (its settings are kept, normalisation and noise off)
            or a :class:`DatasetSpec` (built with ``feature_extractor``, ``augment``,
            ``clip_seconds`` and ``seed``).
        num_batches: stop after this many batches (None: the whole dataset).

    Returns:
        (mean, std) to put in the feature extractor's ``mean`` and ``std``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if isinstance(source, AudioDataset):
        dataset = copy.copy(source)
    else:
        dataset = AudioDataset(
            source, feature_extractor, augment=augment, clip_seconds=clip_seconds, seed=seed
        )
    dataset.params = FeatureParams(**{**dataset.params.__dict__, "do_normalize": False})
    dataset.augment = AugmentConfig(**{**dataset.augment.__dict__, "noise": False})
    limit = len(dataset) if num_batches is None else min(len(dataset), num_batches * batch_size)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, range(limit)),
        batch_size=None,
        shuffle=False,
        num_workers=num_workers,
    )
    batch_means: list[float] = []
    batch_stds: list[float] = []
    total = total_squares = 0.0
    count = 0
    for position, sample in enumerate(loader):
        values = sample["input_values"].to(torch.float64)
        total += float(values.sum())
        total_squares += float(values.square().sum())
        count += values.numel()
        if (position + 1) % batch_size == 0 or position + 1 == limit:
            mean = total / count
            variance = max(total_squares - count * mean * mean, 0.0) / max(count - 1, 1)
            batch_means.append(mean)
            batch_stds.append(math.sqrt(variance))
            total = total_squares = 0.0
            count = 0
    return float(np.mean(batch_means)), float(np.mean(batch_stds))
