"""Datasets for fine-tuning: the training dataset, its augmentations, sampling weights and
normalisation statistics.

The datasets as files and labels (:class:`DatasetSpec`, the label files and layouts, splits,
bad-file checks) are in :mod:`astaudio.manifests`, whose public names are re-exported here.

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
import hashlib
import json
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .audio import load_audio
from .constants import AUDIOSET_MEAN, AUDIOSET_STD, SAMPLE_RATE
from .errors import AstAudioError, AudioLoadError
from .fbank import center_short_clips, frame_geometry, kaldi_fbank, window_samples
from .labels import read_label_csv  # noqa: F401 (re-exported)
from .manifests import (  # noqa: F401 (re-exported)
    SPLIT_ALIASES,
    DatasetSpec,
    Item,
    align_labels,
    load_dataset_spec,
    split_spec,
    validate_items,
)

logger = logging.getLogger(__name__)

BALANCE_WEIGHT_NUMERATOR = 1000.0  # AST's per-label weight is 1000 / (count + 0.01)
BALANCE_COUNT_OFFSET = 0.01
MIXUP_BETA = 10.0  # lambda ~ Beta(10, 10)
NOISE_ROLL_FRAMES = 10  # noise augmentation rolls by an integer in [-10, 10)
CACHE_FORMAT_VERSION = 1


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentations (all off by default, as for evaluation).

    freqm / timem: SpecAugment mask widths in mel bins / frames.
    mixup: probability of mixing an item with a random other one.
    noise: Speech Commands' noise-and-roll augmentation.
    waveform: a callable ``(waveform (T,) float32, rng) -> (T',) float32`` applied to each
        decoded clip before its filter banks (e.g. :class:`astaudio.augment.WaveformAugment`); a
        shorter result is padded like a short file (frames of 0 after its end); its rng is seeded
        from (seed, epoch, index, 2). Augmented items bypass the filter-bank cache.

    The AST recipes: AudioSet freqm=48, timem=192, mixup=0.5; ESC-50 freqm=24, timem=96;
    Speech Commands freqm=48, timem=48, mixup=0.6, noise=True.
    """

    freqm: int = 0
    timem: int = 0
    mixup: float = 0.0
    noise: bool = False
    waveform: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None

    def __post_init__(self) -> None:
        if self.freqm < 0 or self.timem < 0:
            raise ValueError(f"freqm and timem must be >= 0, got {self.freqm} and {self.timem}")
        if not 0.0 <= self.mixup <= 1.0:
            raise ValueError(f"mixup is a probability in [0, 1], got {self.mixup}")


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
    center_short_clips: bool = False  # pad clips shorter than the window around the middle

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
            center_short_clips=bool(getattr(extractor, "center_short_clips", False)),
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
    and dropped, never replaced by another clip: ``dataset[i]`` is then ``{"dropped": path,
    "reason": text}``; :func:`collate_dropping` leaves such items out of a batch and lists them
    under the batch's ``"dropped"``. (A mixup partner that fails is still replaced by the next
    readable item: its label goes with it, so the target stays right.)
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
        self._reasons: dict[int, str] = {}  # why they failed

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

    def _decode_own(self, index: int) -> np.ndarray:
        """Decode item ``index`` itself; AudioLoadError (reported once) when it can't be."""
        if index in self._reasons:
            raise AudioLoadError(self._reasons[index])
        try:
            return self._decode(index)
        except (AudioLoadError, OSError) as error:
            self._unreadable.add(index)
            self._reasons[index] = (
                str(error).splitlines()[0] if str(error) else type(error).__name__
            )
            logger.warning(
                "dropping unreadable item %d (%s): %s", index, self.spec.items[index].path, error
            )
            raise AudioLoadError(self._reasons[index]) from None

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
        samples = torch.from_numpy(np.ascontiguousarray(waveform)).unsqueeze(0)  # (1, N)
        if self.params.center_short_clips:
            window = window_samples(self.params.max_length, self.params.sampling_rate)
            samples, _ = center_short_clips(samples, torch.tensor([samples.shape[1]]), window)
        if samples.shape[1] < frame_length:  # too short for one frame: pad to one
            samples = torch.nn.functional.pad(samples, (0, frame_length - samples.shape[1]))
        fbank, num_frames = kaldi_fbank(
            samples,
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
        if self.params.center_short_clips:  # other keys stay those of earlier caches
            key += "|centred"
        return self.cache_dir / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.npy"

    def _unmixed_fbank(self, index: int) -> torch.Tensor:
        """(T, M) fbank of one item, through the cache when enabled; AudioLoadError if its
        file cannot be decoded."""
        cache_path = self._cache_path(index) if index not in self._unreadable else None
        if cache_path is not None and cache_path.is_file():
            try:
                return torch.from_numpy(np.load(cache_path))
            except (OSError, ValueError):
                pass  # a torn or stale cache file: recompute it
        fbank = self._fbank(self._decode_own(index))
        if cache_path is not None:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            temporary = cache_path.with_name(f"{cache_path.stem}.{os.getpid()}.tmp.npy")
            np.save(temporary, fbank.numpy())
            os.replace(temporary, cache_path)  # atomic: concurrent workers never see half a file
        return fbank

    def _multi_hot(self, index: int) -> np.ndarray:
        target = np.zeros(self.num_classes, dtype=np.float32)
        target[list(self.spec.items[index].label_indices)] = 1.0
        return target

    def features_and_targets(self, index: int) -> tuple[torch.Tensor, np.ndarray, int]:
        """Unnormalised, augmented (max_length, M) filter banks, the (C,) float target and
        ``index``. Raises AudioLoadError when the item's own file cannot be decoded."""
        rng = self.item_rng(index)
        augment = self.augment
        used = index
        if augment.mixup > 0.0 and rng.random() < augment.mixup:
            partner_start = int(rng.integers(0, len(self)))
            mix_lambda = float(rng.beta(MIXUP_BETA, MIXUP_BETA))
            first = self._decode_own(index)
            partner, second = self._first_readable(partner_start)
            fbank = self._fbank(mix_waveforms(first, second, mix_lambda))
            target = mix_lambda * self._multi_hot(used) + (1.0 - mix_lambda) * self._multi_hot(
                partner
            )
        elif augment.waveform is not None:
            waveform = self._decode_own(index)
            wave_rng = np.random.default_rng([self.seed, self.epoch, int(index), 2])
            fbank = self._fbank(np.asarray(augment.waveform(waveform, wave_rng), np.float32))
            target = self._multi_hot(used)
        else:
            fbank = self._unmixed_fbank(index)
            target = self._multi_hot(used)
        fbank = _pad_or_cut_frames(fbank, self.params.max_length)
        if augment.freqm > 0 or augment.timem > 0:
            fbank = spec_augment(fbank, augment.freqm, augment.timem, rng)
        return fbank, target.astype(np.float32), used

    def __getitem__(self, index: int) -> dict[str, Any]:
        try:
            fbank, target, used = self.features_and_targets(index)
        except AudioLoadError as error:
            return {"dropped": self.spec.items[index].path, "reason": str(error)}
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


def save_norm_stats(path: str | Path, mean: float, std: float, feature_extractor: Any) -> Path:
    """Write mean and std into a preprocessor_config.json (``path`` is the file or its folder).

    An existing file keeps everything else (its max_length and mel bins stay those of the model
    it belongs to); a new one is ``feature_extractor``'s settings with these statistics.
    Returns the file written.
    """
    target = Path(path)
    if target.suffix != ".json":
        target = target / "preprocessor_config.json"
    if target.is_file():
        values = json.loads(target.read_text())
        if not isinstance(values, dict):
            raise AstAudioError(f"{target}: not a preprocessor_config.json (not a JSON object)")
    else:
        values = json.loads(feature_extractor.to_json_string())
    values["mean"], values["std"] = float(mean), float(std)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, target)
    return target


def collate_dropping(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """DataLoader ``collate_fn`` for :class:`AudioDataset`: items that failed to decode are left
    out (the batch gets smaller) and listed as ``(path, reason)`` under ``"dropped"``.

    A batch whose items all failed has ``"input_values"`` and ``"labels"`` set to None.
    """
    kept = [sample for sample in samples if "dropped" not in sample]
    dropped = [(sample["dropped"], sample["reason"]) for sample in samples if "dropped" in sample]
    if not kept:
        return {"input_values": None, "labels": None, "dropped": dropped}
    batch = torch.utils.data.default_collate(kept)
    batch["dropped"] = dropped
    return batch


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
        if "dropped" not in sample:  # an undecodable file adds nothing
            values = sample["input_values"].to(torch.float64)
            total += float(values.sum())
            total_squares += float(values.square().sum())
            count += values.numel()
        if ((position + 1) % batch_size == 0 or position + 1 == limit) and count:
            mean = total / count
            variance = max(total_squares - count * mean * mean, 0.0) / max(count - 1, 1)
            batch_means.append(mean)
            batch_stds.append(math.sqrt(variance))
            total = total_squares = 0.0
            count = 0
    return float(np.mean(batch_means)), float(np.mean(batch_stds))
