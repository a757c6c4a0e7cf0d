"""Reading the preprocess step's TFRecords as ``tf.data`` pipelines of (features, label).

Examples are stored padded to ``max_seq_length``, but real texts are mostly much shorter.
With ``bucket_width`` > 0, examples are grouped by length (``group_by_window`` on the number
of real tokens rounded up to a multiple of ``bucket_width``) and every batch is cut to its
bucket's length, so a step pays for the tokens it has, and there are only
``max_seq_length / bucket_width`` batch shapes. Grouping happens after the seeded shuffle and
is followed by a seeded shuffle of the batches, so training order stays random and repeatable.
"""

from __future__ import annotations

import tensorflow as tf

from components.contracts import ENCODER_INPUTS, example_feature_spec

PARSE_BATCH = 1024      # records parsed per parse_example call
BATCH_SHUFFLE = 16      # batches shuffled after grouping by length


def load_split(pattern: str, max_seq_length: int, batch_size: int, compression: str | None,
               shuffle_seed: int | None = None, take: int = 0, num_workers: int = 1,
               bucket_width: int = 0, repeat: bool = False) -> tf.data.Dataset:
    """Batches of ``({input_word_ids, input_mask, input_type_ids}: int32 [b, len], label: int32)``.

    ``len`` is ``max_seq_length`` when ``bucket_width`` is 0, else the batch's bucket length.
    Files are read in sorted order and shuffled with a fixed seed, so a run is repeatable.
    ``repeat`` repeats the examples before batching (every batch is then full).

    With several workers: without buckets each worker reads its own files when there are
    enough, else every worker reads all files and keeps its share of the records. With
    buckets every worker reads all files in the same order and keeps its slice of each global
    batch (``AutoShardPolicy.DATA`` after batching), so all replicas of a step get the same
    shape and none waits for another's longer batch.
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
    if repeat:
        ds = ds.repeat()

    def parse(serialized):
        parsed = tf.io.parse_example(serialized, spec)
        features = {name: tf.cast(parsed[name], tf.int32) for name in ENCODER_INPUTS}
        return features, tf.cast(tf.squeeze(parsed["label"], -1), tf.int32)

    if bucket_width:
        ds = ds.batch(PARSE_BATCH).map(parse, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
        ds = group_by_length(ds, batch_size, bucket_width, max_seq_length)
        if shuffle_seed is not None:
            ds = ds.shuffle(BATCH_SHUFFLE, seed=shuffle_seed + 1, reshuffle_each_iteration=True)
        policy = tf.data.experimental.AutoShardPolicy.DATA
    else:
        ds = ds.batch(batch_size).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
        policy = (tf.data.experimental.AutoShardPolicy.FILE if len(files) >= num_workers
                  else tf.data.experimental.AutoShardPolicy.DATA)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = policy
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)


def bucket_length(length: tf.Tensor, bucket_width: int, max_seq_length: int) -> tf.Tensor:
    """``length`` rounded up to a multiple of ``bucket_width``, at most ``max_seq_length``."""
    width = tf.constant(bucket_width, length.dtype)
    return tf.minimum((length + width - 1) // width * width,
                      tf.constant(max_seq_length, length.dtype))


def group_by_length(ds: tf.data.Dataset, batch_size: int, bucket_width: int,
                    max_seq_length: int) -> tf.data.Dataset:
    """Unbatched (features, label) → batches of one bucket each, cut to the bucket's length."""

    def key(features, label):
        length = tf.reduce_sum(tf.cast(features["input_mask"] > 0, tf.int64))
        return bucket_length(tf.maximum(length, 1), bucket_width, max_seq_length)

    def cut(bucket_len):
        def apply(features, label):
            return {name: t[:, :bucket_len] for name, t in features.items()}, label
        return apply

    def reduce(bucket_len, window):
        return window.batch(batch_size).map(cut(bucket_len))

    return ds.group_by_window(key, reduce, window_size=batch_size)
