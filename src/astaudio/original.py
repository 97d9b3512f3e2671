"""The original research checkpoints (github YuanGongND/ast ``.pth`` files) and ImageNet
initialisation from timm's DeiT (``deit_base_distilled_patch16_384``), as in the AST paper.

timm's key names are converted to transformers' (the fused q/k/v rows split), the config is
inferred from tensor shapes, and the original code's layer-norm eps (1e-6 in the encoder, 1e-5
in the head) are kept. Loading the converted weights into a model is
:mod:`astaudio.checkpoints`' job.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .config import ASTConfig
from .constants import CONFIG_NAME, WEIGHT_FILES
from .errors import CheckpointError, NeedsNoConversionError
from .model import BASE_MODEL_PREFIX, ASTForAudioClassification, ASTPreTrainedModel
from .posemb import _shape, adapt_position_embeddings

# checkpoints (the loading this module's functions end with) re-exports this module's names,
# so they import from it at call time
logger = logging.getLogger(__package__ + ".checkpoints")  # the name its messages always had


ORIGINAL_HEAD_DIM = 64  # per-head width of every DeiT/ViT size AST was built on (tiny..base)
ORIGINAL_LAYER_NORM_EPS = 1e-6  # timm's DeiT blocks and final norm
ORIGINAL_HEAD_LAYER_NORM_EPS = 1e-5  # mlp_head's nn.LayerNorm(dim): torch's default
ORIGINAL_EPS = {
    "layer_norm_eps": ORIGINAL_LAYER_NORM_EPS,
    "classifier_layer_norm_eps": ORIGINAL_HEAD_LAYER_NORM_EPS,
}


# -- original research checkpoints (YuanGongND/ast) -------------------------------------------
_BLOCK_RENAMES = {
    "norm1": "layernorm_before",
    "attn.proj": "attention.output.dense",
    "norm2": "layernorm_after",
    "mlp.fc1": "intermediate.dense",
    "mlp.fc2": "output.dense",
}
_TOP_RENAMES = {
    "cls_token": "embeddings.cls_token",
    "dist_token": "embeddings.distillation_token",
    "pos_embed": "embeddings.position_embeddings",
    "patch_embed.proj.weight": "embeddings.patch_embeddings.projection.weight",
    "patch_embed.proj.bias": "embeddings.patch_embeddings.projection.bias",
    "norm.weight": "layernorm.weight",
    "norm.bias": "layernorm.bias",
}
_BLOCK_KEY = re.compile(r"^blocks\.(\d+)\.(.+)\.(weight|bias)$")
_UNUSED_VIT_HEADS = ("head.", "head_dist.")  # DeiT's own classifiers; AST uses mlp_head


def _convert_vit_keys(vit: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """timm ViT/DeiT keys (``blocks.0.attn.qkv.weight``, ...) -> ASTModel's, q/k/v split.
    Keys of neither layout are returned unchanged (so a loader reports them)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in vit.items():
        if key in _TOP_RENAMES:
            out[_TOP_RENAMES[key]] = value
            continue
        if key.startswith(_UNUSED_VIT_HEADS):
            continue
        match = _BLOCK_KEY.match(key)
        if match is None:
            out[key] = value
            continue
        index, module, kind = match.groups()
        layer = f"encoder.layer.{index}."
        if module == "attn.qkv":
            if value.shape[0] % 3:
                raise CheckpointError(f"{key}: fused q/k/v of {value.shape[0]} rows is not 3 x D")
            for name, part in zip(("query", "key", "value"), value.chunk(3, dim=0), strict=True):
                out[f"{layer}attention.attention.{name}.{kind}"] = part.clone()
        elif module in _BLOCK_RENAMES:
            out[f"{layer}{_BLOCK_RENAMES[module]}.{kind}"] = value
        else:
            out[key] = value
    return out


