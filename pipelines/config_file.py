"""``--config run.yaml``: pipeline parameters and cluster settings from a YAML file.

    data_path: gs://bucket/reviews/
    freeze: first:4
    epochs: 3
    cluster:              # compile/submit/schedule only (pipelines/cluster.py)
      image: europe-docker.pkg.dev/project/ml/bertpipe:0.1.0
      train_gpus: 1
      node_selector: {cloud.google.com/gke-nodepool: gpu}

Keys are the flat parameter names (``PipelineConfig.parameters()``) plus ``cluster``; flags
given on the command line override the file. An unknown key or a value of the wrong type is a
``ConfigError`` (one line, exit status 2).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from components.config import field_types
from components.errors import ConfigError
from pipelines.cluster import ClusterConfig


@dataclasses.dataclass(frozen=True)
class ConfigFile:
    parameters: dict[str, Any]
    cluster: dict[str, Any]


def _coerce(name: str, value: Any, kind: type) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # e.g. label_vocab: 0,1 or data_version: 2024-06-01 read as numbers
    if value is None and kind is str:
        return ""
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ConfigError(f"{name} must be {kind.__name__}, got {value!r}")
    return value


def load_config_file(path: str) -> ConfigFile:
    """Reads and checks ``path``; the cluster section is validated as a whole here."""
    import yaml

    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file {path} not found")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}") from None
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must be a mapping of parameter names to values")
    types = field_types()
    unknown = sorted(set(data) - set(types) - {"cluster"})
    if unknown:
        raise ConfigError(f"config file {path}: unknown key(s): {', '.join(map(str, unknown))}")
    cluster = data.get("cluster") or {}
    if not isinstance(cluster, dict):
        raise ConfigError(f"config file {path}: cluster must be a mapping")
    try:
        ClusterConfig.from_mapping(cluster)
    except ConfigError as err:
        raise ConfigError(f"config file {path}: cluster: {err}") from None
    try:
        params = {k: _coerce(k, v, types[k]) for k, v in data.items() if k != "cluster"}
    except ConfigError as err:
        raise ConfigError(f"config file {path}: {err}") from None
    return ConfigFile(parameters=params, cluster=dict(cluster))
