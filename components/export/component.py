"""KFP components: the inference exports (``export.serving.export_model``) and publish."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Model, Output

from components.images import COMPONENT


@dsl.component(**COMPONENT)
def export(model: Input[Model], encoder_model: Input[Model], examples: Input[Dataset],
           evaluation: Input[Artifact], exported_model: Output[Model]):
    """Writes frozen_graph.pb (+ .json), serving_model/ and model_card.json."""
    from components.contracts import Evaluation, PreparedExamples
    from components.export.model_card import write_model_card
    from components.export.serving import export_model

    prepared = PreparedExamples.load(examples.path)
    paths = export_model(f"{model.path}/model", encoder_model.path, prepared,
                         exported_model.path)
    card = write_model_card(exported_model.path, model.path, encoder_model.path, prepared,
                            Evaluation.load(evaluation.path))
    exported_model.metadata.update({k: v.rsplit("/", 1)[-1] for k, v in paths.items()})
    exported_model.metadata["model_card"] = card.rsplit("/", 1)[-1]


@dsl.component(**COMPONENT)
def publish(exported_model: Input[Model], evaluation: Input[Artifact], blessed_root: str,
            main_metric: str, schedule_time: str, job_name: str) -> str:
    """Copies a blessed export to ``blessed_root/<version>/`` and points ``blessed.json`` at
    it; the version is the run's scheduled time (recurring runs) or its job name. Returns the
    published location ('' when no ``blessed_root`` is set)."""
    from components.contracts import Evaluation
    from components.export.publish import publish_blessed, version_name

    return publish_blessed(exported_model.path, Evaluation.load(evaluation.path), blessed_root,
                           main_metric, version_name(schedule_time, job_name))
