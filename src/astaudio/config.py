"""ASTConfig: the model's hyper-parameters, read from and written to transformers' config.json."""

from __future__ import annotations

import copy
import inspect
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
    know are kept in ``extra`` and written back by ``save_pretrained``. One field more:
    ``classifier_layer_norm_eps`` (None: the head's LayerNorm uses ``layer_norm_eps``, as in
    transformers), which original AST checkpoints set to 1e-5; see
    docs/transformers-compatibility.md.

    Like transformers, the fields are checked one by one at construction, and together (heads
    dividing hidden_size, patches fitting the spectrogram) by :meth:`validate` when a model is
    built, so a config can be made first and adjusted after.
    """

    model_type = MODEL_TYPE
    # transformers' PreTrainedConfig API that code written for it reads
    sub_configs: dict[str, type] = {}
    is_encoder_decoder = False
    base_model_tp_plan = None
    base_model_pp_plan = None

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
        classifier_layer_norm_eps: float | None = None,
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
        return_dict: bool = True,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
        dtype: Any = None,
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
        # None: the head's LayerNorm uses layer_norm_eps, as in transformers (which has no such
        # field and ignores the key). The original AST code's head uses torch's 1e-5.
        self.classifier_layer_norm_eps = classifier_layer_norm_eps
        self.patch_size = patch_size
        self.qkv_bias = qkv_bias
        self.frequency_stride = frequency_stride
        self.time_stride = time_stride
        self.max_length = max_length
        self.num_mel_bins = num_mel_bins
        self.problem_type = problem_type
        self.architectures = architectures
        self.return_dict = return_dict
        self.output_hidden_states = output_hidden_states
        self.output_attentions = output_attentions
        if dtype is None:
            dtype = extra.pop("torch_dtype", None)  # transformers 4's name for it
        self.dtype = dtype
        extra.pop("model_type", None)
        # how transformers picks an attention kernel; astaudio always uses SDPA, or the explicit
        # softmax when attention weights are asked for. Kept, not written to config.json.
        self._attn_implementation = extra.pop("attn_implementation", None)
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
        self._check_fields()

    # -- transformers' PreTrainedConfig behaviour ----------------------------------------
    def __getattr__(self, name: str) -> Any:
        # keys of config.json this class doesn't model (``is_decoder``, ...) read as attributes
        extra = self.__dict__.get("extra")
        if extra is not None and name in extra:
            return extra[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __iter__(self):
        """The public attribute names, as iterating a transformers config gives."""
        return iter([k for k in vars(self) if not k.startswith("_") and k != "extra"])

    @property
    def dtype(self) -> Any:
        """The weights' torch dtype written by save_pretrained (None when unknown)."""
        if self._dtype is None:
            return None
        import torch

        return getattr(torch, self._dtype)

    @dtype.setter
    def dtype(self, value: Any) -> None:
        if value is None:
            self._dtype = None
            return
        name = str(value).removeprefix("torch.")
        if name not in ("float32", "float16", "bfloat16", "float64"):
            raise ValueError(f"dtype must be a floating torch dtype or its name, got {value!r}")
        self._dtype = name

    def get_text_config(self, decoder: bool | None = None, encoder: bool | None = None):
        """AST has no text sub-config: the config itself, as transformers returns."""
        return self

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

    @property
    def head_layer_norm_eps(self) -> float:
        """The eps of the classifier head's LayerNorm: classifier_layer_norm_eps, or
        layer_norm_eps when that is None."""
        if self.classifier_layer_norm_eps is None:
            return self.layer_norm_eps
        return self.classifier_layer_norm_eps

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
        """Raise ValueError naming the first field whose value can't make a model (each field,
        then the fields together); models call it when they are built."""
        self._check_fields()
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

    def _check_fields(self) -> None:
        """Raise ValueError naming the first field whose own value is impossible."""
        positive = [
            "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
            "patch_size", "frequency_stride", "time_stride", "max_length", "num_mel_bins",
        ]  # fmt: skip
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, name)
            if not 0.0 <= float(value) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value!r}")
        if not float(self.layer_norm_eps) > 0:
            raise ValueError(f"layer_norm_eps must be positive, got {self.layer_norm_eps!r}")
        head_eps = self.classifier_layer_norm_eps
        if head_eps is not None and not float(head_eps) > 0:
            raise ValueError(
                f"classifier_layer_norm_eps must be positive or None, got {head_eps!r}"
            )
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
        if self.classifier_layer_norm_eps is not None:  # absent: transformers' behaviour
            out["classifier_layer_norm_eps"] = self.classifier_layer_norm_eps
        out["id2label"] = {str(i): name for i, name in self.id2label.items()}
        out["label2id"] = dict(self.label2id)
        # transformers' output flags, written only when they differ from the defaults
        for name, default in (
            ("return_dict", True), ("output_hidden_states", False), ("output_attentions", False)
        ):  # fmt: skip
            if getattr(self, name) != default:
                out[name] = getattr(self, name)
        out.update(copy.deepcopy(self.extra))
        if self._dtype is not None:
            out["dtype"] = self._dtype
        return out

    def to_diff_dict(self) -> dict[str, Any]:
        """transformers' name for the dict that config.json holds (the same as to_dict)."""
        return self.to_dict()

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

    def to_json_file(self, path: str | os.PathLike, use_diff: bool = True) -> None:
        """Write the config as JSON to ``path`` (use_diff: accepted for transformers' API)."""
        Path(path).write_text(self.to_json_string())

    def save_pretrained(self, folder: str | os.PathLike, **kwargs: Any) -> Path:
        """Write ``folder/config.json``; returns its path. transformers' hub arguments
        (push_to_hub, ...) are refused with a TypeError naming them."""
        if kwargs:
            raise TypeError(f"save_pretrained() got unexpected arguments: {sorted(kwargs)}")
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
        except UnicodeDecodeError:  # a binary file where a config was expected
            raise _not_a_config(Path(path)) from None
        validate_config_for_loading(data, path)
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
        subfolder: str = "",
        return_unused_kwargs: bool = False,
        **overrides: Any,
    ) -> ASTConfig | tuple[ASTConfig, dict[str, Any]]:
        """Read config.json from a folder (or its ``subfolder``), a config file path, a bundled
        model's name, or a hub id; ``overrides`` replace fields."""
        if Path(model).is_file():
            config = cls.from_json_file(model, **overrides)
        else:
            path = resolve_file(
                model, f"{subfolder}/{CONFIG_NAME}" if subfolder else CONFIG_NAME,
                revision=revision, cache_dir=cache_dir, token=token,
                local_files_only=local_files_only,
            )  # fmt: skip
            config = cls.from_json_file(path, **overrides)
        return (config, {}) if return_unused_kwargs else config

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


