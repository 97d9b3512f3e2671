"""Reading and writing AST weights.

* transformers' layout: a folder or hub repo with config.json and model.safetensors (also
  sharded safetensors, or pytorch_model.bin read with ``torch.load(weights_only=True)``);
* the original research checkpoints (github YuanGongND/ast ``.pth`` files);
* ImageNet initialisation from timm's DeiT (``deit_base_distilled_patch16_384``), as in the paper.

The last two are converted in :mod:`astaudio.original`, the position embeddings adapted in
:mod:`astaudio.posemb`; their public names are re-exported here.

Weights that don't fit the model raise :class:`CheckpointError` listing the missing, unexpected
and mismatched keys; nothing is dropped silently. Position embeddings are adapted (centre cut or
bilinear interpolation, as the AST code does) when the spectrogram size or strides change.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import ASTConfig
from .constants import (  # WEIGHT_FILES: in the order transformers prefers them
    CONFIG_NAME,
    ONNX_NAME,
    SAFE_WEIGHTS_NAME,
    WEIGHT_FILES,
    WEIGHTS_NAME,
)
from .errors import CheckpointError, ModelNotFoundError
from .hub import resolve_file
from .model import BASE_MODEL_PREFIX, ASTForAudioClassification, ASTModel, ASTPreTrainedModel
from .original import (  # noqa: F401 (re-exported)
    ORIGINAL_EPS,
    ORIGINAL_HEAD_DIM,
    ORIGINAL_HEAD_LAYER_NORM_EPS,
    ORIGINAL_LAYER_NORM_EPS,
    config_from_original_state_dict,
    convert_original_checkpoint,
    convert_original_state_dict,
    init_from_deit,
    load_original_checkpoint,
    refuse_transformers_format,
)
from .posemb import _shape, adapt_position_embeddings

__all__ = [
    "SAFE_WEIGHTS_NAME",
    "WEIGHTS_NAME",
    "adapt_position_embeddings",
    "config_from_original_state_dict",
    "convert_original_state_dict",
    "init_from_deit",
    "load_original_checkpoint",
    "load_pretrained",
    "load_state_dict_file",
    "normalize_key_names",
    "refuse_transformers_format",
    "relabel_classifier",
    "save_pretrained",
]

logger = logging.getLogger(__name__)


POSITION_KEY = "embeddings.position_embeddings"
HEAD_PREFIX = "classifier."
LABEL_OVERRIDES = ("num_labels", "id2label", "label2id")


# -- files --------------------------------------------------------------------------------
def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of one weights file: safetensors by extension, else ``torch.load(weights_only=True)``.

    A pickle that needs arbitrary code to load is refused (CheckpointError), never executed.
    Wrappers such as ``{"state_dict": {...}}`` or ``{"model": {...}}`` are unwrapped.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(path, device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        text = str(exc)
        if "weights only load failed" in text.lower():
            detail = text.partition("WeightsUnpickler error:")[2].strip().split(". ")[0]
            detail = " ".join(detail.split())[:200] or "unsupported content"
            raise CheckpointError(
                f"{path}: refused to load: the safe loader (torch.load weights_only=True) "
                f"rejected it ({detail}); it is not plain tensors, and loading it any other way "
                "could run arbitrary code"
            ) from None
        reason = " ".join(text.split())[:200] or type(exc).__name__
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({reason})") from None
    return _tensor_dict(loaded, path)


def _tensor_dict(loaded: Any, path: Path) -> dict[str, torch.Tensor]:
    for wrapper in ("state_dict", "model", "model_state_dict"):
        if isinstance(loaded, Mapping) and isinstance(loaded.get(wrapper), Mapping):
            loaded = loaded[wrapper]
            break
    if not isinstance(loaded, Mapping):
        raise CheckpointError(f"{path}: holds a {type(loaded).__name__}, not a state dict")
    bad = [k for k, v in loaded.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: entries that are not tensors: {_list_keys(bad)}")
    return {str(k): v for k, v in loaded.items()}


def save_pretrained(
    model: ASTPreTrainedModel, folder: str | os.PathLike, safe_serialization: bool = True
) -> Path:
    """Write ``config.json`` and ``model.safetensors`` (metadata ``{"format": "pt"}``), or
    ``pytorch_model.bin`` when ``safe_serialization`` is False, in transformers' layout.

    Weight files of the other format left in the folder are removed, so that a later load
    cannot pick up stale weights.
    """
    folder = Path(folder)
    if folder.is_file():
        raise CheckpointError(f"{folder}: is a file; save_pretrained needs a folder")
    folder.mkdir(parents=True, exist_ok=True)
    config = model.config.copy()
    config.architectures = [type(model).__name__]
    config.dtype = model.dtype
    config.save_pretrained(folder)

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    target = SAFE_WEIGHTS_NAME if safe_serialization else WEIGHTS_NAME
    _remove_stale_weights(folder, keep=target)
    if safe_serialization:
        from safetensors.torch import save_file

        save_file(state, folder / target, metadata={"format": "pt"})
    else:
        torch.save(state, folder / target)
    return folder


def _remove_stale_weights(folder: Path, keep: str) -> None:
    for name in WEIGHT_FILES:
        path = folder / name
        if name == keep or not path.is_file():
            continue
        if name.endswith(".index.json"):
            try:
                shards = set(json.loads(path.read_text())["weight_map"].values())
            except (ValueError, KeyError, TypeError):
                shards = set()
            for shard in shards:
                if "/" not in shard and (folder / shard).is_file():
                    (folder / shard).unlink()
        path.unlink()


# -- key names ------------------------------------------------------------------------------
# transformers 5 renames modules in memory (and back on save); accept its in-memory names too.
_V5_RENAMES = [
    (re.compile(r"(^|\.)layers\.(\d+)\."), r"\1encoder.layer.\2."),
    (re.compile(r"\.attention\.q_proj\."), ".attention.attention.query."),
    (re.compile(r"\.attention\.k_proj\."), ".attention.attention.key."),
    (re.compile(r"\.attention\.v_proj\."), ".attention.attention.value."),
    (re.compile(r"\.attention\.o_proj\."), ".attention.output.dense."),
    (re.compile(r"\.mlp\.fc1\."), ".intermediate.dense."),
    (re.compile(r"\.mlp\.fc2\."), ".output.dense."),
]
_V5_LAYER = re.compile(r"(^|\.)layers\.\d+\.")


def normalize_key_names(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename transformers 5's in-memory names (``layers.0.attention.q_proj``, ``mlp.fc1``) to
    the checkpoint-file names (``encoder.layer.0.attention.attention.query``,
    ``intermediate.dense``); other keys are returned unchanged."""
    out = {}
    for key, value in state_dict.items():
        if _V5_LAYER.search(key):
            for pattern, replacement in _V5_RENAMES:
                key = pattern.sub(replacement, key)
        out[key] = value
    return out


