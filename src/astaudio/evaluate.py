"""Evaluating models on a labelled dataset: accuracy and confusion for single-label tasks,
mAP/mAUC/d-prime for multi-label ones, and the ensemble of several models' averaged scores."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import DataLoader

from .bundled import resolve_bundled
from .data import AudioDataset, DatasetSpec
from .inference import load_feature_extractor, resolve_device
from .metrics import (
    dataset_metrics,
    ensemble_scores,
    format_metrics_table,
    metrics_to_jsonable,
    plot_confusion,
    write_confusion_csv,
)
from .model import ASTForAudioClassification
from .scores import apply_activation, default_activation


def align_labels(spec: DatasetSpec, model_labels: list[str]) -> DatasetSpec:
    """The dataset with its class indices renumbered to the model's label order (by name)."""
    if spec.labels == model_labels:
        return spec
    index = {name: i for i, name in enumerate(model_labels)}
    missing = [name for name in spec.labels if name not in index]
    if missing:
        raise ValueError(
            f"the model has no label for {len(missing)} dataset classes, e.g. {missing[:3]}; "
            "evaluate with a model trained on these classes"
        )
    items = [
        type(item)(item.path, tuple(index[spec.labels[i]] for i in item.label_indices))
        for item in spec.items
    ]
    return DatasetSpec(items, list(model_labels), spec.multi_label, spec.source)


def model_scores(
    model_name: str | os.PathLike,
    spec: DatasetSpec,
    *,
    batch_size: int = 16,
    device: str | None = None,
    num_workers: int = 2,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(scores (N, C) after sigmoid/softmax, targets (N, C), labels) of one model on `spec`."""
    from .train import predict

    folder = resolve_bundled(model_name)
    model = ASTForAudioClassification.from_pretrained(folder)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    aligned = align_labels(spec, labels)
    extractor = load_feature_extractor(folder, model.config)
    dataset = AudioDataset(aligned, extractor, label_format="multi_hot")
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers)
    device_ = resolve_device(device)
    logits, targets = predict(model.to(device_), loader, device_, progress=progress)
    scores = apply_activation(logits, default_activation(multi_label=spec.multi_label))
    return scores, targets, labels


def evaluate_models(
    models: list[str | os.PathLike],
    spec: DatasetSpec,
    output_dir: str | os.PathLike | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Metrics of every model and (for several) of their averaged scores; written as
    metrics.json (+ confusion CSV/PNG for single-label data) into output_dir when given."""
    report: dict[str, Any] = {"dataset": spec.source, "items": len(spec.items), "models": {}}
    all_scores, targets, labels = [], None, None
    for name in models:
        scores, targets, model_labels = model_scores(name, spec, **kwargs)
        if labels is not None and model_labels != labels:
            raise ValueError(f"{name}: its labels differ from the first model's; can't ensemble")
        labels = model_labels
        all_scores.append(scores)
        report["models"][str(name)] = dataset_metrics(scores, targets, spec.multi_label)
    if len(all_scores) > 1:
        report["ensemble"] = dataset_metrics(ensemble_scores(all_scores), targets, spec.multi_label)
    report["labels"] = labels
    if output_dir is not None:
        write_report(report, Path(output_dir), spec.multi_label)
    return report


def write_report(report: dict[str, Any], folder: Path, multi_label: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    jsonable = {
        **report,
        "models": {k: metrics_to_jsonable(v) for k, v in report["models"].items()},
    }
    if "ensemble" in report:
        jsonable["ensemble"] = metrics_to_jsonable(report["ensemble"])
    (folder / "metrics.json").write_text(json.dumps(jsonable, indent=2))
    if multi_label:
        return
    for n, (name, metrics) in enumerate(_named_results(report)):
        stem = "ensemble" if name == "ensemble" else f"model{n}"
        write_confusion_csv(
            metrics["confusion"], report["labels"], folder / f"confusion_{stem}.csv"
        )
        try:
            plot_confusion(metrics["confusion"], report["labels"], folder / f"confusion_{stem}.png")
        except ImportError:
            pass


def _named_results(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    named = list(report["models"].items())
    if "ensemble" in report:
        named.append(("ensemble", report["ensemble"]))
    return named


def format_report(report: dict[str, Any]) -> str:
    parts = []
    for name, metrics in _named_results(report):
        parts.append(
            f"== {name} ({report['items']} items)\n{format_metrics_table(metrics, report['labels'])}"
        )
    return "\n".join(parts)
