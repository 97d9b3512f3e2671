"""Evaluation metrics for audio tagging and classification, as the AST repository reports them.

Multi-label tasks (AudioSet) are scored per class with average precision and ROC AUC, then
averaged into mAP and mAUC; d-prime is derived from mAUC (``sqrt(2) * Phi^-1(mAUC)``).
Single-label tasks (ESC-50, Speech Commands) are scored with accuracy of the top-scoring class,
per-class precision/recall/F1 and a confusion matrix.

The ranking metrics need scikit-learn (``pip install 'astaudio[metrics]'``); the single-label
metrics and the writers need only numpy (matplotlib for :func:`plot_confusion`).
"""

from __future__ import annotations

import csv
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "d_prime",
    "ensemble_scores",
    "format_metrics_table",
    "metrics_to_jsonable",
    "multilabel_metrics",
    "plot_confusion",
    "singlelabel_metrics",
    "write_confusion_csv",
]


def _require_sklearn_metrics() -> Any:
    try:
        from sklearn import metrics as sklearn_metrics
    except ImportError as error:
        raise ImportError("mAP/mAUC need scikit-learn: pip install 'astaudio[metrics]'") from error
    return sklearn_metrics


def _sklearn_available() -> bool:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return False
    return True


def _standard_normal_ppf(probability: float) -> float:
    """Inverse CDF of the standard normal; scipy when installed, else the standard library."""
    if math.isnan(probability):
        return math.nan
    if probability <= 0.0:
        return -math.inf
    if probability >= 1.0:
        return math.inf
    try:
        from scipy.stats import norm
    except ImportError:
        from statistics import NormalDist

        return NormalDist().inv_cdf(probability)
    return float(norm.ppf(probability))


def d_prime(auc: float) -> float:
    """Sensitivity index from an ROC AUC: ``sqrt(2) * Phi^-1(auc)``; 0 for chance (AUC 0.5)."""
    return math.sqrt(2.0) * _standard_normal_ppf(float(auc))


def _as_2d_float(array: Any, name: str) -> np.ndarray:
    result = np.asarray(_to_numpy(array), dtype=np.float64)
    if result.ndim != 2:
        raise ValueError(f"{name} must be 2-D (num_items, num_classes), got shape {result.shape}")
    return result


def _to_numpy(array: Any) -> Any:
    # torch tensors (possibly on an accelerator or requiring grad) without importing torch here
    if hasattr(array, "detach") and hasattr(array, "cpu"):
        return array.detach().cpu().numpy()
    return array


def multilabel_metrics(scores: Any, targets: Any) -> dict[str, Any]:
    """Per-class AP and AUC, their means, d-prime and top-1 accuracy, as the AST repository computes.

    Args:
        scores: (N, C) scores (probabilities or logits: only their ranking matters).
        targets: (N, C) multi-hot targets; values above 0.5 count as positive, so soft
            (mixup) targets are binarised.

    Returns:
        A dict with ``"task": "multi_label"``, ``"ap"`` and ``"auc"`` (C,) float arrays,
        ``"mAP"``, ``"mAUC"``, ``"d_prime"`` (from mAUC), ``"accuracy"`` (argmax of scores equals
        argmax of targets, which the AST repository reports for ESC-50), ``"num_items"``,
        ``"num_classes"``, ``"skipped_no_positive"`` and ``"skipped_auc_no_negative"`` (lists of
        class indices).

    A class with no positive target has no defined AP or AUC (the AST repository never meets one
    on AudioSet's evaluation set; scikit-learn would give AP 0 and AUC NaN): its per-class values
    are NaN and it is left out of mAP and mAUC. A class whose targets are all positive has AP 1
    but no AUC: its AUC is NaN and it is left out of mAUC only. Means over no class are NaN.
    """
    sklearn_metrics = _require_sklearn_metrics()
    scores_2d = _as_2d_float(scores, "scores")
    targets_2d = _as_2d_float(targets, "targets")
    if scores_2d.shape != targets_2d.shape:
        raise ValueError(
            f"scores {scores_2d.shape} and targets {targets_2d.shape} must have the same shape"
        )
    num_items, num_classes = scores_2d.shape
    if num_items == 0:
        raise ValueError("cannot compute metrics on zero items")
    binary_targets = (targets_2d > 0.5).astype(np.int64)  # (N, C)

    ap = np.full(num_classes, np.nan)
    auc = np.full(num_classes, np.nan)
    skipped_no_positive: list[int] = []
    skipped_auc_no_negative: list[int] = []
    positives_per_class = binary_targets.sum(axis=0)  # (C,)
    for class_index in range(num_classes):
        positives = int(positives_per_class[class_index])
        if positives == 0:
            skipped_no_positive.append(class_index)
            continue
        column_targets = binary_targets[:, class_index]
        column_scores = scores_2d[:, class_index]
        ap[class_index] = sklearn_metrics.average_precision_score(column_targets, column_scores)
        if positives == num_items:
            skipped_auc_no_negative.append(class_index)
            continue
        auc[class_index] = sklearn_metrics.roc_auc_score(column_targets, column_scores)

    mean_ap = float(np.nanmean(ap)) if np.isfinite(ap).any() else math.nan
    mean_auc = float(np.nanmean(auc)) if np.isfinite(auc).any() else math.nan
    accuracy = float(np.mean(scores_2d.argmax(axis=1) == targets_2d.argmax(axis=1)))
    return {
        "task": "multi_label",
        "num_items": num_items,
        "num_classes": num_classes,
        "ap": ap,
        "auc": auc,
        "mAP": mean_ap,
        "mAUC": mean_auc,
        "d_prime": d_prime(mean_auc),
        "accuracy": accuracy,
        "skipped_no_positive": skipped_no_positive,
        "skipped_auc_no_negative": skipped_auc_no_negative,
    }


