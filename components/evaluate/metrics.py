"""Classification metrics from predicted probabilities, in plain NumPy.

Kept free of TensorFlow and KFP so that the numbers can be checked by hand in tests and the
same dict feeds ``metrics.json``, the KFP ``Metrics`` artifact and the summary line.
"""

from __future__ import annotations

from typing import Any

import numpy as np



def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_labels: int) -> np.ndarray:
    """Rows are true labels, columns predicted labels."""
    matrix = np.zeros((num_labels, num_labels), np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def roc_curve(labels: np.ndarray, scores: np.ndarray, max_points: int = 200
              ) -> tuple[list[float], list[float], list[float]]:
    """(fpr, tpr, thresholds) of a binary problem, thinned to at most ``max_points``."""
    order = np.argsort(-scores, kind="stable")
    scores, labels = scores[order], labels[order]
    positives = max(int(labels.sum()), 1)
    negatives = max(int(len(labels) - labels.sum()), 1)
    distinct = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    tps = np.cumsum(labels)[distinct]
    fps = (distinct + 1) - tps
    fpr = np.r_[0.0, fps / negatives]
    tpr = np.r_[0.0, tps / positives]
    thresholds = np.r_[1.0, scores[distinct]]
    if len(fpr) > max_points:
        keep = np.unique(np.linspace(0, len(fpr) - 1, max_points).round().astype(int))
        fpr, tpr, thresholds = fpr[keep], tpr[keep], thresholds[keep]
    return fpr.tolist(), tpr.tolist(), thresholds.tolist()


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall curve as the step-wise sum (no interpolation)."""
    positives = int(labels.sum())
    if positives == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    scores, labels = scores[order], labels[order]
    distinct = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    tps = np.cumsum(labels)[distinct]
    precision = tps / (distinct + 1)
    recall = tps / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def pr_curve(labels: np.ndarray, scores: np.ndarray, max_points: int = 200
             ) -> tuple[list[float], list[float]]:
    """(recall, precision) of a binary problem, thinned to at most ``max_points``."""
    order = np.argsort(-scores, kind="stable")
    scores, labels = scores[order], labels[order]
    distinct = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    tps = np.cumsum(labels)[distinct]
    precision = np.r_[1.0, tps / (distinct + 1)]
    recall = np.r_[0.0, tps / max(int(labels.sum()), 1)]
    if len(recall) > max_points:
        keep = np.unique(np.linspace(0, len(recall) - 1, max_points).round().astype(int))
        recall, precision = recall[keep], precision[keep]
    return recall.tolist(), precision.tolist()


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    fpr, tpr, _ = roc_curve(labels, scores, max_points=len(labels) + 2)
    return float(np.trapezoid(tpr, fpr))


def matthews_corrcoef(matrix: np.ndarray) -> float:
    """Multi-class MCC (Gorodkin's R_K) from a confusion matrix; 0 when undefined."""
    matrix = matrix.astype(np.float64)
    n = matrix.sum()
    correct = np.trace(matrix)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    cov_ypyp = n * n - np.dot(predicted, predicted)
    cov_ytyt = n * n - np.dot(actual, actual)
    if cov_ypyp == 0 or cov_ytyt == 0:
        return 0.0
    return float((correct * n - np.dot(predicted, actual)) / np.sqrt(cov_ytyt * cov_ypyp))


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray,
                           label_names: list[str]) -> dict[str, Any]:
    """Accuracy; per-class, macro and weighted precision/recall/F1; log loss; MCC; ROC AUC and
    PR AUC (binary: of the second label; multi-class: one-vs-rest, macro over the classes
    present); confusion matrix; and for binary problems the ROC and PR curves."""
    labels = np.asarray(labels, np.int64)
    probabilities = np.asarray(probabilities, np.float64)
    num_labels = len(label_names)
    predictions = probabilities.argmax(axis=1)
    matrix = confusion_matrix(labels, predictions, num_labels)
    true_pos = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    actual = matrix.sum(axis=1).astype(np.float64)
    precision = np.divide(true_pos, predicted, out=np.zeros(num_labels), where=predicted > 0)
    recall = np.divide(true_pos, actual, out=np.zeros(num_labels), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(num_labels), where=denom > 0)
    weights = actual / max(actual.sum(), 1.0)
    picked = probabilities[np.arange(len(labels)), labels]
    result: dict[str, Any] = {
        "examples": int(len(labels)),
        "accuracy": float((predictions == labels).mean()) if len(labels) else 0.0,
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        "weighted_precision": float(np.dot(weights, precision)),
        "weighted_recall": float(np.dot(weights, recall)),
        "weighted_f1": float(np.dot(weights, f1)),
        "mcc": matthews_corrcoef(matrix),
        "log_loss": float(-np.log(np.clip(picked, 1e-15, 1.0)).mean()) if len(labels) else 0.0,
        "per_class": {name: {"precision": float(precision[i]), "recall": float(recall[i]),
                             "f1": float(f1[i]), "support": int(actual[i])}
                      for i, name in enumerate(label_names)},
        "confusion_matrix": {"labels": list(label_names), "matrix": matrix.tolist()},
    }
    if num_labels == 2:
        positive = (labels == 1).astype(np.int64)
        fpr, tpr, thresholds = roc_curve(positive, probabilities[:, 1])
        recall_pts, precision_pts = pr_curve(positive, probabilities[:, 1])
        result["roc_auc"] = _auc(positive, probabilities[:, 1])
        result["pr_auc"] = average_precision(positive, probabilities[:, 1])
        result["roc"] = {"positive_label": label_names[1], "fpr": fpr, "tpr": tpr,
                         "thresholds": thresholds, "auc": result["roc_auc"]}
        result["pr"] = {"positive_label": label_names[1], "recall": recall_pts,
                        "precision": precision_pts, "auc": result["pr_auc"]}
    else:
        present = [i for i in range(num_labels) if 0 < actual[i] < len(labels)]
        one_vs_rest = [((labels == i).astype(np.int64), probabilities[:, i]) for i in present]
        result["roc_auc"] = (float(np.mean([_auc(y, s) for y, s in one_vs_rest]))
                             if present else 0.0)
        result["pr_auc"] = (float(np.mean([average_precision(y, s) for y, s in one_vs_rest]))
                            if present else 0.0)
    return result


def summary_line(metrics: dict[str, Any]) -> str:
    """The line ``make run`` ends with."""
    return f"accuracy={metrics['accuracy']:.3f} macro_f1={metrics['macro_f1']:.3f}"
