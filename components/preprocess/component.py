"""KFP component: the Beam preprocess job (``preprocess.pipeline.run_preprocess``)."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components.images import COMPONENT


@dsl.component(**COMPONENT)
def preprocess(encoder_model: Input[Model], data_path: str, text_column: str,
               text_pair_column: str, text_pair_separator: str, label_column: str,
               label_vocab: str, split_key_column: str, eval_fraction: float,
               test_fraction: float, max_seq_length: int, num_shards: int, gzip: bool,
               max_rejected_fraction: float, max_field_chars: int, beam_options: str, slice_column: str,
               data_version: str, examples: Output[Dataset]):
    """Tokenizes the rows into train/eval(/test) TFRecords; ``beam_options`` are Beam flags.

    ``data_version`` only labels the data (it is part of KFP's cache key; see DataConfig)."""
    import sys

    from components.config import DataConfig, pick
    from components.preprocess.pipeline import TooManyRejected, run_preprocess

    data = pick(DataConfig, locals())
    try:
        result = run_preprocess(data, encoder_model.path, examples.path)
    except TooManyRejected as err:  # one line, no traceback: the dead letters say the rest
        print(f"preprocess: error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    prepared = result.examples
    examples.metadata.update({"labels": prepared.labels,
                              "dead_letters": prepared.dead_letter.count,
                              "data_version": data_version,
                              **{f"{s}_count": v.count for s, v in prepared.splits.items()}})
