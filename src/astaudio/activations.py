"""Activation functions by the names transformers' configs use (``hidden_act``)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn


class GELUTanh(nn.Module):
    """The tanh approximation of GELU (transformers' "gelu_new", GPT-2's)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "gelu": nn.GELU,
    "gelu_new": GELUTanh,
    "gelu_pytorch_tanh": lambda: nn.GELU(approximate="tanh"),
    "gelu_fast": GELUTanh,
    "quick_gelu": QuickGELU,
    "relu": nn.ReLU,
    "selu": nn.SELU,
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


class _CallableActivation(nn.Module):
    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def get_activation(name_or_fn: str | Callable) -> nn.Module:
    """A fresh activation module for a config's ``hidden_act`` (a name or a callable)."""
    if callable(name_or_fn):
        return name_or_fn() if isinstance(name_or_fn, type) else _CallableActivation(name_or_fn)
    try:
        return ACTIVATIONS[name_or_fn]()
    except KeyError:
        raise ValueError(
            f"hidden_act={name_or_fn!r} is not a known activation; use one of {sorted(ACTIVATIONS)} "
            "or a callable"
        ) from None
