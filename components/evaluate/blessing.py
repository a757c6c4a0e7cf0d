"""The quality gate of scheduled retraining: bless a model, publish it, remember it.

A run is blessed when its main metric on the eval split is at least an absolute threshold and
at least the last blessed model's value minus an allowed regression. The last blessed model is
``<blessed_root>/blessed.json``, written by ``publish_blessed`` after a blessed export has been
copied to ``<blessed_root>/<version>/``; ``blessed_root`` may be a folder or a ``gs://`` prefix.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import asdict, dataclass
from typing import Any

import tensorflow as tf

from components.storage import copy_tree

BLESSED_FILE = "blessed.json"


@dataclass(frozen=True)
class Decision:
    """The gate's verdict and the numbers behind it (``baseline`` is None without history)."""

    blessed: bool
    reason: str
    main_metric: str
    value: float
    min_metric: float
    max_regression: float
    baseline: float | None = None
    baseline_version: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_blessed(blessed_root: str) -> dict[str, Any] | None:
    """The last blessed model's record, or None when there is none yet."""
    if not blessed_root:
        return None
    path = f"{blessed_root.rstrip('/')}/{BLESSED_FILE}"
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def decide(evaluation: dict[str, Any], main_metric: str, min_metric: float,
           max_regression: float, blessed_root: str) -> Decision:
    """Compares the eval split's ``main_metric`` with the threshold and the last blessing."""
    metrics = evaluation["splits"]["eval"]
    if main_metric not in metrics:
        raise ValueError(f"main_metric {main_metric!r} is not among the eval metrics")
    value = float(metrics[main_metric])
    record = read_blessed(blessed_root)
    baseline = None
    version = None
    if record is not None:
        version = record.get("version")
        baseline = record.get("metrics", {}).get(main_metric)
    common = dict(main_metric=main_metric, value=value, min_metric=min_metric,
                  max_regression=max_regression, baseline=baseline, baseline_version=version)
    if value < min_metric:
        return Decision(False, f"not blessed: {main_metric} {value:.4f} < threshold "
                               f"{min_metric:.4f}", **common)
    if baseline is not None and value < baseline - max_regression:
        return Decision(False, f"not blessed: {main_metric} {value:.4f} < last blessed "
                               f"{baseline:.4f} ({version}) - allowed regression "
                               f"{max_regression:.4f}", **common)
    against = (f" and >= last blessed {baseline:.4f} ({version}) - {max_regression:.4f}"
               if baseline is not None else " (no blessed model yet)")
    return Decision(True, f"blessed: {main_metric} {value:.4f} >= threshold "
                          f"{min_metric:.4f}{against}", **common)


def version_name(schedule_time: str, job_name: str) -> str:
    """A folder name for a published model: the scheduled time of a recurring run (so that
    outputs are named by the schedule), else the run's job name, else the current UTC time."""
    for candidate in (schedule_time, job_name):
        if candidate and "{{" not in candidate:
            return re.sub(r"[^A-Za-z0-9._-]+", "-", candidate).strip("-")
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def publish_blessed(export_dir: str, evaluation: dict[str, Any], blessed_root: str,
                    main_metric: str, version: str) -> str:
    """Copies the export to ``blessed_root/version`` and then (last, so that a half-copied
    export is never the baseline) points ``blessed.json`` at it. '' when no root is set."""
    if not blessed_root:
        print("publish: no blessed_root set; the blessed export stays in the run's artifacts")
        return ""
    root = blessed_root.rstrip("/")
    target = f"{root}/{version}"
    copy_tree(export_dir.rstrip("/"), target)
    metrics = evaluation["splits"]["eval"]
    record = {"version": version, "path": target, "main_metric": main_metric,
              "value": metrics[main_metric],
              "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float))},
              "published_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    tmp = f"{root}/.{BLESSED_FILE}.tmp"
    with tf.io.gfile.GFile(tmp, "w") as f:
        json.dump(record, f, indent=2)
    tf.io.gfile.rename(tmp, f"{root}/{BLESSED_FILE}", overwrite=True)
    print(f"publish: {target} is the blessed model ({main_metric}={record['value']:.4f})")
    return target
