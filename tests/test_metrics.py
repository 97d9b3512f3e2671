"""Metrics against hand-computed values and scikit-learn as an independent reference."""

from __future__ import annotations

import csv
import json
import math
import statistics
import sys

import numpy as np
import pytest
from sklearn import metrics as skm

from astaudio.metrics import (
    d_prime,
    ensemble_scores,
    format_metrics_table,
    metrics_to_jsonable,
    multilabel_metrics,
    plot_confusion,
    singlelabel_metrics,
    write_confusion_csv,
)


def test_perfect_ranking_gives_ap_and_auc_of_one() -> None:
    targets = np.array([[1, 0], [1, 0], [0, 1], [0, 1]])
    scores = np.array([[0.9, 0.2], [0.8, 0.1], [0.3, 0.7], [0.1, 0.6]])
    result = multilabel_metrics(scores, targets)
    np.testing.assert_allclose(result["ap"], [1.0, 1.0])
    np.testing.assert_allclose(result["auc"], [1.0, 1.0])
    assert result["mAP"] == 1.0 and result["mAUC"] == 1.0
    assert result["d_prime"] == math.inf
    assert result["accuracy"] == 1.0
    assert result["skipped_no_positive"] == []


def test_hand_computed_ap_and_auc() -> None:
    # class 0: the only positive ranked last of four -> AP = 1/4, AUC = 0
    # class 1: ranking pos, neg, pos, neg -> AP = (1/1 + 2/3) / 2, AUC = 3 of 4 pairs
    targets = np.array([[1, 1], [0, 0], [0, 1], [0, 0]])
    scores = np.array([[0.1, 0.9], [0.2, 0.8], [0.3, 0.7], [0.4, 0.6]])
    result = multilabel_metrics(scores, targets)
    np.testing.assert_allclose(result["ap"], [0.25, (1.0 + 2.0 / 3.0) / 2.0])
    np.testing.assert_allclose(result["auc"], [0.0, 0.75])
    assert result["mAP"] == pytest.approx((0.25 + 5.0 / 6.0) / 2.0)
    assert result["mAUC"] == pytest.approx(0.375)
    expected_d_prime = math.sqrt(2.0) * statistics.NormalDist().inv_cdf(0.375)
    assert result["d_prime"] == pytest.approx(expected_d_prime)


def test_random_scores_match_sklearn_per_class() -> None:
    rng = np.random.default_rng(0)
    targets = (rng.random((200, 7)) < 0.3).astype(np.float32)
    scores = rng.random((200, 7)).astype(np.float32) + 0.5 * targets  # informative
    result = multilabel_metrics(scores, targets)
    expected_ap = skm.average_precision_score(targets, scores, average=None)
    expected_auc = skm.roc_auc_score(targets, scores, average=None)
    np.testing.assert_allclose(result["ap"], expected_ap, rtol=1e-12)
    np.testing.assert_allclose(result["auc"], expected_auc, rtol=1e-12)
    assert result["mAP"] == pytest.approx(np.mean(expected_ap))
    assert result["mAUC"] == pytest.approx(np.mean(expected_auc))
    assert 0.5 < result["mAUC"] < 1.0


def test_torch_inputs_and_soft_targets_are_accepted() -> None:
    torch = pytest.importorskip("torch")
    targets = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]])  # mixup-like soft targets
    scores = torch.tensor([[0.8, 0.3], [0.1, 0.9], [0.6, 0.5]], requires_grad=True)
    result = multilabel_metrics(scores, targets)
    np.testing.assert_allclose(result["ap"], [1.0, 1.0])


def test_class_without_positive_is_excluded_and_counted() -> None:
    targets = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    scores = np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.4], [0.7, 0.6, 0.3], [0.1, 0.2, 0.9]])
    result = multilabel_metrics(scores, targets)
    assert result["skipped_no_positive"] == [2]
    assert math.isnan(result["ap"][2]) and math.isnan(result["auc"][2])
    expected_ap = skm.average_precision_score(targets[:, :2], scores[:, :2], average=None)
    assert result["mAP"] == pytest.approx(np.mean(expected_ap))
    table = format_metrics_table(result, ["a", "b", "c"])
    assert "1 class(es) without a positive item" in table


