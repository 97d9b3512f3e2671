"""The AST feature extractor: :class:`ASTFeatureExtractor`, transformers-compatible (same
``__call__``, ``pad``, ``save_pretrained``/``from_pretrained`` and preprocessor_config.json), and
its output :class:`BatchFeature`.

The Kaldi log-mel filter banks it computes (and why they match torchaudio's) are in
:mod:`astaudio.fbank`, whose public names are re-exported here.
"""

from __future__ import annotations

import copy
import json
import math
import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .constants import AUDIOSET_MEAN, AUDIOSET_STD, PREPROCESSOR_NAME, SAMPLE_RATE
from .fbank import (  # noqa: F401 (re-exported)
    BLOCK_FRAMES,
    FRAME_LENGTH,
    FRAME_LENGTH_MS,
    FRAME_SHIFT,
    FRAME_SHIFT_MS,
    FRAMES_PER_CHUNK,
    LOG_FLOOR,
    LOW_FREQ,
    MEL_GROUP,
    N_FFT,
    PREEMPHASIS,
    _clips_and_frames,
    _fill_past_ends,
    _hann_window,
    _log_mel_into,
    _mel_filterbank_cached,
    center_short_clips,
    count_frames,
    frame_geometry,
    kaldi_fbank,
    mel_filterbank,
    window_samples,
)
from .hub import resolve_file

# -- BatchFeature ----------------------------------------------------------------------------
TENSOR_KINDS = ("pt", "np", "tf")


def _tensor_kind(kind) -> str | None:
    kind = getattr(kind, "value", kind)  # transformers' TensorType enum
    if kind is None or kind in TENSOR_KINDS:
        return kind
    raise ValueError(f"return_tensors must be one of {TENSOR_KINDS} or None, got {kind!r}")


def _import_tensorflow():
    try:
        import tensorflow as tf
    except ImportError:
        raise ValueError(
            "return_tensors='tf' needs TensorFlow, which is not installed; "
            "use return_tensors='pt' or 'np'"
        ) from None
    return tf


def _convert(value, kind: str):
    if kind == "pt":
        if isinstance(value, Tensor):
            return value
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], Tensor):
            return torch.stack(list(value))
        return torch.as_tensor(np.asarray(value))
    as_numpy = _to_numpy(value)
    if kind == "np":
        return as_numpy
    return _import_tensorflow().convert_to_tensor(as_numpy)


def _to_numpy(value) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], Tensor):
        return np.stack([v.detach().cpu().numpy() for v in value])
    return np.asarray(value)


class BatchFeature(dict):
    """The extractor's output: a dict (``model(**inputs)``) whose keys are also attributes.

    ``inputs.input_values`` is ``inputs["input_values"]``; ``.to(device or dtype)`` returns a new
    BatchFeature with its tensors moved (a floating dtype casts only floating tensors).
    """

    def __init__(self, data: dict | None = None, tensor_type: str | None = None):
        super().__init__(data or {})
        self.convert_to_tensors(tensor_type)

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"BatchFeature has no key {name!r}") from None

    def convert_to_tensors(self, tensor_type: str | None = None) -> BatchFeature:
        """Turn every value into a "pt", "np" or "tf" tensor, in place (None leaves them)."""
        kind = _tensor_kind(tensor_type)
        if kind == "tf":
            _import_tensorflow()
        if kind is not None:
            for key, value in self.items():
                try:
                    self[key] = _convert(value, kind)
                except (ValueError, RuntimeError, TypeError) as exc:
                    raise ValueError(
                        f"can't make one {kind} tensor of {key!r} (clips of unequal shape?): {exc}"
                    ) from None
        return self

    def to(self, device_or_dtype: torch.device | str | int | torch.dtype) -> BatchFeature:
        """A new BatchFeature with tensors moved to a device, or floating tensors cast to a dtype."""
        moved = {}
        for key, value in self.items():
            if isinstance(value, Tensor):
                if isinstance(device_or_dtype, torch.dtype):
                    if value.is_floating_point() and device_or_dtype.is_floating_point:
                        value = value.to(device_or_dtype)
                else:
                    value = value.to(device_or_dtype)
            moved[key] = value
        return BatchFeature(moved)


# -- ASTFeatureExtractor ---------------------------------------------------------------------
FEATURE_EXTRACTOR_TYPE = "ASTFeatureExtractor"