def convert_original_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An original AST state dict (``module.v.blocks.0.attn.qkv.weight``, ``module.mlp_head.1``,
    ...) -> transformers' ASTForAudioClassification names.

    The fused qkv rows are split into query, key, value (in that order); ``v.head`` and
    ``v.head_dist`` (DeiT's classifiers, unused by AST's forward) are dropped; ``mlp_head.0`` /
    ``mlp_head.1`` become ``classifier.layernorm`` / ``classifier.dense``.
    """
    stripped = {}
    for key, value in state_dict.items():
        while key.startswith("module."):  # nn.DataParallel wrapping
            key = key[len("module.") :]
        stripped[key] = value
    vit = {k[2:]: v for k, v in stripped.items() if k.startswith("v.")}
    out = {f"{BASE_MODEL_PREFIX}.{k}": v for k, v in _convert_vit_keys(vit).items()}
    for key, value in stripped.items():
        if key.startswith("v."):
            continue
        if key.startswith("mlp_head.0."):
            out["classifier.layernorm." + key[len("mlp_head.0.") :]] = value
        elif key.startswith("mlp_head.1."):
            out["classifier.dense." + key[len("mlp_head.1.") :]] = value
        else:
            out[key] = value
    return out


def config_from_original_state_dict(
    state_dict: Mapping[str, torch.Tensor], **config_overrides: Any
) -> ASTConfig:
    """An ASTConfig for a converted original checkpoint, inferred from tensor shapes.

    Inferred: hidden_size, num_hidden_layers, intermediate_size, patch_size, qkv_bias,
    num_labels; num_attention_heads = hidden_size / 64 (true of all DeiT sizes);
    layer_norm_eps = 1e-6 (timm's blocks) and classifier_layer_norm_eps = 1e-5 (the head's
    plain ``nn.LayerNorm``), the original code's. Not stored in the file and so taken from
    ``config_overrides`` or the defaults (AudioSet's): frequency_stride=10, time_stride=10,
    max_length=1024, num_mel_bins=128.
    """
    p = BASE_MODEL_PREFIX + "."
    try:
        hidden = state_dict[p + "embeddings.cls_token"].shape[-1]
        kernel = state_dict[p + "embeddings.patch_embeddings.projection.weight"].shape
        intermediate = state_dict[p + "encoder.layer.0.intermediate.dense.weight"].shape[0]
    except KeyError as exc:
        raise CheckpointError(f"not an AST checkpoint: no {exc.args[0]}") from None
    if kernel[-1] != kernel[-2]:
        raise CheckpointError(f"patch kernel {_shape(kernel)} is not square")
    layers = 1 + max(int(m.group(1)) for k in state_dict if (m := re.search(r"layer\.(\d+)\.", k)))
    inferred: dict[str, Any] = dict(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // ORIGINAL_HEAD_DIM),
        intermediate_size=intermediate,
        patch_size=kernel[-1],
        qkv_bias=p + "encoder.layer.0.attention.attention.query.bias" in state_dict,
        **ORIGINAL_EPS,
    )
    if "classifier.dense.weight" in state_dict:
        inferred["num_labels"] = state_dict["classifier.dense.weight"].shape[0]
    return ASTConfig(**{**inferred, **config_overrides})


def load_original_checkpoint(
    cls: type,
    path: str | os.PathLike,
    config: ASTConfig | None = None,
    **config_overrides: Any,
) -> ASTPreTrainedModel:
    """``cls.from_original_checkpoint``: a .pth of the original AST code -> model in eval mode.

    The strides, max_length and num_mel_bins of the training run are not in the file: pass
    them (config or overrides) unless they are AudioSet's 10/10/1024/128. A ``max_length``
    keyword that differs from the training run's adapts the position embeddings' time axis
    (centre cut or interpolation, logged), as ``from_pretrained`` does; any other mismatch
    raises CheckpointError with a hint.

    The layer norms are the original code's: eps 1e-6 in the encoder (timm's blocks) and 1e-5
    in the classifier head (a plain ``nn.LayerNorm``). A ``config`` with other values (such as
    ASTConfig's default 1e-12) gets these, with a warning; ``layer_norm_eps`` and
    ``classifier_layer_norm_eps`` keywords choose others deliberately.

    A transformers-format file or folder raises NeedsNoConversionError (load it with
    ``from_pretrained``).
    """
    from .checkpoints import POSITION_KEY, _build_and_load, load_state_dict_file

    refuse_transformers_format(path)
    state = load_state_dict_file(path)
    refuse_transformers_format(path, state)
    converted = convert_original_state_dict(state)
    if config is None:
        config = config_from_original_state_dict(converted, **config_overrides)
    else:
        config = _with_original_eps(config, config_overrides, os.fspath(path))
        config = ASTConfig.from_dict(config.to_dict(), **config_overrides)
    pos = converted.get(f"{BASE_MODEL_PREFIX}.{POSITION_KEY}")
    checkpoint_grid = None
    if pos is not None and pos.shape[1] != 2 + config.num_patches:
        patches, freq = pos.shape[1] - 2, config.patch_grid[0]
        if "max_length" not in config_overrides or patches % freq:
            raise CheckpointError(
                f"{path}: position embeddings hold {patches} patches but the config's "
                f"{config.patch_grid[0]}x{config.patch_grid[1]} grid has {config.num_patches}; "
                f"pass the training run's settings{_grid_hint(patches, config)}, or "
                "max_length= explicitly to adapt the position embeddings to that many frames"
            )
        checkpoint_grid = (freq, patches // freq)  # the frequency axis is the config's
    return _build_and_load(
        cls,
        config,
        converted,
        source=os.fspath(path),
        checkpoint_grid=checkpoint_grid,
        labels_overridden=False,
        ignore_mismatched_sizes=False,
    )


def _with_original_eps(config: ASTConfig, overrides: Mapping[str, Any], source: str) -> ASTConfig:
    """config with the original code's layer-norm eps (warning when it had others), except
    the fields that ``overrides`` sets."""
    changed = {
        name: value
        for name, value in ORIGINAL_EPS.items()
        if name not in overrides and getattr(config, name) != value
    }
    # a config that leaves the head's eps unset (None: the encoder's) and has the original
    # encoder eps is simply completed; any other difference is worth a warning
    noted = {
        name: getattr(config, name)
        for name in changed
        if not (name == "classifier_layer_norm_eps" and config.classifier_layer_norm_eps is None)
    }
    if noted:
        logger.warning(
            "%s: the original AST model uses layer norms of eps %g (encoder) and %g (head); "
            "the config's %s replaced (pass layer_norm_eps=/classifier_layer_norm_eps= to keep "
            "other values)",
            source,
            ORIGINAL_LAYER_NORM_EPS,
            ORIGINAL_HEAD_LAYER_NORM_EPS,
            ", ".join(f"{name}={value!r}" for name, value in noted.items()),
        )
    return config.copy(**changed) if changed else config


def refuse_transformers_format(
    path: str | os.PathLike, state_dict: Mapping[str, torch.Tensor] | None = None
) -> None:
    """Raise NeedsNoConversionError when ``path`` (or its tensors) is in transformers' format:
    a model folder, a weights file with config.json beside it, or transformers' key names
    (``audio_spectrogram_transformer.*``, ``classifier.*``, ...) instead of the original
    code's (``module.v.blocks.*``, ``module.mlp_head.*``)."""
    from .checkpoints import HEAD_PREFIX

    transformers_key_starts = (
        BASE_MODEL_PREFIX + ".", HEAD_PREFIX, "embeddings.", "encoder.layer.", "layers.",
    )  # fmt: skip
    path = Path(path)
    reason = None
    if path.is_dir():
        if (path / CONFIG_NAME).is_file() or any((path / n).is_file() for n in WEIGHT_FILES):
            reason = "a model folder"
    elif path.name in WEIGHT_FILES and (path.parent / CONFIG_NAME).is_file():
        reason = f"{CONFIG_NAME} beside it"
    elif state_dict is not None:
        keys = [k.removeprefix("module.") for k in state_dict]
        found = next((k for k in keys if k.startswith(transformers_key_starts)), None)
        if found is not None:
            reason = f"key names such as {found}"
    if reason is not None:
        raise NeedsNoConversionError(
            f"{path}: already in transformers' format ({reason}); it needs no conversion: "
            "load its folder with from_pretrained (astaudio --model FOLDER)"
        )


def _grid_hint(patches: int, config: ASTConfig) -> str:
    freq = config.patch_grid[0]
    if patches % freq:
        return " (frequency_stride, time_stride, max_length, num_mel_bins)"
    frames = (patches // freq - 1) * config.time_stride + config.patch_size
    return f", e.g. max_length={frames} with time_stride={config.time_stride}"


# -- ImageNet (DeiT) initialisation ---------------------------------------------------------------
def init_from_deit(
    model_or_config: ASTPreTrainedModel | ASTConfig, deit_state_dict: Mapping[str, torch.Tensor]
) -> ASTPreTrainedModel:
    """Initialise an AST encoder from timm's ``deit_base_distilled_patch16_384`` weights, as the
    AST paper does: the RGB patch kernel (D, 3, 16, 16) is summed to (D, 1, 16, 16), the
    24x24 position grid is cut/interpolated to the spectrogram's patch grid (both token
    embeddings kept), blocks are converted like an original checkpoint. DeiT's heads are not
    used; a classifier's head keeps its fresh initialisation.

    model_or_config: a model (changed in place) or an ASTConfig (-> new
    ASTForAudioClassification). Returns the model.
    """
    from .checkpoints import _list_keys

    model = (
        ASTForAudioClassification(model_or_config)
        if isinstance(model_or_config, ASTConfig)
        else model_or_config
    )
    encoder = (
        model.audio_spectrogram_transformer
        if isinstance(model, ASTForAudioClassification)
        else model
    )
    vit = {}
    for key, value in deit_state_dict.items():
        while key.startswith("module."):
            key = key[len("module.") :]
        vit[key] = value
    for needed in ("cls_token", "dist_token", "pos_embed", "patch_embed.proj.weight"):
        if needed not in vit:
            raise CheckpointError(
                f"not a distilled DeiT state dict: no {needed!r} (expected timm's "
                "deit_base_distilled_patch16_384 layout)"
            )
    vit["patch_embed.proj.weight"] = vit["patch_embed.proj.weight"].sum(dim=1, keepdim=True)
    pos = vit["pos_embed"]
    side = round((pos.shape[1] - 2) ** 0.5)
    if side * side != pos.shape[1] - 2:
        raise CheckpointError(f"pos_embed {_shape(pos.shape)} is not 2 tokens + a square grid")
    vit["pos_embed"] = adapt_position_embeddings(pos, (side, side), model.config.patch_grid)
    converted = _convert_vit_keys(vit)

    expected = {k: v.shape for k, v in encoder.state_dict().items()}
    missing = set(expected) - set(converted)
    unexpected = set(converted) - set(expected)
    mismatched = [
        f"{k}: DeiT {_shape(converted[k].shape)} vs model {_shape(expected[k])}"
        for k in sorted(set(expected) & set(converted))
        if converted[k].shape != expected[k]
    ]
    if missing or unexpected or mismatched:
        raise CheckpointError(
            "DeiT weights don't fit this model: "
            + "; ".join(
                f"{label}: {_list_keys(keys)}"
                for label, keys in (
                    ("missing keys", missing),
                    ("unexpected keys", unexpected),
                    ("mismatched shapes", mismatched),
                )
                if keys
            )
        )
    with torch.no_grad():
        encoder.load_state_dict(converted, strict=True)
    return model


def convert_original_checkpoint(
    checkpoint: str | os.PathLike,
    output: str | os.PathLike,
    *,
    labels_csv: str | os.PathLike | None = None,
    frequency_stride: int = 10,
    time_stride: int = 10,
    max_length: int | None = None,
    num_mel_bins: int = 128,
    mean: float | None = None,
    std: float | None = None,
) -> Path:
    """An original AST .pth -> a transformers-format folder (config.json, model.safetensors,
    preprocessor_config.json) that astaudio and transformers both load.

    labels_csv: the class list, a class_labels_indices.csv or a packaged set's name ('audioset',
        'esc50', 'speechcommands'); its display names become id2label. None picks the packaged
        set whose size matches the checkpoint's head (527, 50, 35) and logs which; a head of
        another size gets transformers' generic names ``LABEL_i``, with a warning.
    max_length: frames of the model; None: the training run's, which must then be AudioSet's
        1024 (another length raises, with a hint). A value that differs from the training
        run's adapts the position embeddings (as ``from_original_checkpoint(max_length=)``).
    mean/std: the recipe's normalisation (default: AudioSet's).

    A transformers-format file or folder raises NeedsNoConversionError: it needs no conversion.
    """
    from .features import ASTFeatureExtractor
    from .labels import label_set_for_size, load_labels

    overrides: dict[str, Any] = dict(
        frequency_stride=frequency_stride, time_stride=time_stride, num_mel_bins=num_mel_bins
    )
    if max_length is not None:
        overrides["max_length"] = max_length
    if labels_csv is not None:
        overrides["id2label"] = dict(enumerate(load_labels(labels_csv)))
    model = ASTForAudioClassification.from_original_checkpoint(checkpoint, **overrides)
    if labels_csv is None:
        num_labels = model.config.num_labels
        label_set = label_set_for_size(num_labels)
        if label_set is None:
            logger.warning(
                "%s: no packaged label set has %d classes; labels are named LABEL_0.. "
                "(pass --labels FILE.csv to name them)",
                Path(checkpoint).name, num_labels,
            )  # fmt: skip
        else:
            names = load_labels(label_set)
            model.config.id2label = dict(enumerate(names))
            model.config.label2id = {name: index for index, name in enumerate(names)}
            logger.info(
                "%s: %d-class head, labelled with the packaged '%s' set",
                Path(checkpoint).name, num_labels, label_set,
            )  # fmt: skip
    extractor_args: dict[str, Any] = dict(
        num_mel_bins=num_mel_bins, max_length=model.config.max_length
    )
    if mean is not None:
        extractor_args["mean"] = mean
    if std is not None:
        extractor_args["std"] = std
    folder = Path(output)
    model.save_pretrained(folder)
    ASTFeatureExtractor(**extractor_args).save_pretrained(folder)
    return folder
