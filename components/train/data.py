"""Reading the preprocess step's TFRecords as ``tf.data`` pipelines of (features, label)."""

from __future__ import annotations

import tensorflow as tf

from components.contracts import ENCODER_INPUTS, example_feature_spec


def load_split(pattern: str, max_seq_length: int, batch_size: int, compression: str | None,
               shuffle_seed: int | None = None, take: int = 0,
               num_workers: int = 1) -> tf.data.Dataset:
    """Batches of ``({input_word_ids, input_mask, input_type_ids}: int32, label: int32)``.

    Files are read in sorted order and shuffled with a fixed seed, so a run is repeatable.
    With several workers, each reads its own files when there are enough, else every
    worker reads all files and keeps its share of the records.
    """
    files = sorted(tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no TFRecord files match {pattern}")
    spec = example_feature_spec(max_seq_length)
    ds = tf.data.TFRecordDataset(files, compression_type=compression or "")
    if shuffle_seed is not None:
        ds = ds.shuffle(50_000, seed=shuffle_seed, reshuffle_each_iteration=True)
    if take:
        ds = ds.take(take)

    def parse(serialized):
        parsed = tf.io.parse_example(serialized, spec)
        features = {name: tf.cast(parsed[name], tf.int32) for name in ENCODER_INPUTS}
        return features, tf.cast(tf.squeeze(parsed["label"], -1), tf.int32)

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.FILE if len(files) >= num_workers
        else tf.data.experimental.AutoShardPolicy.DATA)
    return ds.batch(batch_size).map(parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE).with_options(options)