def test_class_with_only_positives_keeps_ap_but_not_auc() -> None:
    targets = np.array([[1, 1], [1, 0], [1, 1]])
    scores = np.array([[0.2, 0.9], [0.5, 0.1], [0.9, 0.6]])
    result = multilabel_metrics(scores, targets)
    assert result["ap"][0] == 1.0
    assert math.isnan(result["auc"][0])
    assert result["skipped_auc_no_negative"] == [0]
    assert result["mAUC"] == pytest.approx(1.0)


def test_shape_mismatch_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="same shape"):
        multilabel_metrics(np.zeros((3, 2)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="2-D"):
        multilabel_metrics(np.zeros(3), np.zeros(3))


def test_missing_sklearn_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ImportError, match=r"astaudio\[metrics\]"):
        multilabel_metrics(np.eye(2), np.eye(2))
    # single-label metrics still work, just without the ranking metrics
    result = singlelabel_metrics(np.eye(2), [0, 1])
    assert result["accuracy"] == 1.0 and "mAP" not in result


def test_d_prime_known_values(monkeypatch: pytest.MonkeyPatch) -> None:
    assert d_prime(0.5) == pytest.approx(0.0, abs=1e-12)
    assert d_prime(0.975) == pytest.approx(math.sqrt(2.0) * 1.959963984540054, rel=1e-9)
    assert d_prime(1.0) == math.inf and d_prime(0.0) == -math.inf
    assert math.isnan(d_prime(float("nan")))
    # without scipy the standard library's inverse CDF takes over
    monkeypatch.setitem(sys.modules, "scipy.stats", None)
    assert d_prime(0.8) == pytest.approx(math.sqrt(2.0) * 0.8416212335729143, rel=1e-9)


def test_singlelabel_known_confusion() -> None:
    # true:      0  0  0  1  1  2
    # predicted: 0  0  1  1  2  2
    targets = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 0, 1, 1, 2, 2])
    scores = np.eye(3)[predicted] * 0.8 + 0.1
    result = singlelabel_metrics(scores, targets, ranking_metrics=False)
    np.testing.assert_array_equal(result["confusion"], [[2, 1, 0], [0, 1, 1], [0, 0, 1]])
    assert result["accuracy"] == pytest.approx(4 / 6)
    np.testing.assert_allclose(result["precision"], [1.0, 0.5, 0.5])
    np.testing.assert_allclose(result["recall"], [2 / 3, 0.5, 1.0])
    np.testing.assert_allclose(result["f1"], [0.8, 0.5, 2 / 3])
    np.testing.assert_array_equal(result["support"], [3, 2, 1])
    assert result["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert "mAP" not in result


def test_singlelabel_matches_sklearn_with_absent_classes() -> None:
    rng = np.random.default_rng(1)
    num_classes = 6
    targets = rng.integers(0, 4, size=60)  # classes 4 and 5 never occur
    scores = rng.random((60, num_classes))
    scores[np.arange(60), targets] += rng.random(60)  # better than chance
    result = singlelabel_metrics(scores, targets, ranking_metrics=True)
    predicted = scores.argmax(axis=1)
    labels = list(range(num_classes))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        targets, predicted, labels=labels, zero_division=0
    )
    np.testing.assert_allclose(result["precision"], precision)
    np.testing.assert_allclose(result["recall"], recall)
    np.testing.assert_allclose(result["f1"], f1)
    np.testing.assert_array_equal(result["support"], support)
    np.testing.assert_array_equal(
        result["confusion"], skm.confusion_matrix(targets, predicted, labels=labels)
    )
    assert result["accuracy"] == pytest.approx(skm.accuracy_score(targets, predicted))
    # macro averages run over the classes present in the data (0-3), as sklearn's labels= does
    present = [0, 1, 2, 3]
    for key, function in (("macro_f1", skm.f1_score), ("macro_precision", skm.precision_score),
                          ("macro_recall", skm.recall_score)):  # fmt: skip
        expected = function(targets, predicted, labels=present, average="macro", zero_division=0)
        assert result[key] == pytest.approx(expected, abs=1e-15), key
    assert result["macro_classes"] == 4
    assert result["skipped_no_positive"] == [4, 5]
    one_hot = np.eye(num_classes)[targets]
    expected_auc = skm.roc_auc_score(one_hot[:, :4], scores[:, :4], average=None)
    assert result["mAUC"] == pytest.approx(np.mean(expected_auc))


