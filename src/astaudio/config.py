"""ASTConfig: the model's hyper-parameters, read from and written to transformers' config.json."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .activations import ACTIVATIONS
from .constants import CONFIG_NAME
from .hub import resolve_file

MODEL_TYPE = "audio-spectrogram-transformer"
PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")

# what to_dict writes when the config names no architectures
_ARCHITECTURE_DEFAULT = ["ASTForAudioClassification"]


class ASTConfig:
    """Hyper-parameters of an Audio Spectrogram Transformer.

    Same arguments and defaults as transformers' ``ASTConfig`` (the values of
    ``MIT/ast-finetuned-audioset-10-10-0.4593``). Keys of a config.json that this class does not
    know are kept in ``extra`` and written back by ``save_pretrained``.
    """

    model_type = MODEL_TYPE

    def __init__(
        self,
        hidden_size: int = 768,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 12,
        intermediate_size: int = 3072,
        hidden_act: str | Callable = "gelu",
        hidden_dropout_prob: float = 0.0,
        attention_probs_dropout_prob: float = 0.0,
        initializer_range: float = 0.02,
        layer_norm_eps: float = 1e-12,
        patch_size: int = 16,
        qkv_bias: bool = True,
        frequency_stride: int = 10,
        time_stride: int = 10,
        max_length: int = 1024,
        num_mel_bins: int = 128,
        num_labels: int | None = None,
        id2label: dict[int, str] | None = None,
        label2id: dict[str, int] | None = None,
        problem_type: str | None = None,
        architectures: list[str] | None = None,
        **extra: Any,
    ):
        if isinstance(patch_size, (list, tuple)):
            if len(set(patch_size)) != 1:
                raise ValueError(f"patch_size must be square, got {list(patch_size)}")
            patch_size = patch_size[0]
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.patch_size = patch_size
        self.qkv_bias = qkv_bias
        self.frequency_stride = frequency_stride
        self.time_stride = time_stride
        self.max_length = max_length
        self.num_mel_bins = num_mel_bins
        self.problem_type = problem_type
        self.architectures = architectures
        extra.pop("model_type", None)
        self.extra: dict[str, Any] = extra

        if id2label is not None:
            self.id2label = {int(k): str(v) for k, v in id2label.items()}
            if num_labels is not None and num_labels != len(self.id2label):
                raise ValueError(
                    f"num_labels={num_labels} disagrees with id2label, which has "
                    f"{len(self.id2label)} entries"
                )
        else:
            self.num_labels = 2 if num_labels is None else num_labels
        if label2id is not None and id2label is not None:
            self.label2id = {str(k): int(v) for k, v in label2id.items()}
        else:
            self.label2id = {name: i for i, name in self.id2label.items()}
        self.validate()

    # -- labels ---------------------------------------------------------------------------
    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    @num_labels.setter
    def num_labels(self, n: int) -> None:
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"num_labels must be a non-negative integer, got {n!r}")
        current = getattr(self, "id2label", None)
        if current is None or len(current) != n:
            self.id2label = {i: f"LABEL_{i}" for i in range(n)}
            self.label2id = {f"LABEL_{i}": i for i in range(n)}

    # -- geometry -------------------------------------------------------------------------
    @property
    def patch_grid(self) -> tuple[int, int]:
        """(frequency patches, time patches) of the Conv2d patch embedding."""
        freq = (self.num_mel_bins - self.patch_size) // self.frequency_stride + 1
        time = (self.max_length - self.patch_size) // self.time_stride + 1
        return freq, time

    @property
    def num_patches(self) -> int:
        freq, time = self.patch_grid
        return freq * time

    def validate(self) -> None:
        """Raise ValueError naming the first field whose value can't make a model."""
        positive = [
            "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
            "patch_size", "frequency_stride", "time_stride", "max_length", "num_mel_bins",
        ]  # fmt: skip
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads})"
            )
        if self.patch_size > self.num_mel_bins:
            raise ValueError(
                f"patch_size ({self.patch_size}) is larger than num_mel_bins ({self.num_mel_bins})"
            )
        if self.patch_size > self.max_length:
            raise ValueError(
                f"patch_size ({self.patch_size}) is larger than max_length ({self.max_length})"
            )
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, name)
            if not 0.0 <= float(value) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value!r}")
        if not float(self.layer_norm_eps) > 0:
            raise ValueError(f"layer_norm_eps must be positive, got {self.layer_norm_eps!r}")
        if not float(self.initializer_range) >= 0:
            raise ValueError(f"initializer_range must be >= 0, got {self.initializer_range!r}")
        if not callable(self.hidden_act) and self.hidden_act not in ACTIVATIONS:
            raise ValueError(
                f"hidden_act {self.hidden_act!r} is not a known activation; "
                f"use one of {sorted(ACTIVATIONS)} or a callable"
            )
        if self.problem_type is not None and self.problem_type not in PROBLEM_TYPES:
            raise ValueError(
                f"problem_type must be one of {PROBLEM_TYPES} or None, got {self.problem_type!r}"
            )

    # -- serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict in transformers' layout (string keys in id2label)."""
        if callable(self.hidden_act):
            raise ValueError("hidden_act is a callable, which can't be written to config.json")
        out: dict[str, Any] = {
            "architectures": self.architectures or list(_ARCHITECTURE_DEFAULT),
            "model_type": MODEL_TYPE,
        }
        for name in (
            "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
            "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob",
            "initializer_range", "layer_norm_eps", "patch_size", "qkv_bias", "frequency_stride",
            "time_stride", "max_length", "num_mel_bins", "problem_type",
        ):  # fmt: skip
            out[name] = getattr(self, name)
        out["id2label"] = {str(i): name for i, name in self.id2label.items()}
        out["label2id"] = dict(self.label2id)
        out.update(copy.deepcopy(self.extra))
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], **overrides: Any) -> ASTConfig:
        data = {**data, **overrides}
        model_type = data.get("model_type", MODEL_TYPE)
        if model_type != MODEL_TYPE:
            raise ValueError(f"model_type is {model_type!r}, not an AST config ({MODEL_TYPE!r})")
        if "num_labels" in overrides and "id2label" not in overrides:
            data.pop("id2label", None)
            data.pop("label2id", None)
        if "id2label" in overrides and "label2id" not in overrides:
            data.pop("label2id", None)
        return cls(**data)

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def save_pretrained(self, folder: str | os.PathLike) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / CONFIG_NAME
        path.write_text(self.to_json_string())
        return path

    @classmethod
    def from_json_file(cls, path: str | os.PathLike, **overrides: Any) -> ASTConfig:
        try:
            data = json.loads(Path(path).read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None
        return cls.from_dict(data, **overrides)

    @classmethod
    def from_pretrained(
        cls,
        model: str | os.PathLike,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        token: str | bool | None = None,
        local_files_only: bool = False,
        **overrides: Any,
    ) -> ASTConfig:
        """Read config.json from a folder, a config file path, or a hub id."""
        if Path(model).is_file():
            return cls.from_json_file(model, **overrides)
        path = resolve_file(
            model, CONFIG_NAME, revision=revision, cache_dir=cache_dir, token=token,
            local_files_only=local_files_only,
        )  # fmt: skip
        return cls.from_json_file(path, **overrides)

    def copy(self, **changes: Any) -> ASTConfig:
        new = copy.deepcopy(self)
        for key, value in changes.items():
            setattr(new, key, value)
        new.validate()
        return new

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ASTConfig) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"ASTConfig({self.to_json_string()})"
