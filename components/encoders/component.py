"""KFP component: import the encoder into a TF Hub-API SavedModel (``encoders.sources``)."""

from kfp import dsl
from kfp.dsl import Model, Output

from components.images import COMPONENT


@dsl.component(**COMPONENT)
def import_encoder(encoder: str, encoder_model: Output[Model]):
    """Converts ``encoder`` (a built-in name or a folder) into ``encoder_model``."""
    from components.encoders.sources import import_encoder as run

    info = run(encoder, encoder_model.path)
    encoder_model.metadata.update({"source": info.source, "num_layers": info.num_layers,
                                   "hidden_size": info.hidden_size,
                                   "do_lower_case": info.do_lower_case})