def _float_tensor(samples, where: str) -> Tensor:
    """A float32 tensor of numeric samples (numpy arrays, lists, tensors), device kept."""
    if isinstance(samples, Tensor):
        tensor = samples
    else:
        array = np.asarray(samples)
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
            raise ValueError(f"raw_speech{where} must hold numbers, got dtype {array.dtype}")
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.is_complex():
        raise ValueError(f"raw_speech{where} must be real-valued audio, got complex samples")
    return tensor.to(torch.float32)


def _as_batch(raw_speech, device: torch.device | None) -> tuple[Tensor, Tensor]:
    """(B, N) zero-padded float32 clips and their (B,) lengths from any supported input."""
    if isinstance(raw_speech, np.generic):  # a numpy scalar: shape ()
        raw_speech = np.asarray(raw_speech)
    if isinstance(raw_speech, (np.ndarray, Tensor)):
        if raw_speech.ndim == 0 or raw_speech.ndim > 2:
            raise ValueError(
                "raw_speech must be one clip (samples,) or a batch (batch, samples) of mono "
                f"audio, got shape {tuple(raw_speech.shape)}; average the channels first"
            )
        waveforms = _float_tensor(raw_speech, "")
        waveforms = waveforms.unsqueeze(0) if waveforms.dim() == 1 else waveforms
        waveforms = waveforms.to(device) if device is not None else waveforms
        lengths = torch.full((waveforms.shape[0],), waveforms.shape[1], dtype=torch.long)
    elif isinstance(raw_speech, (list, tuple)):
        if len(raw_speech) == 0:
            raise ValueError("raw_speech is an empty batch: pass at least one clip")
        batched = isinstance(raw_speech[0], (np.ndarray, Tensor, list, tuple))
        clips = [
            _float_tensor(clip, f" (clip {i})" if batched else "")
            for i, clip in enumerate(raw_speech if batched else [raw_speech])
        ]
        for i, clip in enumerate(clips):
            if clip.dim() != 1:
                raise ValueError(
                    f"each clip must be 1-D mono audio, clip {i} has shape {tuple(clip.shape)}; "
                    "average the channels first"
                )
        if device is None:  # tensors on a GPU keep the work there
            device = next((c.device for c in clips if c.device.type != "cpu"), clips[0].device)
        lengths = torch.tensor([clip.shape[0] for clip in clips], dtype=torch.long)
        waveforms = torch.empty(len(clips), int(lengths.max()), device=device)  # (B, N)
        for row, clip in zip(waveforms, clips, strict=True):  # zeros after each clip
            row[: clip.shape[0]] = clip
            row[clip.shape[0] :] = 0.0
    else:
        raise TypeError(
            "raw_speech must be a numpy array, a torch tensor, or a list of floats/arrays/"
            f"tensors, got {type(raw_speech).__name__}"
        )
    if waveforms.shape[0] == 0:
        raise ValueError("raw_speech is an empty batch: pass at least one clip")
    # a sum is finite unless a sample is NaN/Inf (or the sum overflows): check samples only then
    finite = torch.isfinite(waveforms.sum(dim=1))  # (B,)
    if not bool(finite.all()):
        finite = torch.isfinite(waveforms).all(dim=1)
    if not bool(finite.all()):
        bad = int((~finite).nonzero()[0])
        where = "" if waveforms.shape[0] == 1 else f" (clip {bad})"
        raise ValueError(f"raw_speech contains NaN or Inf samples{where}")
    return waveforms, lengths.to(waveforms.device)


