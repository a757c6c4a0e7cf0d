"""Running pipelines with KFP's own local runner (``kfp.local``), as ``bertpipe run`` does.

kfp.local 2.17 resolves the job name/id, task name/id and pipeline-root placeholders, but not
the job's create and schedule times, and fails on them. A local run is never scheduled, so
both are set to the run's start time (UTC) here; on a cluster the KFP backend fills them in.
"""

from __future__ import annotations

import datetime as dt
import functools

from kfp import dsl, local
from kfp.local import placeholder_utils

TIME_PLACEHOLDERS = (dsl.PIPELINE_JOB_SCHEDULE_TIME_UTC_PLACEHOLDER,
                     dsl.PIPELINE_JOB_CREATE_TIME_UTC_PLACEHOLDER)


def _with_time_placeholders(resolve):
    @functools.wraps(resolve)
    def wrapper(element, *args, **kwargs):
        if isinstance(element, str) and any(p in element for p in TIME_PLACEHOLDERS):
            now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            for placeholder in TIME_PLACEHOLDERS:
                element = element.replace(placeholder, now)
        return resolve(element, *args, **kwargs)
    wrapper.bertpipe_times = True
    return wrapper


def init_local(pipeline_root: str, raise_on_error: bool = True,
               runner: local.SubprocessRunner | local.DockerRunner | None = None) -> None:
    """``kfp.local.init`` with the subprocess runner in this environment (no venv per task,
    no Docker) unless ``runner`` says otherwise (``container_run.install`` makes the image
    runner), plus the time placeholders a scheduled pipeline uses."""
    if not getattr(placeholder_utils.resolve_individual_placeholder, "bertpipe_times", False):
        placeholder_utils.resolve_individual_placeholder = _with_time_placeholders(
            placeholder_utils.resolve_individual_placeholder)
    local.init(runner=runner or local.SubprocessRunner(use_venv=False), pipeline_root=pipeline_root,
               raise_on_error=raise_on_error)
