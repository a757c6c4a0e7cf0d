"""KFP components: evaluation the Kubeflow UI renders, and the quality gate (blessing)."""

from kfp import dsl
from kfp.dsl import (HTML, Artifact, ClassificationMetrics, Dataset, Input, Markdown, Metrics,
                     Model, Output)

from components.images import COMPONENT


@dsl.component(**COMPONENT)
def evaluate(model: Input[Model], examples: Input[Dataset], main_metric: str, min_metric: float,
             max_regression: float, blessed_root: str, metrics: Output[Metrics],
             classification_metrics: Output[ClassificationMetrics], report: Output[HTML],
             summary: Output[Markdown], evaluation: Output[Artifact]) -> str:
    """Scores eval (and test) splits and judges the model against the quality gate.

    Writes the HTML report, a Markdown summary and ``evaluation`` (the ``Evaluation``
    contract with the metrics and the blessing) for the gate and the model card; the blessing
    and its reason are in ``metrics`` too. Returns the summary line ``accuracy=… macro_f1=…``."""
    import dataclasses

    from components.evaluate.blessing import decide
    from components.evaluate.evaluator import run_evaluate
    from components.evaluate.kfp_outputs import log_classification_metrics, log_metrics
    from components.evaluate.metrics import summary_line
    from components.evaluate.report import write_markdown, write_report

    result = run_evaluate(model.path, examples.path)
    blessing = decide(result.eval_metrics, main_metric, min_metric, max_regression,
                      blessed_root)
    result = dataclasses.replace(result, blessing=blessing)
    result.save(evaluation.path)
    log_metrics(metrics, result)
    log_classification_metrics(classification_metrics, result.eval_metrics)
    write_report(result, report.path)
    write_markdown(result, summary.path)
    print(f"quality gate: {blessing.reason}")
    return summary_line(result.eval_metrics)


@dsl.component(**COMPONENT)
def gate(evaluation: Input[Artifact]) -> bool:
    """The blessing decided by ``evaluate``, as the one output ``dsl.If`` branches on."""
    from components.contracts import Evaluation

    blessing = Evaluation.load(evaluation.path).blessing
    return bool(blessing and blessing.blessed)
