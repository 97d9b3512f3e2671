"""Evaluating models on a labelled dataset: accuracy and confusion for single-label tasks,
mAP/mAUC/d-prime for multi-label ones, and the ensemble of several models' averaged scores.

Scores are sigmoids of the logits for every task, as the AST repository computes its mAP,
mAUC, d-prime and ensembles (accuracy, the argmax, is the same with softmax). Files that fail
to decode are left out and listed under the report's "dropped"."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import DataLoader

from .bundled import resolve_bundled
from .data import AudioDataset, DatasetSpec, align_labels, collate_dropping
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
from .scores import Activation, apply_activation


def model_scores(
    model_name: str | os.PathLike,
    spec: DatasetSpec,
    *,
    batch_size: int = 16,
    device: str | None = None,
    num_workers: int = 2,
    progress: bool = False,
    dropped: list[tuple[str, str]] | None = None,
    activation: Activation = "sigmoid",
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(scores (N, C), targets (N, C), labels) of one model on `spec`: sigmoids of the logits
    by default (``activation="none"``: the logits); items whose files fail to decode are left
    out and appended to `dropped` as (path, reason)."""
    from .train import predict

    folder = resolve_bundled(model_name)
    model = ASTForAudioClassification.from_pretrained(folder)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    aligned = align_labels(spec, labels)
    extractor = load_feature_extractor(folder, model.config)
    dataset = AudioDataset(aligned, extractor, label_format="multi_hot")
    loader = DataLoader(
        dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_dropping
    )
    device_ = resolve_device(device)
    logits, targets = predict(
        model.to(device_), loader, device_, progress=progress, dropped=dropped
    )
    # the AST repository's scores: sigmoid, for single-label tasks too
    return apply_activation(logits, activation), targets, labels


def is_single_label(spec: DatasetSpec, model_name: str | os.PathLike) -> bool:
    """Single-label evaluation: the data says so, or every item has one label and the model was
    trained single-label (as an AST JSON datafile, multi-label by layout, of ESC-50 is)."""
    if not spec.multi_label:
        return True
    from .config import ASTConfig

    problem = ASTConfig.from_pretrained(resolve_bundled(model_name)).problem_type
    one_each = all(len(item.label_indices) == 1 for item in spec.items)
    return one_each and problem == "single_label_classification"


def evaluate_models(
    models: list[str | os.PathLike],
    spec: DatasetSpec,
    output_dir: str | os.PathLike | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Metrics of every model and (for several) of their averaged scores; written as
    metrics.json (+ confusion CSV/PNG for single-label data) into output_dir when given."""
    multi_label = not is_single_label(spec, models[0])
    report: dict[str, Any] = {"dataset": spec.source, "items": len(spec.items), "models": {}}
    all_scores, targets, labels = [], None, None
    dropped: list[tuple[str, str]] = []
    for number, name in enumerate(models):
        scores, targets, model_labels = model_scores(
            name, spec, dropped=None if number else dropped, **kwargs
        )
        if labels is not None and model_labels != labels:
            raise ValueError(f"{name}: its labels differ from the first model's; can't ensemble")
        labels = model_labels
        all_scores.append(scores)
        report["models"][str(name)] = dataset_metrics(scores, targets, multi_label)
    if len(all_scores) > 1:
        report["ensemble"] = dataset_metrics(ensemble_scores(all_scores), targets, multi_label)
    report["items"] = int(targets.shape[0])
    report["dropped"] = [[path, reason] for path, reason in dropped]
    report["task"] = "multi_label" if multi_label else "single_label"
    report["scores"] = "sigmoid"  # the AST repository's, for mAP/mAUC/d-prime and ensembles
    report["labels"] = labels
    if output_dir is not None:
        write_report(report, Path(output_dir), multi_label)
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
    named = _named_results(report)
    for stem, (name, metrics) in zip(confusion_stems([name for name, _ in named]), named):
        write_confusion_csv(
            metrics["confusion"], report["labels"], folder / f"confusion_{stem}.csv"
        )
        what = f"ensemble of {len(report['models'])} models" if name == "ensemble" else name
        title = f"{what}\naccuracy {metrics['accuracy']:.1%} on {report['items']} items"
        try:
            plot_confusion(metrics["confusion"], report["labels"],
                           folder / f"confusion_{stem}.png", title=title)  # fmt: skip
        except ImportError:
            pass


def confusion_stems(names: list[str]) -> list[str]:
    """File-name stems for the models' confusion files: the shortest tail of each model's path
    or hub id that tells it from the others ("runs/a/best", "runs/b/best" -> "a_best",
    "b_best"; "keywords" -> "keywords"), in characters safe in file names."""
    parts = [[p for p in re.split(r"[/\\]+", str(name)) if p not in ("", ".", "..")] or ["model"]
             for name in names]  # fmt: skip
    depth = 1
    while depth < max(map(len, parts)):
        tails = ["_".join(p[-depth:]) for p in parts]
        if len(set(tails)) == len(tails):
            break
        depth += 1
    stems = [re.sub(r"[^\w.-]+", "_", "_".join(p[-depth:])).strip("._") or "model" for p in parts]
    seen: dict[str, int] = {}
    for i, stem in enumerate(stems):  # names equal to the last character: number them
        count = seen.get(stem, 0)
        seen[stem] = count + 1
        if count:
            stems[i] = f"{stem}_{count + 1}"
    return stems


def _named_results(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    named = list(report["models"].items())
    if "ensemble" in report:
        named.append(("ensemble", report["ensemble"]))
    return named


def format_report(report: dict[str, Any]) -> str:
    parts = []
    for path, reason in report.get("dropped", []):
        parts.append(f"dropped {path}: {reason}")
    for name, metrics in _named_results(report):
        parts.append(
            f"== {name} ({report['items']} items)\n{format_metrics_table(metrics, report['labels'])}"
        )
    return "\n".join(parts)
