"""What an AudioClassifier runs and where: the :class:`Network` protocol (a torch model, an
ONNX Runtime session, or a callable wrapped in :class:`CallableNetwork`), the torch device and
dtype asked for, and the feature extractor that goes with a checkpoint (checked against its
config). Re-exported by :mod:`astaudio.inference`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol

import torch

from .constants import PREPROCESSOR_NAME
from .errors import CheckpointError
from .features import ASTFeatureExtractor
from .hub import resolve_file
from .model import ASTClassifyOutput


class Network(Protocol):
    """What AudioClassifier runs: a torch ASTForAudioClassification, an ONNX Runtime session
    (:class:`astaudio.export.OnnxBackend`), or any object with these two members."""

    config: Any

    def classify(self, input_values: torch.Tensor, *, return_tokens: bool = False) -> Any:
        """Features (B, max_length, mel) -> an object with .logits (B, C), .pooled (B, D) and
        .last_hidden_state (B, T, D) when return_tokens (else None)."""


class CallableNetwork:
    """A function features -> (logits, pooled) as a Network, with the model's config."""

    def __init__(self, function: Callable[[torch.Tensor], tuple], config: Any):
        self.function, self.config = function, config

    def classify(self, input_values: torch.Tensor, *, return_tokens: bool = False):
        if return_tokens:
            raise ValueError(
                "tokens=True needs the torch model; this network gives logits and pooled only"
            )
        logits, pooled = self.function(input_values)
        return ASTClassifyOutput(logits, pooled)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """A torch device from "auto" (a CUDA GPU when there is one), "cpu", "cuda", "cuda:N" or
    "mps"; ValueError (one line) for a device this machine does not have."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except RuntimeError:
        raise ValueError(
            f"device must be auto, cpu, cuda, cuda:N or mps, got {str(device)!r}"
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device '{device}' was asked for but no CUDA GPU is available")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ValueError(f"device '{device}' does not exist: this machine has {count} GPU(s)")
    elif device.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ValueError("device 'mps' was asked for but Apple's Metal (MPS) is not available")
    elif device.type != "cpu":
        raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps, got '{device}'")
    return device


def resolve_dtype(dtype: torch.dtype | str | None) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    names = {
        "float32": torch.float32,
        "fp32": torch.float32,
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
        "float16": torch.float16,
        "fp16": torch.float16,
    }
    try:
        return names[str(dtype)]
    except KeyError:
        raise ValueError(f"dtype must be one of {sorted(names)}, got {dtype!r}") from None


def check_extractor_fits(config, extractor: ASTFeatureExtractor) -> None:
    """CheckpointError when the extractor's features can't be the model's input (a
    preprocessor_config.json from another model), before any audio is decoded."""
    for name in ("num_mel_bins", "max_length"):
        ours, theirs = getattr(extractor, name), getattr(config, name)
        if ours != theirs:
            raise CheckpointError(
                f"preprocessor_config.json gives {name}={ours} but the model's config.json "
                f"{theirs}: the two files belong to different models"
            )


def load_feature_extractor(
    model: str | os.PathLike, config, **hub_kwargs: Any
) -> ASTFeatureExtractor:
    """The model's preprocessor_config.json, or (when it has none) the default extractor sized
    to the model's max_length and num_mel_bins."""
    path = resolve_file(model, PREPROCESSOR_NAME, required=False, **hub_kwargs)
    if path is None:
        return ASTFeatureExtractor(num_mel_bins=config.num_mel_bins, max_length=config.max_length)
    return ASTFeatureExtractor.from_pretrained(path.parent)
