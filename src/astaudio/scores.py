"""From logits to scores: the one place that chooses sigmoid or softmax, and applies it.

Used by inference (the classifier's default activation), training (validation metrics) and
evaluation. Works on numpy arrays and torch tensors alike, and imports neither torch nor
anything above it.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from .constants import AUDIOSET_NUM_LABELS

Activation = Literal["sigmoid", "softmax", "none"]
ACTIVATIONS = ("sigmoid", "softmax", "none")


def default_activation(config: Any = None, *, multi_label: bool | None = None) -> Activation:
    """sigmoid for multi-label models, softmax for single-label, none for regression.

    ``multi_label`` (a dataset's) decides when given. Otherwise the config's problem_type does;
    hub AudioSet checkpoints don't set it, so a config with no problem_type and 527 labels
    (AudioSet's ontology) is taken as multi-label, any other as single-label.
    """
    if multi_label is not None:
        return "sigmoid" if multi_label else "softmax"
    if config.problem_type == "multi_label_classification":
        return "sigmoid"
    if config.problem_type == "regression" or config.num_labels == 1:
        return "none"
    if config.problem_type is None and config.num_labels == AUDIOSET_NUM_LABELS:
        return "sigmoid"
    return "softmax"


def apply_activation(logits: Any, activation: Activation) -> Any:
    """Scores of logits (..., num_labels), a numpy array or a torch tensor (same type back)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be sigmoid, softmax or none, got {activation!r}")
    if activation == "none":
        return logits
    if isinstance(logits, np.ndarray):
        if activation == "sigmoid":
            return 1 / (1 + np.exp(-logits))
        scores = np.exp(logits - logits.max(-1, keepdims=True))
        return scores / scores.sum(-1, keepdims=True)
    return logits.sigmoid() if activation == "sigmoid" else logits.softmax(dim=-1)
