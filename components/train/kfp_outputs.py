"""What a train step (one pod or a TFJob) shows in the Kubeflow UI, from its TrainingReport:
the same ``train_metrics`` scalars and ``model`` metadata whichever way it trained."""

from __future__ import annotations

from typing import Any

from components.contracts import TrainingReport


def train_outputs(report: TrainingReport) -> tuple[dict[str, float], dict[str, Any]]:
    """``(metrics, model metadata)``: parameter counts, batch, final value of every curve."""
    metrics: dict[str, float] = {"trainable_params": report.trainable_params,
                                 "global_batch_size": report.global_batch_size}
    metrics.update({f"final_{k}": v[-1] for k, v in report.history.items() if v})
    metadata = {"trainable_params": report.trainable_params, "replicas": report.replicas,
                "framework": "tensorflow"}
    return metrics, metadata
