"""KFP component: freeze for inference (``export.freeze.export_model``)."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components.images import IMAGE


@dsl.component(base_image=IMAGE)
def export(model: Input[Model], encoder_model: Input[Model], examples: Input[Dataset],
           exported_model: Output[Model]):
    """Writes frozen_graph.pb (+ .json) and serving_model/ into ``exported_model``."""
    from components.export.freeze import export_model
    from components.train.trainer import read_metadata

    paths = export_model(f"{model.path}/model", encoder_model.path,
                         read_metadata(examples.path), exported_model.path)
    exported_model.metadata.update({k: v.rsplit("/", 1)[-1] for k, v in paths.items()})
