"""Length-aware batching: batches of one length bucket, cut to it, nothing lost or repeated,
repeatable for a seed, and the same shape on every replica of a step."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from components.train.data import load_split

WIDTH = 8


def _rows(ds) -> list[tuple]:
    """Each example as (label, real ids), the padding dropped."""
    rows = []
    for features, labels in ds:
        for ids, mask, label in zip(features["input_word_ids"].numpy(),
                                    features["input_mask"].numpy(), labels.numpy()):
            rows.append((int(label), tuple(ids[mask > 0])))
    return rows


def test_buckets_cut_batches_and_keep_every_example(preprocessed_tiny):
    ex = preprocessed_tiny.examples
    pattern, max_len = ex.pattern("train"), ex.max_seq_length
    plain = load_split(pattern, max_len, 16, ex.compression)
    bucketed = load_split(pattern, max_len, 16, ex.compression, shuffle_seed=7,
                          bucket_width=WIDTH)
    lengths = set()
    for features, labels in bucketed:
        ids, mask = features["input_word_ids"].numpy(), features["input_mask"].numpy()
        width = ids.shape[1]
        real = mask.sum(1)
        lengths.add(width)
        assert width % WIDTH == 0 or width == max_len
        assert real.max() <= width, "a batch was cut shorter than its longest text"
        assert real.min() > width - WIDTH, "a batch mixes length buckets"
        assert {f.shape for f in features.values()} == {ids.shape} and labels.shape[0] == ids.shape[0]
    assert len(lengths) >= 2 and max(lengths) <= max_len
    assert min(lengths) < max_len, "no batch was shorter than max_seq_length"
    assert sorted(_rows(bucketed)) == sorted(_rows(plain)), "examples lost or repeated"


def test_bucketed_order_repeats_for_a_seed(preprocessed_tiny):
    ex = preprocessed_tiny.examples

    def order(seed):
        ds = load_split(ex.pattern("train"), ex.max_seq_length, 16, ex.compression,
                        shuffle_seed=seed, bucket_width=WIDTH, repeat=True)
        return _rows(ds.take(12))

    assert order(3) == order(3)
    assert order(3) != order(4)


def test_every_replica_gets_the_same_shape(preprocessed_tiny, two_cpu_strategy):
    ex = preprocessed_tiny.examples
    ds = load_split(ex.pattern("train"), ex.max_seq_length, 16, ex.compression,
                    shuffle_seed=1, bucket_width=WIDTH, repeat=True)
    widths = set()
    for step, (features, _) in enumerate(two_cpu_strategy.experimental_distribute_dataset(ds)):
        shapes = [t.shape for t in two_cpu_strategy.experimental_local_results(
            features["input_word_ids"])]
        assert len(shapes) == 2 and shapes[0] == shapes[1], shapes
        widths.add(shapes[0][1])
        if step == 20:
            break
    assert len(widths) >= 2


def test_training_sees_cut_batches(tiny_encoder_dir, preprocessed_tiny, tmp_path):
    """The Keras model takes any length: a bucketed run trains and records its width."""
    from components.config import TrainConfig
    from components.keras import keras
    from components.train.trainer import run_train

    seen = []

    class Widths(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(batch)

    cfg = TrainConfig(freeze="last:1", epochs=1, batch_size=16, max_train_examples=96,
                      bucket_width=WIDTH, mixed_precision="float32")
    result = run_train(cfg, tiny_encoder_dir, preprocessed_tiny.output_dir,
                       str(tmp_path / "t"), verbose=0, callbacks=[Widths()])
    assert np.isfinite(result.history["loss"][-1]) and len(seen) == 6
    assert result.report.bucket_width == WIDTH
    assert result.report.precision["policy"] == "float32"