def _target_indices(targets: Any, num_classes: int) -> np.ndarray:
    target_array = np.asarray(_to_numpy(targets))
    if target_array.ndim == 2:
        if target_array.shape[1] != num_classes:
            raise ValueError(
                f"one-hot targets have {target_array.shape[1]} classes, scores have {num_classes}"
            )
        return target_array.argmax(axis=1).astype(np.int64)
    if target_array.ndim != 1:
        raise ValueError(
            f"targets must be (N,) class indices or (N, C) one-hot, got {target_array.shape}"
        )
    if target_array.size and not np.all(np.equal(np.mod(target_array, 1), 0)):
        raise ValueError("1-D targets must be integer class indices")
    indices = target_array.astype(np.int64)
    if indices.size and (indices.min() < 0 or indices.max() >= num_classes):
        raise ValueError(f"target class indices must lie in [0, {num_classes - 1}]")
    return indices


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    # 0 where the denominator is 0, as scikit-learn's zero_division default reports
    result = np.zeros_like(numerator, dtype=np.float64)
    np.divide(numerator, denominator, out=result, where=denominator > 0)
    return result


def singlelabel_metrics(
    scores: Any, targets: Any, *, ranking_metrics: bool | None = None
) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1/support, macro averages and the confusion matrix.

    Args:
        scores: (N, C) scores; the prediction is the argmax of each row.
        targets: (N,) integer class indices or (N, C) one-hot (argmax is taken).
        ranking_metrics: also add mAP/mAUC/d-prime on one-hot targets (as the AST repository
            reports for ESC-50 and Speech Commands). None: only when scikit-learn is installed.

    Returns:
        A dict with ``"task": "single_label"``, ``"accuracy"``, ``"precision"``, ``"recall"``,
        ``"f1"`` (C,) float arrays, ``"support"`` (C,) int array, ``"macro_precision"``,
        ``"macro_recall"``, ``"macro_f1"`` (means over the classes present in the targets,
        ``"macro_classes"`` of them: scikit-learn's ``average="macro"`` with ``labels=`` those
        classes; a class without examples has no recall to average), ``"confusion"`` (C, C) int array with rows = true class and
        columns = predicted class, ``"num_items"``, ``"num_classes"``; plus the keys of
        :func:`multilabel_metrics` under their own names when ranking metrics are on.
    """
    scores_2d = _as_2d_float(scores, "scores")
    num_items, num_classes = scores_2d.shape
    if num_items == 0:
        raise ValueError("cannot compute metrics on zero items")
    true_classes = _target_indices(targets, num_classes)  # (N,)
    if true_classes.shape[0] != num_items:
        raise ValueError(f"{true_classes.shape[0]} targets for {num_items} rows of scores")
    predicted_classes = scores_2d.argmax(axis=1)  # (N,)

    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (true_classes, predicted_classes), 1)
    true_positives = np.diag(confusion).astype(np.float64)  # (C,)
    support = confusion.sum(axis=1)  # (C,) items whose true class is c
    predicted_counts = confusion.sum(axis=0)  # (C,) items predicted as c
    precision = _safe_divide(true_positives, predicted_counts.astype(np.float64))
    recall = _safe_divide(true_positives, support.astype(np.float64))
    f1 = _safe_divide(2.0 * precision * recall, precision + recall)
    present = support > 0  # (C,) classes with at least one item; N > 0, so at least one

    result: dict[str, Any] = {
        "task": "single_label",
        "num_items": num_items,
        "num_classes": num_classes,
        "accuracy": float(true_positives.sum() / num_items),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": support,
        "macro_precision": float(precision[present].mean()),
        "macro_recall": float(recall[present].mean()),
        "macro_f1": float(f1[present].mean()),
        "macro_classes": int(present.sum()),
        "confusion": confusion,
    }
    if ranking_metrics is None:
        ranking_metrics = _sklearn_available()
    if ranking_metrics:
        one_hot = np.eye(num_classes)[true_classes]  # (N, C)
        ranking = multilabel_metrics(scores_2d, one_hot)
        for key in ("ap", "auc", "mAP", "mAUC", "d_prime", "skipped_no_positive"):
            result[key] = ranking[key]
        result["skipped_auc_no_negative"] = ranking["skipped_auc_no_negative"]
    return result


def dataset_metrics(scores: np.ndarray, targets: np.ndarray, multi_label: bool) -> dict[str, Any]:
    """multilabel_metrics of multi-hot targets (N, C), or singlelabel_metrics of one-hot ones."""
    if multi_label:
        return multilabel_metrics(scores, targets)
    return singlelabel_metrics(scores, np.asarray(targets).argmax(1))


def ensemble_scores(scores_list: Sequence[Any]) -> np.ndarray:
    """Mean of several models' (N, C) scores (the AST repository's checkpoint ensemble)."""
    if len(scores_list) == 0:
        raise ValueError("ensemble_scores needs at least one array of scores")
    arrays = [np.asarray(_to_numpy(scores), dtype=np.float64) for scores in scores_list]
    first_shape = arrays[0].shape
    for position, array in enumerate(arrays):
        if array.shape != first_shape:
            raise ValueError(
                f"scores #{position} has shape {array.shape}, expected {first_shape} like #0"
            )
    return np.mean(np.stack(arrays), axis=0)


def metrics_to_jsonable(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics dict with arrays as lists and NaN/inf as None, ready for strict JSON."""

    def convert(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            return [convert(element) for element in value.tolist()]
        if isinstance(value, (list, tuple)):
            return [convert(element) for element in value]
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    return {key: convert(value) for key, value in metrics.items()}


def _check_confusion(matrix: Any, labels: Sequence[str]) -> np.ndarray:
    confusion = np.asarray(_to_numpy(matrix))
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"confusion matrix must be square (C, C), got shape {confusion.shape}")
    if len(labels) != confusion.shape[0]:
        raise ValueError(f"{len(labels)} labels for a {confusion.shape[0]}-class confusion matrix")
    return confusion