def _list_keys(keys, limit: int = 12) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


# -- fitting a state dict to a model ------------------------------------------------------------
def _match_prefix(cls: type, state_dict: dict[str, torch.Tensor], source: str) -> dict:
    """Add or strip ``audio_spectrogram_transformer.`` so the keys fit ``cls``."""
    prefix = BASE_MODEL_PREFIX + "."
    has_prefix = any(k.startswith(prefix) for k in state_dict)
    if issubclass(cls, ASTModel):
        if not has_prefix:
            return state_dict
        head = [k for k in state_dict if not k.startswith(prefix)]
        if head:
            logger.warning(
                "%s: ASTModel does not use the classification head of this checkpoint (%s); "
                "load it with ASTForAudioClassification to keep it",
                source,
                _list_keys(head),
            )
        return {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
    if has_prefix:
        return state_dict
    return {k if k.startswith(HEAD_PREFIX) else prefix + k: v for k, v in state_dict.items()}


def _build_and_load(
    cls: type,
    config: ASTConfig,
    state_dict: dict[str, torch.Tensor],
    *,
    source: str,
    checkpoint_grid: tuple[int, int] | None,
    labels_overridden: bool,
    ignore_mismatched_sizes: bool,
    info: dict[str, Any] | None = None,
) -> ASTPreTrainedModel:
    """A ``cls(config)`` holding state_dict's weights; what doesn't fit raises CheckpointError.

    ``info``, when given, receives transformers' loading info: the sets missing_keys,
    unexpected_keys and mismatched_keys (the keys initialised afresh or ignored), error_msgs.
    """
    state_dict = _match_prefix(cls, normalize_key_names(state_dict), source)
    with torch.device("meta"):  # no time spent initialising weights that get overwritten
        model = cls(config)
    model.to_empty(device="cpu")
    expected = {k: v.shape for k, v in model.state_dict().items()}
    is_classifier = issubclass(cls, ASTForAudioClassification)
    pos_key = (BASE_MODEL_PREFIX + "." if is_classifier else "") + POSITION_KEY

    pos = state_dict.get(pos_key)
    if pos is not None and pos_key in expected and pos.shape != expected[pos_key]:
        new_grid = config.patch_grid
        fits_old = (
            checkpoint_grid is not None
            and pos.shape == (1, 2 + checkpoint_grid[0] * checkpoint_grid[1], expected[pos_key][2])
            and tuple(checkpoint_grid) != new_grid
        )
        if fits_old:
            logger.info(
                "%s: position embeddings adapted from the %dx%d patch grid to %dx%d",
                source,
                *checkpoint_grid,
                *new_grid,
            )
            state_dict = {
                **state_dict,
                pos_key: adapt_position_embeddings(pos, checkpoint_grid, new_grid),
            }

    missing = set(expected) - set(state_dict)
    unexpected = set(state_dict) - set(expected)
    mismatched = {k for k in set(expected) & set(state_dict) if state_dict[k].shape != expected[k]}
    to_init: set[str] = set()

    head_keys = {k for k in expected if k.startswith(HEAD_PREFIX)}
    checkpoint_head = {k for k in state_dict if k.startswith(HEAD_PREFIX)}
    if is_classifier and not checkpoint_head and head_keys <= missing:
        logger.warning(
            "%s: the checkpoint has no classifier head; %s newly initialised, train it before use",
            source,
            _list_keys(head_keys),
        )
        missing -= head_keys
        to_init |= head_keys
    if labels_overridden:
        dense = HEAD_PREFIX + "dense."
        redone = {k for k in missing | mismatched if k.startswith(dense)}
        dropped = {k for k in unexpected if k.startswith(dense)}
        if redone or dropped:
            old = state_dict.get(dense + "weight")
            logger.warning(
                "%s: classifier head %s (the checkpoint's has %s labels) because "
                "num_labels/id2label was overridden; fine-tune it before use",
                source,
                f"re-initialised for {config.num_labels} labels"
                if config.num_labels
                else "dense layer dropped (num_labels=0: logits are the pooled features)",
                "?" if old is None else old.shape[0],
            )
            missing -= redone
            mismatched -= redone
            unexpected -= dropped
            to_init |= redone

    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"missing keys: {_list_keys(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_list_keys(unexpected)}")
        if mismatched:
            shapes = [
                f"{k}: checkpoint {_shape(state_dict[k].shape)} vs model {_shape(expected[k])}"
                for k in sorted(mismatched)
            ]
            parts.append(f"mismatched shapes: {_list_keys(shapes)}")
        details = "; ".join(parts)
        if not ignore_mismatched_sizes:
            raise CheckpointError(
                f"{source}: checkpoint does not fit {cls.__name__} with this config: {details} "
                "(check the model class and config; ignore_mismatched_sizes=True "
                "re-initialises what doesn't fit)"
            )
        logger.warning(
            "%s: ignore_mismatched_sizes=True: re-initialised or ignored weights that don't fit: %s",
            source,
            details,
        )
        to_init |= missing | mismatched

    if info is not None:
        info.update(
            missing_keys=set(missing | (to_init - mismatched)),
            unexpected_keys=set(unexpected) | {k for k in state_dict if k not in expected},
            mismatched_keys={(k, state_dict[k].shape, expected[k]) for k in mismatched},
            error_msgs=[],
        )
    # Initialise whole modules owning a fresh parameter, then copy the loaded ones over them.
    for key in sorted(to_init):
        model._init_weights(model.get_submodule(key.rpartition(".")[0]))
    loadable = {k: v for k, v in state_dict.items() if k in expected and k not in to_init}
    with torch.no_grad():
        result = model.load_state_dict(loadable, strict=False)
    assert not result.unexpected_keys and set(result.missing_keys) == to_init
    return model.eval()


