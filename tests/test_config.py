"""One source of truth: the dataclasses, the CLI flags and the pipeline parameters agree."""

from __future__ import annotations

import inspect

import pytest

from components.config import ConfigError, DataConfig, PipelineConfig, TrainConfig
from pipelines.cli import build_parser
from pipelines.pipeline import bertpipe_pipeline


def test_pipeline_parameters_are_the_config_fields():
    params = inspect.signature(bertpipe_pipeline.pipeline_func).parameters
    defaults = PipelineConfig().parameters()
    assert list(params) == list(defaults)
    assert {name: p.default for name, p in params.items()} == defaults


def test_cli_flags_are_the_config_fields():
    args = build_parser().parse_args(["run", "--freeze", "none", "--max-seq-length", "128",
                                      "--gzip", "false", "--learning-rate", "3e-5"])
    config = PipelineConfig.from_parameters({k: getattr(args, k) for k in PipelineConfig().parameters()})
    assert config.train.freeze == "none" and config.data.max_seq_length == 128
    assert config.data.gzip is False and config.train.learning_rate == 3e-5


def test_roundtrip_and_unknown_parameter():
    config = PipelineConfig(data=DataConfig(max_seq_length=96), train=TrainConfig(epochs=3))
    assert PipelineConfig.from_parameters(config.parameters()) == config
    with pytest.raises(ConfigError, match="unknown parameter"):
        PipelineConfig.from_parameters({"epoch": 3})


@pytest.mark.parametrize("make, message", [
    (lambda: TrainConfig(freeze="two"), "unknown term 'two'"),
    (lambda: TrainConfig(freeze="last:x"), "'x' is not a non-negative integer"),
    (lambda: TrainConfig(freeze="include:("), "bad regex"),
    (lambda: TrainConfig(pooling="avg"), "pooling must be one of"),
    (lambda: TrainConfig(learning_rate=0), "learning_rate"),
    (lambda: DataConfig(max_seq_length=4), "max_seq_length"),
    (lambda: DataConfig(eval_fraction=1.0), "eval_fraction"),
])
def test_invalid_values_fail_with_one_line(make, message):
    with pytest.raises(ConfigError, match=message) as err:
        make()
    assert "\n" not in str(err.value)


def test_builtin_dataset_splits_by_movie():
    assert DataConfig().effective_split_key == "movie_name"
    assert DataConfig(data_path="x.csv").effective_split_key == "text"
    assert DataConfig(data_path="x.csv", split_key_column="id").effective_split_key == "id"
