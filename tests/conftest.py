"""Shared fixtures. Importing this first gives TensorFlow two logical CPU devices, so that
``MirroredStrategy`` runs real multi-replica training without a GPU.

Two families of encoder fixtures:
  * ``minilm_dir`` / ``preprocessed``: the real all-MiniLM-L6-v2 weights, for what
    needs them (golden tests against Hugging Face, MiniLM's vocab and sizes, what pretraining
    taught). Tests using them are marked ``slow``.
  * ``tiny_encoder_dir`` / ``preprocessed_tiny`` / ``trained_tiny`` (and ``tiny6_encoder_dir``):
    a tiny random BERT written by the project's own encoder writer (``tests/tiny_encoder.py``),
    for every test that only needs *a* BERT.
``make test-fast`` (``-m "not slow and not image"``) leaves out every real-MiniLM test and
end-to-end run, and the longest tiny-model tests (six of the nine freezing modes, gradual
unfreezing, mixed precision + XLA, the predict CLI, the multi-process Beam runner).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import components  # noqa: E402,F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])

from fixtures import FIXTURE_DATA, sentiment_rows, write_csv  # noqa: E402


@pytest.fixture(scope="session")
def minilm_dir(tmp_path_factory) -> str:
    """all-MiniLM-L6-v2 imported into the TF Hub encoder interface (the real weights)."""
    from components.encoders.sources import import_encoder

    out = tmp_path_factory.mktemp("encoder") / "minilm"
    import_encoder("minilm-l6", out)
    return str(out)


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory) -> str:
    """A tiny BERT (2 blocks, hidden 32, 2 heads, FFN 64, 128 positions, a ~280-token vocab that
    keeps BERT-uncased's special ids) with random weights from a fixed seed, as a bertpipe
    encoder export (TF Hub interface, vocab and encoder_info assets)."""
    from tiny_encoder import write_tiny_encoder

    return str(write_tiny_encoder(tmp_path_factory.mktemp("encoder") / "tiny"))


@pytest.fixture(scope="session")
def tiny6_encoder_dir(tmp_path_factory) -> str:
    """The tiny BERT with MiniLM-L6's block layout (6 blocks, 103 variables, the same names) and
    the same vocab, for tests whose freezing specs name ``layer_0`` .. ``layer_5``."""
    from tiny_encoder import write_tiny_encoder

    return str(write_tiny_encoder(tmp_path_factory.mktemp("encoder") / "tiny6", num_layers=6))


@pytest.fixture(scope="session")
def tiny_vocab_file(tiny_encoder_dir) -> str:
    return str(Path(tiny_encoder_dir) / "assets" / "vocab.txt")


@pytest.fixture(scope="session")
def two_cpu_strategy() -> tf.distribute.Strategy:
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


@pytest.fixture(scope="session")
def sentiment_csv(tmp_path_factory) -> Path:
    """600 generated rows ``text,label,group,source`` (groups keep related rows on one side)."""
    return write_csv(tmp_path_factory.mktemp("data") / "sentiment.csv",
                     sentiment_rows(600, with_source=True))


@pytest.fixture(scope="session")
def preprocessed(minilm_dir, sentiment_csv, tmp_path_factory):
    """The real Beam job over ``sentiment_csv`` (``FIXTURE_DATA``: length 32, 40% eval)."""
    from components.config import DataConfig
    from components.preprocess.pipeline import run_preprocess

    data = DataConfig(data_path=str(sentiment_csv), **FIXTURE_DATA)
    return run_preprocess(data, minilm_dir, str(tmp_path_factory.mktemp("pre") / "out"))


@pytest.fixture(scope="session")
def preprocessed_tiny(tiny_encoder_dir, sentiment_csv, tmp_path_factory):
    """``preprocessed`` with the tiny encoder's vocab (the same rows, splits and settings;
    ``tiny6_encoder_dir`` shares the vocab, so it trains on these too)."""
    from components.config import DataConfig
    from components.preprocess.pipeline import run_preprocess

    data = DataConfig(data_path=str(sentiment_csv), **FIXTURE_DATA)
    return run_preprocess(data, tiny_encoder_dir,
                          str(tmp_path_factory.mktemp("pre_tiny") / "out"))


@pytest.fixture(scope="session")
def trained_tiny(tiny_encoder_dir, preprocessed_tiny, two_cpu_strategy, tmp_path_factory):
    """Fine-tuned on the tiny encoder: the same freezing ("last:2", here every block with the
    embeddings frozen) and pooling under 2 replicas; random weights need more epochs and a
    larger step to learn the fixture's sentiment words (eval accuracy ~0.98)."""
    from components.config import TrainConfig
    from components.train.trainer import run_train

    # Full-length batches in float32: the predictions the export tests check on unseen
    # sentences are fragile for a random tiny BERT at this large step; length buckets and
    # mixed precision have their own tests (train/test_length_batching.py, test_precision.py).
    cfg = TrainConfig(freeze="last:2", pooling="mean", epochs=3, batch_size=16,
                      learning_rate=1e-2, mixed_precision="float32", bucket_width=0)
    return run_train(cfg, tiny_encoder_dir, preprocessed_tiny.output_dir,
                     str(tmp_path_factory.mktemp("trained_tiny")), strategy=two_cpu_strategy,
                     verbose=0)