def write_confusion_csv(matrix: Any, labels: Sequence[str], path: str | Path) -> Path:
    """Write a (C, C) confusion matrix as CSV: a header of predicted labels, one row per true label.

    The top-left cell reads ``true\\predicted``; names with commas or quotes are CSV-quoted.
    """
    confusion = _check_confusion(matrix, labels)
    output_path = Path(path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    with output_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["true\\predicted", *labels])
        for label, row in zip(labels, confusion.tolist(), strict=True):
            writer.writerow([label, *row])
    return output_path


def plot_confusion(
    matrix: Any,
    labels: Sequence[str],
    path: str | Path,
    *,
    normalize: bool = True,
    title: str | None = None,
) -> Path:
    """Save a confusion-matrix image (PNG/PDF/SVG by suffix) with matplotlib, headless.

    Args:
        matrix: (C, C) counts, rows = true class, columns = predicted class.
        labels: C class names.
        path: image file to write.
        normalize: colour by each row's fraction (recall per class) rather than raw counts.
        title: drawn above the matrix (e.g. the model's name and accuracy).
    """
    confusion = _check_confusion(matrix, labels).astype(np.float64)
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            "plot_confusion needs matplotlib: pip install 'astaudio[plot]'"
        ) from error

    num_classes = confusion.shape[0]
    shown = confusion
    if normalize:
        row_totals = confusion.sum(axis=1, keepdims=True)
        shown = np.divide(confusion, row_totals, out=np.zeros_like(confusion), where=row_totals > 0)
    side_inches = min(max(4.0, 0.35 * num_classes + 2.0), 60.0)
    # a bare Figure (not pyplot) renders through Agg without touching the global backend
    figure = Figure(figsize=(side_inches, side_inches))
    axes = figure.add_subplot(1, 1, 1)
    image = axes.imshow(shown, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    axes.set_xticks(range(num_classes))
    axes.set_yticks(range(num_classes))
    axes.set_xticklabels(labels, rotation=90, fontsize=8)
    axes.set_yticklabels(labels, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if title:  # wrapped to the figure's width (~11 characters of 10 pt text per inch)
        width = max(int(side_inches * 11), 20)
        lines = [textwrap.fill(line, width) for line in title.splitlines()]
        axes.set_title("\n".join(lines), fontsize=10)
    if num_classes <= 30:
        threshold = shown.max() / 2.0 if shown.size else 0.0
        for row in range(num_classes):
            for column in range(num_classes):
                text = f"{int(confusion[row, column])}"
                colour = "white" if shown[row, column] > threshold else "black"
                axes.text(column, row, text, ha="center", va="center", fontsize=7, color=colour)
    figure.tight_layout()
    output_path = Path(path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output_path, dpi=100)
    return output_path


def _format_number(value: float, digits: int = 4) -> str:
    return (
        "nan" if value is None or not math.isfinite(float(value)) else f"{float(value):.{digits}f}"
    )


def format_metrics_table(
    metrics: dict[str, Any], labels: Sequence[str] | None = None, *, top: int | None = 20
) -> str:
    """A plain-text report: the summary numbers, then a per-class table.

    Args:
        metrics: a dict from :func:`multilabel_metrics` or :func:`singlelabel_metrics`.
        labels: class names (index order); None shows class indices.
        top: how many classes to list, best first (by AP for multi-label, by F1 for
            single-label); None lists all.
    """
    task = metrics.get("task")
    if task not in ("multi_label", "single_label"):
        raise ValueError("metrics must come from multilabel_metrics or singlelabel_metrics")
    num_classes = int(metrics["num_classes"])
    names = list(labels) if labels is not None else [str(index) for index in range(num_classes)]
    if len(names) != num_classes:
        raise ValueError(f"{len(names)} labels for metrics over {num_classes} classes")

    lines = [f"items: {metrics['num_items']}  classes: {num_classes}"]
    summary_keys = [
        ("accuracy", "accuracy"),
        ("macro_precision", "macro precision"),
        ("macro_recall", "macro recall"),
        ("macro_f1", "macro F1"),
        ("mAP", "mAP"),
        ("mAUC", "mAUC"),
        ("d_prime", "d-prime"),
    ]
    for key, title in summary_keys:
        if key in metrics:
            lines.append(f"{title + ':':<17}{_format_number(metrics[key])}")
    if "macro_classes" in metrics and metrics["macro_classes"] < num_classes:
        lines.append(
            f"macro averages over the {metrics['macro_classes']} class(es) present in the data"
        )
    if metrics.get("skipped_no_positive"):
        lines.append(
            f"{len(metrics['skipped_no_positive'])} class(es) without a positive item were "
            "left out of mAP/mAUC"
        )
    if metrics.get("skipped_auc_no_negative"):
        lines.append(
            f"{len(metrics['skipped_auc_no_negative'])} class(es) without a negative item were "
            "left out of mAUC"
        )

    if task == "multi_label":
        columns = [("AP", metrics["ap"]), ("AUC", metrics["auc"])]
        sort_key = np.nan_to_num(np.asarray(metrics["ap"], dtype=np.float64), nan=-1.0)
    else:
        columns = [
            ("precision", metrics["precision"]),
            ("recall", metrics["recall"]),
            ("F1", metrics["f1"]),
        ]
        if "ap" in metrics:
            columns.append(("AP", metrics["ap"]))
        sort_key = np.asarray(metrics["f1"], dtype=np.float64)
    # stable sort: ties keep class order
    order = np.argsort(-sort_key, kind="stable")
    if top is not None:
        order = order[: max(int(top), 0)]
    name_width = min(max([len("class"), *(len(names[index]) for index in order)]), 40)
    header = f"{'class':<{name_width}}" + "".join(f"  {title:>9}" for title, _ in columns)
    if task == "single_label":
        header += f"  {'support':>7}"
    lines += ["", header, "-" * len(header)]
    for index in order:
        name = names[index]
        if len(name) > name_width:
            name = name[: name_width - 1] + "…"
        row = f"{name:<{name_width}}"
        row += "".join(f"  {_format_number(values[index]):>9}" for _, values in columns)
        if task == "single_label":
            row += f"  {int(metrics['support'][index]):>7}"
        lines.append(row)
    if top is not None and len(order) < num_classes:
        lines.append(f"... {num_classes - len(order)} more class(es)")
    return "\n".join(lines)
