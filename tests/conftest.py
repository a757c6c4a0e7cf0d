"""Shared fixtures. Importing this first gives TensorFlow two logical CPU devices, so that
``MirroredStrategy`` runs real multi-replica training without a GPU."""

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
def trained(minilm_dir, preprocessed, two_cpu_strategy, tmp_path_factory):
    """A classifier fine-tuned (last 2 blocks) on ``preprocessed`` under 2 replicas."""
    from components.config import TrainConfig
    from components.train.trainer import run_train

    cfg = TrainConfig(freeze="last:2", pooling="mean", epochs=1, batch_size=16,
                      learning_rate=5e-4)
    return run_train(cfg, minilm_dir, preprocessed.output_dir,
                     str(tmp_path_factory.mktemp("trained")), strategy=two_cpu_strategy,
                     verbose=0)
