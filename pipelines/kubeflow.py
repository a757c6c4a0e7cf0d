"""Kubeflow Pipelines through the standard ``kfp.Client``: upload, run, schedule, list.

Every submission uploads the compiled pipeline as a version of one named pipeline (created on
first use) and starts the run or recurring run from that version, which is the usual KFP
workflow for scheduled retraining: the UI shows which pipeline version each run used.
Versions are named by the package's sha256, so re-submitting an unchanged pipeline reuses
its version instead of uploading a copy.

Auth is the client's own: ``host`` (or ``KF_PIPELINES_ENDPOINT``) with a token file (or
``KF_PIPELINES_SA_TOKEN_PATH``) re-read on every call; no host: the in-cluster service when
running in a pod, else the current (or named) kube context through the API server proxy.
``namespace`` is the user's profile namespace on multi-user Kubeflow (experiments and runs
live there); the client's own ``namespace`` argument (where KFP is deployed) stays
``kubeflow``.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import re
import warnings
from pathlib import Path
from typing import Any, Iterable

from components.errors import ConfigError

DEFAULT_EXPERIMENT = "bertpipe"


@dataclasses.dataclass(frozen=True)
class Connection:
    """How to reach the Kubeflow Pipelines API (see the module docstring)."""

    host: str = ""
    token_file: str = ""
    kube_context: str = ""


@dataclasses.dataclass(frozen=True)
class Schedule:
    """When a recurring run fires. ``cron`` has 6 fields, seconds first (``0 0 3 * * *`` is
    03:00 every day, UTC); or every ``interval_seconds``. Missed runs are not caught up
    unless ``catchup``, and at most ``max_concurrency`` runs are in flight."""

    cron: str = ""
    interval_seconds: int = 0
    start_time: str = ""
    end_time: str = ""
    max_concurrency: int = 1
    catchup: bool = False
    enabled: bool = True

    def __post_init__(self) -> None:
        if bool(self.cron) == bool(self.interval_seconds):
            raise ConfigError("give a cron expression or an interval, not both or neither")
        if self.cron:
            fields = self.cron.split()
            if not (self.cron.startswith("@") or len(fields) == 6):
                raise ConfigError(f"cron needs 6 fields, seconds first (e.g. '0 0 3 * * *' for "
                                  f"03:00 daily), got {len(fields)}: {self.cron!r}")
        if self.interval_seconds < 0:
            raise ConfigError(f"interval must be > 0 seconds, got {self.interval_seconds}")
        if self.max_concurrency < 1:
            raise ConfigError(f"max_concurrency must be >= 1, got {self.max_concurrency}")
        for name in ("start_time", "end_time"):
            if getattr(self, name):
                rfc3339(getattr(self, name), name)
        if self.start_time and self.end_time and (
                rfc3339(self.end_time, "end_time") <= rfc3339(self.start_time, "start_time")):
            raise ConfigError("end_time must be after start_time")


def rfc3339(text: str, name: str) -> str:
    """``text`` as an RFC 3339 UTC time (a time without a zone is taken as UTC)."""
    try:
        when = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"{name} must be an RFC 3339 time such as 2025-01-31T03:00:00Z, "
                          f"got {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_interval(text: str) -> int:
    """``3600``, ``90s``, ``30m``, ``6h``, ``1d`` as seconds."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text)
    if not match or int(match.group(1)) == 0:
        raise ConfigError(f"interval must be a positive duration such as 3600, 30m, 6h or 1d, "
                          f"got {text!r}")
    return int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def connect(conn: Connection) -> Any:
    """A ``kfp.Client`` for ``conn``."""
    import kfp
    from kfp.client.set_volume_credentials import ServiceAccountTokenVolumeCredentials

    kwargs: dict[str, Any] = {"host": conn.host or None, "kube_context": conn.kube_context or None}
    token_path = conn.token_file or os.environ.get("KF_PIPELINES_SA_TOKEN_PATH", "")
    if token_path and (conn.host or os.environ.get("KF_PIPELINES_ENDPOINT")):
        if not Path(token_path).is_file():
            raise ConfigError(f"token file {token_path} not found")
        kwargs["credentials"] = ServiceAccountTokenVolumeCredentials(token_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "only works with KFP v2.0.0-beta.2+"
        return kfp.Client(**kwargs)


def _equals(key: str, value: str) -> str:
    """A v2beta1 list filter (operation 1 is EQUALS, as kfp.Client itself sends it)."""
    return json.dumps({"predicates": [{"operation": 1, "key": key, "stringValue": value}]})


def upload_version(client: Any, package_path: str, pipeline_name: str) -> tuple[str, str]:
    """Uploads ``package_path`` as a version of ``pipeline_name``; returns (pipeline id,
    version id). The first upload creates the pipeline (and its first version)."""
    digest = hashlib.sha256(Path(package_path).read_bytes()).hexdigest()[:12]
    version_name = f"{pipeline_name}-{digest}"
    pipeline_id = client.get_pipeline_id(pipeline_name)
    if pipeline_id is None:
        pipeline = client.upload_pipeline(package_path, pipeline_name=pipeline_name,
                                          description="bertpipe: fine-tune a BERT encoder "
                                                      "with frozen layers")
        versions = client.list_pipeline_versions(pipeline.pipeline_id, page_size=1,
                                                 sort_by="created_at desc")
        if not versions.pipeline_versions:
            raise RuntimeError(f"pipeline {pipeline_name} was uploaded but has no version")
        return pipeline.pipeline_id, versions.pipeline_versions[0].pipeline_version_id
    same = client.list_pipeline_versions(pipeline_id, page_size=1,
                                         filter=_equals("display_name", version_name))
    if same.pipeline_versions:
        return pipeline_id, same.pipeline_versions[0].pipeline_version_id
    version = client.upload_pipeline_version(package_path, version_name, pipeline_id=pipeline_id)
    return pipeline_id, version.pipeline_version_id


def submit(client: Any, package_path: str, params: dict[str, Any], *, experiment: str,
           run_name: str, pipeline_name: str, pipeline_root: str = "",
           service_account: str = "", namespace: str = "") -> Any:
    """Uploads the pipeline version and starts one run of it; returns the run."""
    pipeline_id, version_id = upload_version(client, package_path, pipeline_name)
    experiment_id = client.create_experiment(experiment, namespace=namespace or None).experiment_id
    return client.run_pipeline(experiment_id=experiment_id, job_name=run_name, params=params,
                               pipeline_id=pipeline_id, version_id=version_id,
                               pipeline_root=pipeline_root or None,
                               service_account=service_account or None)


def schedule(client: Any, package_path: str, params: dict[str, Any], when: Schedule, *,
             experiment: str, name: str, pipeline_name: str, pipeline_root: str = "",
             service_account: str = "", namespace: str = "") -> Any:
    """Uploads the pipeline version and creates a recurring run of it; returns that."""
    pipeline_id, version_id = upload_version(client, package_path, pipeline_name)
    experiment_id = client.create_experiment(experiment, namespace=namespace or None).experiment_id
    return client.create_recurring_run(
        experiment_id=experiment_id, job_name=name,
        description=f"bertpipe retraining ({when.cron or f'every {when.interval_seconds}s'})",
        start_time=rfc3339(when.start_time, "start_time") if when.start_time else None,
        end_time=rfc3339(when.end_time, "end_time") if when.end_time else None,
        cron_expression=when.cron or None, interval_second=when.interval_seconds or None,
        max_concurrency=when.max_concurrency, no_catchup=not when.catchup, params=params,
        pipeline_id=pipeline_id, version_id=version_id, enabled=when.enabled,
        pipeline_root=pipeline_root or None, service_account=service_account or None)


def set_recurring_run(client: Any, recurring_run_id: str, action: str) -> None:
    """``enable``, ``disable`` or ``delete`` a recurring run."""
    {"enable": client.enable_recurring_run, "disable": client.disable_recurring_run,
     "delete": client.delete_recurring_run}[action](recurring_run_id)


def _experiment_id(client: Any, experiment: str, namespace: str) -> str | None:
    if not experiment:
        return None
    try:
        return client.get_experiment(experiment_name=experiment,
                                     namespace=namespace or None).experiment_id
    except ValueError:
        raise ConfigError(f"no experiment named {experiment!r}") from None


def recent_runs(client: Any, experiment: str = "", limit: int = 10,
                namespace: str = "") -> list[Any]:
    """The newest runs, of one experiment or all (of ``namespace`` on multi-user Kubeflow)."""
    response = client.list_runs(page_size=limit, sort_by="created_at desc",
                                experiment_id=_experiment_id(client, experiment, namespace),
                                namespace=namespace or None)
    return list(response.runs or [])


def recurring_runs(client: Any, experiment: str = "", limit: int = 10,
                   namespace: str = "") -> list[Any]:
    response = client.list_recurring_runs(
        page_size=limit, sort_by="created_at desc",
        experiment_id=_experiment_id(client, experiment, namespace), namespace=namespace or None)
    return list(response.recurring_runs or [])


def _time(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    return str(value or "-")


def run_table(runs: Iterable[Any]) -> list[str]:
    """One line per run: id, state, created, finished, name."""
    lines = [f"{'RUN ID':<36}  {'STATE':<10}  {'CREATED':<20}  {'FINISHED':<20}  NAME"]
    for run in runs:
        lines.append(f"{run.run_id:<36}  {run.state or '-':<10}  {_time(run.created_at):<20}  "
                     f"{_time(run.finished_at):<20}  {run.display_name}")
    return lines


def run_details(run: Any) -> list[str]:
    """A run's state, error and each task's state."""
    lines = [f"run {run.run_id}: {run.display_name}", f"state: {run.state}",
             f"created: {_time(run.created_at)}  finished: {_time(run.finished_at)}"]
    if run.error and run.error.message:
        lines.append(f"error: {run.error.message}")
    tasks = (run.run_details.task_details or []) if run.run_details else []
    for task in tasks:
        if task.display_name:
            lines.append(f"  {task.display_name:<24}{task.state or '-'}")
    return lines


def recurring_table(items: Iterable[Any]) -> list[str]:
    lines = [f"{'RECURRING RUN ID':<36}  {'MODE':<7}  {'SCHEDULE':<20}  NAME"]
    for item in items:
        trigger = item.trigger
        when = "-"
        if trigger and trigger.cron_schedule:
            when = f"cron {trigger.cron_schedule.cron}"
        elif trigger and trigger.periodic_schedule:
            when = f"every {trigger.periodic_schedule.interval_second}s"
        lines.append(f"{item.recurring_run_id:<36}  {item.mode or '-':<7}  {when:<20}  "
                     f"{item.display_name}")
    return lines
