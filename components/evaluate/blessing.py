"""The quality gate of scheduled retraining: is this model good enough to replace the last?

A run is blessed when its main metric on the eval split is at least an absolute threshold and
at least the last blessed model's value minus an allowed regression. The last blessed model is
the ``BlessedModel`` at ``<blessed_root>/blessed.json``, which the export step's ``publish``
writes after a blessed export has been copied to ``<blessed_root>/<version>/``.

On ``gs://`` the record is read through ``components.gcs`` (retries with backoff on transient
errors); a record that cannot be parsed is "not blessed: ... unreadable", while ``gs://``
failing for longer than the retry deadline fails the step with ``StorageError``'s one line
(an outage is not a verdict on the model). Publishing re-checks this rule against whatever
``blessed.json`` holds at that moment (``components/export/publish.py``).
"""

from __future__ import annotations

from typing import Any

from components import gcs
from components.contracts import BlessedModel, Blessing
from components.errors import ContractError


def _last_blessed(blessed_root: str) -> BlessedModel | None:
    """``BlessedModel.latest``, through the retrying client on ``gs://``."""
    if not gcs.is_gs(blessed_root):
        return BlessedModel.latest(blessed_root)
    path = BlessedModel.path_in(blessed_root)
    stored = gcs.read(path)
    return BlessedModel.from_json(stored.data, path) if stored else None


def decide(eval_metrics: dict[str, Any], main_metric: str, min_metric: float,
           max_regression: float, blessed_root: str) -> Blessing:
    """Compares the eval split's ``main_metric`` with the threshold and the last blessing."""
    if main_metric not in eval_metrics:
        raise ValueError(f"main_metric {main_metric!r} is not among the eval metrics")
    value = float(eval_metrics[main_metric])
    try:
        last = _last_blessed(blessed_root)
    except ContractError as err:  # never bless blindly against a baseline it cannot read
        return Blessing(False, f"not blessed: the last blessed model's record is unreadable "
                               f"({err}); fix or remove it, then rerun", main_metric=main_metric,
                        value=value, min_metric=min_metric, max_regression=max_regression)
    baseline = last.metrics.get(main_metric) if last else None
    version = last.version if last else None
    common = dict(main_metric=main_metric, value=value, min_metric=min_metric,
                  max_regression=max_regression, baseline=baseline, baseline_version=version)
    if value < min_metric:
        return Blessing(False, f"not blessed: {main_metric} {value:.4f} < threshold "
                               f"{min_metric:.4f}", **common)
    if baseline is not None and value < baseline - max_regression:
        return Blessing(False, f"not blessed: {main_metric} {value:.4f} < last blessed "
                               f"{baseline:.4f} ({version}) - allowed regression "
                               f"{max_regression:.4f}", **common)
    against = (f" and >= last blessed {baseline:.4f} ({version}) - {max_regression:.4f}"
               if baseline is not None else " (no blessed model yet)")
    return Blessing(True, f"blessed: {main_metric} {value:.4f} >= threshold "
                          f"{min_metric:.4f}{against}", **common)