# -- transformers folders and hub ids ---------------------------------------------------------
def _resolve_dtype(
    dtype: torch.dtype | str | None, config: ASTConfig, state_dict: Mapping[str, torch.Tensor]
) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    name = str(dtype).removeprefix("torch.")
    if name == "auto":
        name = str(config.dtype or "").removeprefix("torch.")
        if not name:
            floats = [v.dtype for v in state_dict.values() if v.is_floating_point()]
            return floats[0] if floats else None
    resolved = getattr(torch, name, None)
    if not isinstance(resolved, torch.dtype) or not resolved.is_floating_point:
        raise ValueError(f"dtype must be a floating torch dtype or 'auto', got {dtype!r}")
    return resolved


def _read_weights(
    model: str | os.PathLike, subfolder: str = "", **hub: Any
) -> tuple[dict[str, torch.Tensor], str]:
    """The state dict of a folder/hub repo: safetensors, sharded safetensors, or .bin."""
    where = f"{subfolder}/" if subfolder else ""
    for name in WEIGHT_FILES:
        path = resolve_file(model, where + name, required=False, **hub)
        if path is None:
            continue
        if not name.endswith(".index.json"):
            return load_state_dict_file(path), str(path)
        try:
            weight_map = json.loads(Path(path).read_text())["weight_map"]
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{path}: not a valid shard index ({exc})") from None
        state_dict: dict[str, torch.Tensor] = {}
        for shard in sorted(set(weight_map.values())):
            shard_path = resolve_file(model, where + shard, **hub)
            state_dict.update(load_state_dict_file(shard_path))
        absent = set(weight_map) - set(state_dict)
        if absent:
            raise CheckpointError(f"{path}: keys listed but not in any shard: {_list_keys(absent)}")
        return state_dict, str(path)
    hint = ""
    if Path(os.fspath(model), ONNX_NAME).is_file():
        hint = (
            f"; it holds an ONNX export ({ONNX_NAME}): run it with --backend onnxruntime "
            "(load_classifier(..., backend='onnxruntime'))"
        )
    raise ModelNotFoundError(
        f"{os.fspath(model)}: no model weights found (looked for {', '.join(WEIGHT_FILES)}){hint}"
    )