class ASTFeatureExtractor:
    """Audio Spectrogram Transformer features: normalised Kaldi log-mel filter banks.

    Same arguments, defaults, outputs and preprocessor_config.json as transformers'
    ``ASTFeatureExtractor``. Each clip becomes ``max_length`` frames (25 ms, every 10 ms) of
    ``num_mel_bins`` log-mel energies, padded at the end with ``padding_value`` or truncated,
    then normalised as (x - mean) / (2 std) (padded frames too, as transformers does).
    (transformers pads with 0.0 whatever ``padding_value`` says; at the default 0.0 the two agree.)
    The log-mels equal torchaudio's ``kaldi.fbank`` (the original recipe) to ~1e-6; transformers'
    own numpy fallback differs from torchaudio by up to ~7e-3 before normalisation.
    Unknown keyword arguments are kept and written back by ``save_pretrained``.

    ``center_short_clips=True`` (astaudio's own, off by default; transformers ignores the key)
    zero-pads a clip shorter than ``max_length`` frames' samples around the middle to that many
    samples before the filter banks, so that a word cut to its length looks like the keyword
    clips a short-window model was trained on (the bundled keyword model sets it).
    """

    model_input_names = ["input_values", "attention_mask"]

    def __init__(
        self,
        feature_size: int = 1,
        sampling_rate: int = SAMPLE_RATE,
        num_mel_bins: int = 128,
        max_length: int = 1024,
        padding_value: float = 0.0,
        do_normalize: bool = True,
        mean: float = AUDIOSET_MEAN,
        std: float = AUDIOSET_STD,
        return_attention_mask: bool = False,
        center_short_clips: bool = False,
        **kwargs,
    ):
        kind = kwargs.pop("feature_extractor_type", FEATURE_EXTRACTOR_TYPE)
        if kind != FEATURE_EXTRACTOR_TYPE:
            raise ValueError(f"this config is for a {kind}, not an {FEATURE_EXTRACTOR_TYPE}")
        padding_side = kwargs.pop("padding_side", "right")
        if padding_side != "right":
            raise ValueError(
                f"padding_side must be 'right' (AST pads at the end), got {padding_side!r}"
            )
        for name, value in (
            ("feature_size", feature_size), ("sampling_rate", sampling_rate),
            ("num_mel_bins", num_mel_bins), ("max_length", max_length),
        ):  # fmt: skip
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not float(std) > 0:
            raise ValueError(f"std must be positive, got {std!r}")
        frame_geometry(sampling_rate)
        self.feature_size = feature_size
        self.sampling_rate = sampling_rate
        self.num_mel_bins = num_mel_bins
        self.max_length = max_length
        self.padding_value = float(padding_value)
        self.padding_side = padding_side
        self.do_normalize = bool(do_normalize)
        self.mean = float(mean)
        self.std = float(std)
        self.return_attention_mask = bool(return_attention_mask)
        # astaudio's own setting (transformers ignores it): clips shorter than the window are
        # zero-padded around the middle before the filter banks, as keyword clips are recorded
        self.center_short_clips = bool(center_short_clips)
        self.extra: dict = kwargs

    # -- features -----------------------------------------------------------------------------
    def normalize(self, input_values):
        """(x - mean) / (2 std), for numpy arrays and tensors alike (dtype kept)."""
        return (input_values - self.mean) / (self.std * 2)

    def place_short_clips(
        self, waveforms: Tensor, lengths: Tensor | None
    ) -> tuple[Tensor, Tensor | None]:
        """(B, N) clips zero-padded at the end and their (B,) lengths (None: all N), with clips
        shorter than the window centred in it when ``center_short_clips`` is set (else as given)."""
        if not self.center_short_clips:
            return waveforms, lengths
        waveforms = waveforms.reshape(-1, waveforms.shape[-1])
        if lengths is None:
            lengths = torch.full((waveforms.shape[0],), waveforms.shape[-1], dtype=torch.long)
        window = window_samples(self.max_length, self.sampling_rate)
        return center_short_clips(waveforms, lengths.to(waveforms.device), window)

    def _features_and_mask(
        self, waveforms: Tensor, lengths: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        waveforms, lengths = self.place_short_clips(waveforms, lengths)
        waveforms, num_frames = _clips_and_frames(
            waveforms, lengths, self.sampling_rate, self.max_length
        )  # (B, N), (B,) real frames, truncated
        mask = torch.arange(self.max_length, device=waveforms.device) < num_frames.unsqueeze(1)
        # (B, max_length, M): the log-mels, padding_value after each clip's last frame
        features = torch.empty(
            len(num_frames), self.max_length, self.num_mel_bins, device=waveforms.device
        )
        if len(num_frames) and int(num_frames.max()) > 0:
            _log_mel_into(features, waveforms, num_frames, self.sampling_rate)
        _fill_past_ends(features, num_frames, self.padding_value)
        if self.do_normalize:  # in place: same float32 rounding as normalize()
            features.sub_(self.mean).div_(self.std * 2)
        return features, mask

    def extract(self, waveforms: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Model inputs (B, max_length, num_mel_bins) from a (B, N) or (N,) waveform tensor.

        For the pipelines: clips are zero-padded at the end to N, ``lengths`` (B,) says how many
        samples each really has (None: all N). Runs on the tensor's device, no checks of the
        sampling rate (the caller resamples) or of NaN samples.
        """
        return self._features_and_mask(waveforms, lengths)[0]

    def __call__(
        self,
        raw_speech,
        sampling_rate: int | None = None,
        return_tensors: str | None = None,
        return_attention_mask: bool | None = None,
        device: torch.device | str | None = None,
        padding: bool | str = "max_length",
        truncation: bool = True,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
    ) -> BatchFeature:
        """Featurise one clip or a batch of mono clips.

        ``padding``, ``truncation``, ``max_length`` and ``pad_to_multiple_of`` are accepted as
        transformers' ASTFeatureExtractor accepts them, and ignored as it ignores them: every
        clip becomes exactly ``self.max_length`` frames (padded or cut), the length the model's
        position embeddings were built for. Use :meth:`pad` to pad raw waveforms.

        Args:
            raw_speech: one clip (1-D numpy array, list of floats, 1-D tensor) or a batch
                (2-D array/tensor, or a list of 1-D arrays/lists/tensors of any lengths).
                Clips shorter than 400 samples (25 ms) have no complete frame: they come out
                fully padded, with an all-zero attention mask.
            sampling_rate: Hz of raw_speech; must equal the extractor's (resample otherwise).
            return_tensors: "pt", "np", "tf", or None for a list of numpy arrays.
            return_attention_mask: add "attention_mask" (B, max_length), 1 for real frames;
                None uses the extractor's setting.
            device: where to compute (default: the input tensors' device, else CPU); "pt"
                outputs stay there.

        Returns:
            BatchFeature with "input_values" (B, max_length, num_mel_bins) float32.
        """
        if sampling_rate is None:
            warnings.warn(
                f"pass sampling_rate= to {type(self).__name__}() (it expects "
                f"{self.sampling_rate} Hz audio); without it a wrong rate goes unnoticed",
                UserWarning,
                stacklevel=2,
            )
        elif sampling_rate != self.sampling_rate:
            raise ValueError(
                f"audio sampled at {sampling_rate} Hz, but this extractor expects "
                f"{self.sampling_rate} Hz: resample first, e.g. with "
                f"astaudio.load_audio(path, sampling_rate={self.sampling_rate}) or "
                f"soxr.resample(x, {sampling_rate}, {self.sampling_rate})"
            )
        kind = _tensor_kind(return_tensors)
        if kind == "tf":
            _import_tensorflow()
        if return_attention_mask is None:
            return_attention_mask = self.return_attention_mask
        waveforms, lengths = _as_batch(raw_speech, torch.device(device) if device else None)
        features, mask = self._features_and_mask(waveforms, lengths)
        outputs = {"input_values": features}
        if return_attention_mask:
            outputs["attention_mask"] = mask.to(torch.int32)
        if kind is None:  # like transformers: one numpy array per clip
            return BatchFeature({k: list(_to_numpy(v)) for k, v in outputs.items()})
        return BatchFeature(outputs, tensor_type=kind)

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """preprocessor_config.json contents, in transformers' keys (unknown keys kept)."""
        out = {
            "feature_extractor_type": FEATURE_EXTRACTOR_TYPE,
            "feature_size": self.feature_size,
            "sampling_rate": self.sampling_rate,
            "num_mel_bins": self.num_mel_bins,
            "max_length": self.max_length,
            "padding_value": self.padding_value,
            "padding_side": self.padding_side,
            "do_normalize": self.do_normalize,
            "mean": self.mean,
            "std": self.std,
            "return_attention_mask": self.return_attention_mask,
        }
        if self.center_short_clips:  # written only when set: other configs stay transformers'
            out["center_short_clips"] = True
        out.update(copy.deepcopy(self.extra))
        return out

    @classmethod
    def from_dict(cls, data: dict, **overrides) -> ASTFeatureExtractor:
        return cls(**{**data, **overrides})

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_dict` as JSON to ``path``."""
        Path(path).write_text(self.to_json_string())

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> ASTFeatureExtractor:
        """An extractor from a JSON file written by :meth:`to_json_file` or save_pretrained."""
        return cls.from_pretrained(path)

    def save_pretrained(self, folder: str | os.PathLike) -> list[str]:
        """Write ``folder/preprocessor_config.json``; returns the written files' paths, as
        transformers does."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / PREPROCESSOR_NAME
        path.write_text(self.to_json_string())
        return [str(path)]

    # -- padding raw sequences ----------------------------------------------------------------
    def pad(
        self,
        processed_features,
        padding: bool | str = True,
        max_length: int | None = None,
        truncation: bool = False,
        pad_to_multiple_of: int | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
    ) -> BatchFeature:
        """Pad (and cut) sequences of samples to one length, as transformers'
        ``SequenceFeatureExtractor.pad``.

        processed_features: a dict (or BatchFeature) whose "input_values" is a list of
            sequences (N_i,) or (N_i, feature_size), or a list of such dicts.
        padding: True / "longest" (to the longest), "max_length" (to ``max_length``), or
            False / "do_not_pad". Padding goes at the end, with ``padding_value``.
        truncation: cut sequences longer than ``max_length`` (needs padding="max_length").
        pad_to_multiple_of: round the padded length up to a multiple of this.
        return_attention_mask: add "attention_mask" (B, length), 1 for real samples; None uses
            the extractor's setting.
        return_tensors: "pt", "np", "tf", or None for a list of float32 numpy arrays.
        """
        name = self.model_input_names[0]
        if isinstance(processed_features, (list, tuple)) and processed_features:
            if isinstance(processed_features[0], Mapping):
                keys = processed_features[0].keys()
                processed_features = {k: [f[k] for f in processed_features] for k in keys}
        if not isinstance(processed_features, Mapping) or name not in processed_features:
            raise ValueError(f"pad() needs a dict or list of dicts with {name!r}")
        sequences = []
        for value in processed_features[name]:
            array = _to_numpy(value)
            sequences.append(array.astype(np.float32) if array.dtype.kind == "f" else array)
        mode = {True: "longest", False: "do_not_pad", "do_not_pad": "do_not_pad"}.get(
            padding, padding
        )
        if mode not in ("longest", "max_length", "do_not_pad"):
            raise ValueError(
                f"padding must be True, False, 'longest' or 'max_length', got {padding!r}"
            )
        if mode == "max_length" and max_length is None:
            raise ValueError("padding='max_length' needs max_length")
        if truncation and (mode != "max_length" or max_length is None):
            raise ValueError("truncation=True needs padding='max_length' and max_length")
        target = None
        if mode == "longest":
            target = max(len(x) for x in sequences)
        elif mode == "max_length":
            target = max_length
        if target is not None and pad_to_multiple_of:
            target = -(-target // pad_to_multiple_of) * pad_to_multiple_of
        if truncation:
            sequences = [x[:target] for x in sequences]
        lengths = [len(x) for x in sequences]
        if target is not None:
            sequences = [
                np.pad(
                    x,
                    [(0, max(target - len(x), 0))] + [(0, 0)] * (x.ndim - 1),
                    constant_values=self.padding_value,
                )
                for x in sequences
            ]
        outputs: dict = {name: sequences}
        if self.return_attention_mask if return_attention_mask is None else return_attention_mask:
            outputs["attention_mask"] = [
                (np.arange(len(x)) < n).astype(np.int32) for x, n in zip(sequences, lengths)
            ]
        if len({len(x) for x in sequences}) > 1:  # unequal lengths stay lists, as transformers
            return_tensors = None
        return BatchFeature(outputs, tensor_type=return_tensors)

    @classmethod
    def from_pretrained(
        cls,
        model: str | os.PathLike,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        token: str | bool | None = None,
        local_files_only: bool = False,
        subfolder: str = "",
        **overrides,
    ) -> ASTFeatureExtractor:
        """Read preprocessor_config.json from a folder (or its ``subfolder``), the file itself,
        a bundled model's name, or a hub id; ``overrides`` replace settings."""
        path = Path(model).expanduser()
        if not path.is_file():
            name = f"{subfolder}/{PREPROCESSOR_NAME}" if subfolder else PREPROCESSOR_NAME
            path = resolve_file(
                model, name, revision=revision, cache_dir=cache_dir,
                token=token, local_files_only=local_files_only,
            )  # fmt: skip
        try:
            data = json.loads(Path(path).read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
        validate_extractor_config_for_loading(data, path)
        return cls.from_dict(data, **overrides)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ASTFeatureExtractor) and self.to_dict() == other.to_dict()

    __hash__ = None

    def __repr__(self) -> str:
        return f"{type(self).__name__} {self.to_json_string()}"


EXTRACTOR_LIMITS = {
    "sampling_rate": (1000, 384000),
    "num_mel_bins": (1, 1024),
    "max_length": (1, 1_000_000),
}


def validate_extractor_config_for_loading(data: dict, source: str | os.PathLike) -> None:
    """CheckpointError (one line) for a preprocessor_config.json whose numbers can't be real:
    a rate of 10**9 Hz would size the filterbank for it and fail allocating."""
    from .errors import CheckpointError

    if data.get("feature_extractor_type", FEATURE_EXTRACTOR_TYPE) != FEATURE_EXTRACTOR_TYPE:
        return  # another model's extractor: the constructor says so
    for name, (low, high) in EXTRACTOR_LIMITS.items():
        if name not in data:
            continue
        value = data[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise CheckpointError(
                f"{source}: {name} must be an integer from {low:,} to {high:,}, got {value!r:.40}"
            )
    for name in ("mean", "std", "padding_value"):
        value = data.get(name, 0.0)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise CheckpointError(f"{source}: {name} must be a finite number, got {value!r:.40}")
