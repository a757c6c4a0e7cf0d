"""Publishing a blessed export: copy it under ``blessed_root`` and make it the baseline.

The copy goes first and ``blessed.json`` (``BlessedModel``) is rewritten last, through a
temporary file renamed into place, so a half-copied export is never the baseline.
"""

from __future__ import annotations

import datetime as dt
import re

from components.contracts import BlessedModel, Evaluation
from components.storage import copy_tree


def version_name(schedule_time: str, job_name: str) -> str:
    """A folder name for a published model: the scheduled time of a recurring run (so that
    outputs are named by the schedule), else the run's job name, else the current UTC time."""
    for candidate in (schedule_time, job_name):
        if candidate and "{{" not in candidate:
            return re.sub(r"[^A-Za-z0-9._-]+", "-", candidate).strip("-")
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def publish_blessed(export_dir: str, evaluation: Evaluation, blessed_root: str,
                    main_metric: str, version: str) -> str:
    """Copies the export to ``blessed_root/version`` and then points ``blessed.json`` at it.
    Returns the published folder; '' when no root is set."""
    if not blessed_root:
        print("publish: no blessed_root set; the blessed export stays in the run's artifacts")
        return ""
    root = blessed_root.rstrip("/")
    target = f"{root}/{version}"
    copy_tree(export_dir.rstrip("/"), target)
    metrics = evaluation.eval_metrics
    record = BlessedModel(
        version=version, path=target, main_metric=main_metric, value=metrics[main_metric],
        metrics={k: v for k, v in metrics.items()
                 if isinstance(v, (int, float)) and not isinstance(v, bool)},
        published_utc=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    record.save(root)
    print(f"publish: {target} is the blessed model ({main_metric}={record.value:.4f})")
    return target
