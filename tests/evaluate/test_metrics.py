"""Metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from components.evaluate.metrics import classification_metrics, roc_curve, summary_line


def test_binary_metrics_by_hand():
    labels = np.array([0, 0, 1, 1, 1])
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.7, 0.3], [0.1, 0.9]])
    m = classification_metrics(labels, probs, ["neg", "pos"])
    assert m["confusion_matrix"]["matrix"] == [[1, 1], [1, 2]]
    assert math.isclose(m["accuracy"], 3 / 5)
    assert math.isclose(m["per_class"]["pos"]["precision"], 2 / 3)
    assert math.isclose(m["per_class"]["pos"]["recall"], 2 / 3)
    assert math.isclose(m["per_class"]["neg"]["precision"], 1 / 2)
    assert math.isclose(m["macro_f1"], (0.5 + 2 / 3) / 2)
    expected_loss = -np.mean(np.log([0.9, 0.4, 0.8, 0.3, 0.9]))
    assert math.isclose(m["log_loss"], expected_loss)
    # scores 0.9,0.8 pos; 0.6 neg; 0.3 pos; 0.1 neg  -> AUC = 5/6
    assert math.isclose(m["roc"]["auc"], 5 / 6)
    assert summary_line(m) == "accuracy=0.600 macro_f1=0.583"


def test_multiclass_has_no_roc_and_handles_absent_class():
    labels = np.array([0, 1, 1])
    probs = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1]])
    m = classification_metrics(labels, probs, ["a", "b", "c"])
    assert "roc" not in m
    assert m["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_roc_curve_is_thinned_and_monotone():
    rng = np.random.default_rng(0)
    fpr, tpr, thr = roc_curve(rng.integers(0, 2, 5000), rng.random(5000), max_points=100)
    assert len(fpr) <= 100 and fpr[0] == 0.0 and fpr[-1] == 1.0 and tpr[-1] == 1.0
    assert all(a <= b for a, b in zip(fpr, fpr[1:])) and all(a >= b for a, b in zip(thr, thr[1:]))


@pytest.mark.parametrize("num_labels, n, seed", [(2, 400, 1), (3, 500, 2), (5, 300, 3)])
def test_metrics_agree_with_scikit_learn(num_labels, n, seed):
    """Every scalar against scikit-learn's implementation on random predictions with ties."""
    from sklearn import metrics as skm

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_labels, n)
    logits = rng.normal(size=(n, num_labels)) + 1.5 * np.eye(num_labels)[labels]
    probs = np.exp(logits.round(1)) / np.exp(logits.round(1)).sum(1, keepdims=True)
    m = classification_metrics(labels, probs, [f"c{i}" for i in range(num_labels)])
    pred = probs.argmax(1)
    assert math.isclose(m["accuracy"], skm.accuracy_score(labels, pred))
    for avg in ("macro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(labels, pred, average=avg,
                                                         zero_division=0)
        assert math.isclose(m[f"{avg}_precision"], p) and math.isclose(m[f"{avg}_recall"], r)
        assert math.isclose(m[f"{avg}_f1"], f)
    assert math.isclose(m["mcc"], skm.matthews_corrcoef(labels, pred), abs_tol=1e-12)
    assert math.isclose(m["log_loss"], skm.log_loss(labels, probs), rel_tol=1e-9)
    assert m["confusion_matrix"]["matrix"] == skm.confusion_matrix(labels, pred).tolist()
    if num_labels == 2:
        assert math.isclose(m["roc_auc"], skm.roc_auc_score(labels, probs[:, 1]))
        assert math.isclose(m["pr_auc"], skm.average_precision_score(labels, probs[:, 1]))
    else:
        assert math.isclose(m["roc_auc"], skm.roc_auc_score(labels, probs, multi_class="ovr"))
        onehot = np.eye(num_labels)[labels]
        assert math.isclose(m["pr_auc"], skm.average_precision_score(onehot, probs))