# -- configs read from files --------------------------------------------------------------------
# Ranges far beyond any released AST (AudioSet: 768 x 12, 1024 frames, 527 labels) that still
# stop a hostile or corrupt config.json before it allocates or loops: max_length 10**9 would
# ask for 307 GB of position embeddings, num_hidden_layers 10**6 takes minutes to build.
CONFIG_LIMITS = {
    "hidden_size": 16384,
    "num_hidden_layers": 1000,
    "num_attention_heads": 1024,
    "intermediate_size": 262144,
    "patch_size": 1024,
    "frequency_stride": 1024,
    "time_stride": 1024,
    "max_length": 1_000_000,
    "num_mel_bins": 1024,
    "num_labels": 1_000_000,
}


def validate_config_for_loading(data: Any, source: str | os.PathLike = "config.json") -> None:
    """Check a config.json's contents before anything is built from them.

    Raises CheckpointError (one line naming the file and field) for a config that is not a
    JSON object, fields of the wrong type or out of range (`CONFIG_LIMITS`), label maps that
    are not objects, or a model whose parameters would not fit in the memory available.
    """
    from .errors import CheckpointError

    def fail(message: str) -> None:
        raise CheckpointError(f"{source}: {message}")

    if not isinstance(data, dict):
        fail(f"expected a JSON object, got a JSON {type(data).__name__}")
    for name, limit in CONFIG_LIMITS.items():
        if name not in data or (name == "num_labels" and data[name] is None):
            continue
        value = data[name]
        if isinstance(value, bool) or not isinstance(value, int):
            fail(f"{name} must be an integer, got {value!r:.40}")
        if not 0 < value <= limit and not (name == "num_labels" and value == 0):
            fail(f"{name}={value} is out of range (1 to {limit:,})")
    for name in ("id2label", "label2id"):
        if name in data and data[name] is not None and not isinstance(data[name], dict):
            fail(f"{name} must be a JSON object, got a JSON {type(data[name]).__name__}")
    id2label = data.get("id2label") or {}
    if len(id2label) > CONFIG_LIMITS["num_labels"]:
        fail(f"id2label has {len(id2label):,} entries (at most {CONFIG_LIMITS['num_labels']:,})")
    for key in id2label:
        if not str(key).lstrip("-").isdigit():
            fail(f"id2label keys must be class numbers, got {key!r:.40}")
    needed = 4 * estimate_parameters(data)
    available = available_memory()
    if available is not None and needed > available:
        fail(
            f"the model it describes needs {needed / 2**30:,.1f} GiB for its float32 weights; "
            f"{available / 2**30:,.1f} GiB of memory is available"
        )


def estimate_parameters(data: dict[str, Any]) -> int:
    """Parameters of the classifier a config dict describes, from its shapes (nothing built)."""
    parameters = inspect.signature(ASTConfig).parameters
    get = {
        name: parameters[name].default if data.get(name) is None else data[name]
        for name in CONFIG_LIMITS
    }
    h, layers, inner = get["hidden_size"], get["num_hidden_layers"], get["intermediate_size"]
    patch = get["patch_size"]
    labels = len(data.get("id2label") or {}) or get["num_labels"] or 2
    freq = max(0, (get["num_mel_bins"] - patch) // get["frequency_stride"] + 1)
    time = max(0, (get["max_length"] - patch) // get["time_stride"] + 1)
    embeddings = h * patch * patch + h + (freq * time + 2) * h + 2 * h
    layer = 4 * (h * h + h) + 2 * h * inner + inner + h + 4 * h
    return embeddings + layers * layer + 2 * h + labels * (h + 1) + 2 * h


def available_memory() -> int | None:
    """Bytes of memory available to allocate now (MemAvailable on Linux), or None if unknown."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _not_a_config(path: Path) -> Exception:
    """The error for a binary file given as a model: a torch checkpoint of the original AST
    repository (zip archive or bare pickle) gets the command that converts it."""
    from .errors import ModelNotFoundError

    with open(path, "rb") as handle:
        head = handle.read(4)
    if head.startswith((b"PK\x03\x04", b"\x80")):
        return ModelNotFoundError(
            f"{path}: a torch checkpoint, not a model folder; if it is an original AST "
            f"checkpoint, convert it first: astaudio convert {path} -o FOLDER"
        )
    return ModelNotFoundError(f"{path}: not a model folder or config.json (binary file)")
