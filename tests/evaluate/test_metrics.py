"""Metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np

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