# from_pretrained's arguments of transformers that change nothing here
_IGNORED_LOAD_ARGS = (
    "low_cpu_mem_usage", "use_safetensors", "trust_remote_code",
    "proxies", "resume_download", "_fast_init", "from_tf", "from_flax", "mirror",
    "offload_folder", "offload_state_dict", "key_mapping",
)  # fmt: skip


def _config_field_names(config: ASTConfig) -> set[str]:
    import inspect

    names = set(inspect.signature(ASTConfig.__init__).parameters) - {"self", "extra"}
    return names | set(config.extra) | set(vars(config))


def _device_of(device_map: Any) -> torch.device | None:
    """The one device of transformers' ``device_map`` ("cpu", "cuda", 0, {"": dev}, "auto")."""
    if device_map is None:
        return None
    if isinstance(device_map, Mapping):
        devices = set(device_map.values())
        if len(devices) != 1:
            raise ValueError(
                f"device_map places parts of the model on several devices ({sorted(map(str, devices))}); "
                "astaudio models are small enough for one: pass one device"
            )
        device_map = devices.pop()
    if device_map == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device_map)


def load_pretrained(
    cls: type,
    model: str | os.PathLike | None,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
    force_download: bool = False,
    subfolder: str = "",
    ignore_mismatched_sizes: bool = False,
    torch_dtype: torch.dtype | str | None = None,
    dtype: torch.dtype | str | None = None,
    device_map: Any = None,
    config: ASTConfig | str | os.PathLike | None = None,
    state_dict: Mapping[str, torch.Tensor] | None = None,
    output_loading_info: bool = False,
    **kwargs: Any,
) -> ASTPreTrainedModel | tuple[ASTPreTrainedModel, dict[str, Any]]:
    """``cls.from_pretrained``: a model folder, bundled model or hub id (config.json +
    weights) -> model in eval mode, on the CPU (or ``device_map``'s device), float32 unless
    ``dtype``/``torch_dtype`` (a torch dtype, its name, or "auto" for the checkpoint's) says
    otherwise.

    ``model`` may be None when ``config`` and ``state_dict`` are given. ``subfolder`` reads
    the files from a folder inside the model. ``output_loading_info=True`` returns
    ``(model, info)`` as transformers does. Other keyword arguments must be config fields and
    change them (``num_labels=10`` gives a new, freshly initialised head with a warning;
    ``max_length=128`` adapts the position embeddings); any other name raises TypeError.
    A checkpoint of the other class loads too: ASTModel drops a classifier's head,
    ASTForAudioClassification gets a new head on a base checkpoint.
    """
    if dtype is not None and torch_dtype is not None:
        raise ValueError("pass dtype or torch_dtype, not both")
    if torch.empty(0).device.type == "meta":
        raise RuntimeError(
            "You are using `from_pretrained` with a meta device context manager, which would "
            "leave the weights unloaded; call it outside `with torch.device('meta')`"
        )
    attn_implementation = kwargs.pop("attn_implementation", None)
    for name in _IGNORED_LOAD_ARGS:
        kwargs.pop(name, None)
    if model is None and (config is None or state_dict is None):
        raise ValueError("from_pretrained(None, ...) needs both config= and state_dict=")
    if model is not None and Path(os.fspath(model)).expanduser().is_file():
        raise CheckpointError(
            f"{model}: is a file; from_pretrained takes a model folder (config.json + weights) "
            "or a hub id; for the original AST .pth files use "
            "ASTForAudioClassification.from_original_checkpoint"
        )
    hub = dict(
        revision=revision, cache_dir=cache_dir, token=token, local_files_only=local_files_only,
        force_download=force_download,
    )  # fmt: skip
    if config is not None and not isinstance(config, ASTConfig):
        config = ASTConfig.from_pretrained(config, subfolder=subfolder)
    file_config = None
    if model is not None:
        where = f"{subfolder}/" if subfolder else ""
        config_path = resolve_file(model, where + CONFIG_NAME, required=config is None, **hub)
        file_config = None if config_path is None else ASTConfig.from_json_file(config_path)
    base = config if config is not None else file_config
    unknown = sorted(set(kwargs) - _config_field_names(base))
    if unknown:
        raise TypeError(
            f"{cls.__name__}.from_pretrained() got arguments that are neither loading options "
            f"nor config fields: {', '.join(unknown)}"
        )
    config = ASTConfig.from_dict(base.to_dict(), **kwargs) if kwargs else base.copy()
    if attn_implementation is not None:
        config._attn_implementation = attn_implementation

    if state_dict is not None:
        source = "state_dict"
        state_dict = dict(state_dict)
    else:
        state_dict, source = _read_weights(model, subfolder=subfolder, **hub)
    labels_overridden = file_config is not None and file_config.num_labels != config.num_labels
    info: dict[str, Any] = {}
    loaded = _build_and_load(
        cls,
        config,
        state_dict,
        source=source,
        checkpoint_grid=None if file_config is None else file_config.patch_grid,
        labels_overridden=labels_overridden,
        ignore_mismatched_sizes=ignore_mismatched_sizes,
        info=info,
    )
    target_dtype = _resolve_dtype(dtype if dtype is not None else torch_dtype, config, state_dict)
    if target_dtype is not None:
        loaded = loaded.to(target_dtype)
    device = _device_of(device_map)
    if device is not None:
        loaded = loaded.to(device)
    return (loaded, info) if output_loading_info else loaded


