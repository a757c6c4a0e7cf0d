"""KFP component: metrics the Kubeflow UI renders (``evaluate.evaluator.run_evaluate``)."""

from kfp import dsl
from kfp.dsl import ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from components.images import IMAGE


@dsl.component(base_image=IMAGE)
def evaluate(model: Input[Model], examples: Input[Dataset], metrics: Output[Metrics],
             classification_metrics: Output[ClassificationMetrics]) -> str:
    """Scores the eval split; returns the summary line ``accuracy=… macro_f1=…``."""
    from components.evaluate.evaluator import run_evaluate
    from components.evaluate.metrics import summary_line

    result = run_evaluate(f"{model.path}/model", examples.path)
    for name in ("accuracy", "macro_precision", "macro_recall", "macro_f1", "log_loss"):
        metrics.log_metric(name, result[name])
    for label, values in result["per_class"].items():
        for name in ("precision", "recall", "f1"):
            metrics.log_metric(f"{name}_{label}", values[name])
    if "roc" in result:
        metrics.log_metric("roc_auc", result["roc"]["auc"])
        roc = result["roc"]
        classification_metrics.log_roc_curve(roc["fpr"], roc["tpr"], roc["thresholds"])
    matrix = result["confusion_matrix"]
    classification_metrics.log_confusion_matrix(matrix["labels"], matrix["matrix"])
    return summary_line(result)