def test_one_hot_targets_equal_index_targets() -> None:
    scores = np.array([[0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    by_index = singlelabel_metrics(scores, [1, 0, 0], ranking_metrics=False)
    by_one_hot = singlelabel_metrics(scores, np.eye(2)[[1, 0, 0]], ranking_metrics=False)
    np.testing.assert_array_equal(by_index["confusion"], by_one_hot["confusion"])
    assert by_index["accuracy"] == by_one_hot["accuracy"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        singlelabel_metrics(scores, [0, 2, 1])


def test_ensemble_scores_is_the_mean() -> None:
    first = np.array([[0.0, 1.0], [0.5, 0.5]])
    second = np.array([[1.0, 0.0], [0.25, 0.75]])
    np.testing.assert_allclose(ensemble_scores([first, second]), [[0.5, 0.5], [0.375, 0.625]])
    with pytest.raises(ValueError, match="shape"):
        ensemble_scores([first, np.zeros((3, 2))])
    with pytest.raises(ValueError, match="at least one"):
        ensemble_scores([])


def test_write_confusion_csv_round_trips_awkward_names(tmp_path) -> None:
    labels = ["Male speech, man speaking", 'Say "hi"', "dog"]
    matrix = np.array([[3, 0, 1], [0, 2, 0], [1, 1, 4]])
    path = write_confusion_csv(matrix, labels, tmp_path / "sub" / "confusion.csv")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["true\\predicted", *labels]
    assert [row[0] for row in rows[1:]] == labels
    np.testing.assert_array_equal(np.array([row[1:] for row in rows[1:]], dtype=int), matrix)
    with pytest.raises(ValueError, match="labels"):
        write_confusion_csv(matrix, labels[:2], tmp_path / "bad.csv")


def test_plot_confusion_writes_png(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    path = plot_confusion(np.array([[5, 1], [0, 4]]), ["yes", "no"], tmp_path / "confusion.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_format_metrics_table_orders_and_limits_rows() -> None:
    targets = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]])
    scores = np.array([[0.9, 0.1, 0.8], [0.1, 0.9, 0.2], [0.95, 0.1, 0.3], [0.8, 0.2, 0.1]])
    result = multilabel_metrics(scores, targets)
    table = format_metrics_table(result, ["alpha", "beta", "gamma"], top=2)
    lines = table.splitlines()
    class_rows = [
        line for line in lines if line.split() and line.split()[0] in {"alpha", "beta", "gamma"}
    ]
    # beta has AP 1, alpha (1/2 + 2/3) / 2, gamma 1/2 -> best two, best first
    assert [row.split()[0] for row in class_rows] == ["beta", "alpha"]
    assert "1.0000" in class_rows[0]
    assert "... 1 more class(es)" in table
    assert f"{result['mAP']:.4f}" in table

    single = singlelabel_metrics(scores, targets, ranking_metrics=False)
    single_table = format_metrics_table(single, ["alpha", "beta", "gamma"], top=None)
    assert "support" in single_table and "macro F1" in single_table
    with pytest.raises(ValueError, match="labels"):
        format_metrics_table(single, ["alpha"])


def test_metrics_to_jsonable_is_strict_json() -> None:
    targets = np.array([[1, 0], [0, 0], [1, 0]])
    result = multilabel_metrics(np.random.default_rng(2).random((3, 2)), targets)
    encoded = json.dumps(metrics_to_jsonable(result), allow_nan=False)
    decoded = json.loads(encoded)
    assert decoded["ap"][1] is None and decoded["skipped_no_positive"] == [1]
