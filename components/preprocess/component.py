"""KFP component: the Beam preprocess job (``preprocess.pipeline.run_preprocess``)."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components.images import IMAGE


@dsl.component(base_image=IMAGE)
def preprocess(encoder_model: Input[Model], data_path: str, text_column: str,
               text_pair_column: str, label_column: str, split_key_column: str,
               eval_fraction: float, max_seq_length: int, num_shards: int, gzip: bool,
               beam_options: str, examples: Output[Dataset]):
    """Tokenizes the rows into train/eval TFRecords; ``beam_options`` are Beam flags."""
    from components.config import DataConfig
    from components.preprocess.pipeline import run_preprocess

    data = DataConfig(data_path=data_path, text_column=text_column,
                      text_pair_column=text_pair_column, label_column=label_column,
                      split_key_column=split_key_column, eval_fraction=eval_fraction,
                      max_seq_length=max_seq_length, num_shards=num_shards, gzip=gzip,
                      beam_options=beam_options)
    result = run_preprocess(data, encoder_model.path, examples.path)
    meta = result.metadata
    examples.metadata.update({"labels": meta["labels"], "dead_letters": meta["dead_letter"]["count"],
                              **{f"{s}_count": v["count"] for s, v in meta["splits"].items()}})
