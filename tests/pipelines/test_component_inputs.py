"""Each component's parameters are exactly its config dataclass's fields (plus its artifacts
and, for the TFJob step, the cluster shape): a field added to a config and forgotten in a
component, or the other way round, fails here rather than at run time."""

from __future__ import annotations

import dataclasses

from components.config import DataConfig, EvalConfig, TrainConfig


def _parameters(component) -> set[str]:
    spec = component.component_spec
    return {name for name, value in (spec.inputs or {}).items()
            if not value.type.startswith("system.")}


def _fields(klass) -> set[str]:
    return {f.name for f in dataclasses.fields(klass)}


def test_preprocess_takes_the_data_config():
    from components.preprocess.component import preprocess

    assert _parameters(preprocess) == _fields(DataConfig)


def test_train_steps_take_the_train_config():
    from components.train.component import train
    from components.train.tfjob_component import train_tfjob

    assert _parameters(train) == _fields(TrainConfig)
    cluster_shape = {"workers", "gpus_per_worker", "namespace", "worker_image",
                     "service_account", "gcp_credentials_secret", "gcp_credentials_key",
                     "shared_pvc", "shared_mount", "image_pull_secret", "timeout_hours"}
    assert _parameters(train_tfjob) == _fields(TrainConfig) | cluster_shape


def test_evaluate_takes_the_eval_config():
    from components.evaluate.component import evaluate

    assert _parameters(evaluate) == _fields(EvalConfig)
