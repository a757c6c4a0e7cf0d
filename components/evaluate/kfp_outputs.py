"""The evaluation as KFP v2 artifacts the Kubeflow UI renders (Metrics, ClassificationMetrics).

Kept apart from ``evaluator`` so the metrics stay testable without KFP artifact objects.
"""

from __future__ import annotations

from typing import Any

from components.contracts import Evaluation

SCALARS = ("accuracy", "macro_precision", "macro_recall", "macro_f1", "weighted_precision",
           "weighted_recall", "weighted_f1", "mcc", "log_loss", "roc_auc", "pr_auc")


def metric_scalars(result: Evaluation) -> dict[str, float]:
    """Flat ``{name: number}``: eval metrics plain, test metrics prefixed ``test_``, per-class
    precision/recall/F1, and the gate's numbers when the result has a blessing."""
    out: dict[str, float] = {}
    for split, metrics in result.splits.items():
        prefix = "" if split == "eval" else f"{split}_"
        for name in SCALARS:
            if name in metrics:
                out[f"{prefix}{name}"] = float(metrics[name])
        if split == "eval":
            for label, values in metrics["per_class"].items():
                for name in ("precision", "recall", "f1"):
                    out[f"{name}_{label}"] = float(values[name])
    blessing = result.blessing
    if blessing:
        out["blessed"] = float(blessing.blessed)
        if blessing.baseline is not None:
            out["gate_baseline"] = float(blessing.baseline)
        out["gate_min_metric"] = float(blessing.min_metric)
    return out


def log_metrics(metrics, result: Evaluation) -> None:
    """Scalars into a ``Metrics`` artifact; the gate's reason goes into its metadata."""
    for name, value in metric_scalars(result).items():
        metrics.log_metric(name, value)
    if result.blessing:
        metrics.metadata["blessing"] = result.blessing.reason


def log_classification_metrics(artifact, metrics: dict[str, Any]) -> None:
    """Confusion matrix, and for binary problems the ROC curve with its thresholds."""
    matrix = metrics["confusion_matrix"]
    artifact.log_confusion_matrix(matrix["labels"], matrix["matrix"])
    if "roc" in metrics:
        roc = metrics["roc"]
        artifact.log_roc_curve(roc["fpr"], roc["tpr"], roc["thresholds"])