# -- relabelling a classifier --------------------------------------------------------------------
def relabel_classifier(model: ASTForAudioClassification, labels: list[str]) -> tuple[int, int]:
    """Give the model's classifier one row per name in ``labels``, in that order, in place.

    A row whose label name the model already has keeps its trained weights (reordered as
    needed); rows of new names are freshly initialised. Returns (rows kept, rows of them that
    moved). Nothing changes when the labels are already the model's, in order.
    """
    config = model.config
    old = [config.id2label[i] for i in range(config.num_labels)]
    if old == list(labels):
        return len(old), 0
    dense = model.classifier.dense
    fresh = nn.Linear(config.hidden_size, len(labels))
    model._init_weights(fresh)
    position = {name: i for i, name in enumerate(old)}
    kept = [(i, position[name]) for i, name in enumerate(labels) if name in position]
    if not isinstance(dense, nn.Linear):  # a model without a head (num_labels 0)
        kept = []
    with torch.no_grad():
        for new_row, old_row in kept:
            fresh.weight[new_row] = dense.weight[old_row]
            fresh.bias[new_row] = dense.bias[old_row]
    parameter = next(model.parameters())
    model.classifier.dense = fresh.to(device=parameter.device, dtype=parameter.dtype)
    config.id2label = dict(enumerate(labels))
    config.label2id = {name: i for i, name in enumerate(labels)}
    return len(kept), sum(new_row != old_row for new_row, old_row in kept)
