"""Running the pipeline with KFP's own local runner (``kfp.local``), as ``bertpipe run`` does:
the checks before any heavy work, the runner (host or image), the run view and the run's
summary.

kfp.local 2.17 resolves the job name/id, task name/id and pipeline-root placeholders, but not
the job's create and schedule times, and fails on them. A local run is never scheduled, so
both are set to the run's start time (UTC) here; on a cluster the KFP backend fills them in.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from kfp import dsl, local
from kfp.local import placeholder_utils

from components.config import PipelineConfig

TIME_PLACEHOLDERS = (dsl.PIPELINE_JOB_SCHEDULE_TIME_UTC_PLACEHOLDER,
                     dsl.PIPELINE_JOB_CREATE_TIME_UTC_PLACEHOLDER)


class StepError(Exception):
    """A pipeline step failed; the message is the step's own error line and its log."""


@dataclasses.dataclass(frozen=True)
class LocalRunOptions:
    """How ``bertpipe run`` runs (not what: that is the ``PipelineConfig``)."""

    pipeline_root: str = "bertpipe-runs"
    runner: str = "host"  # host / docker
    image: str = ""
    container_network: str = "none"
    verbose: bool = False


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


def validate(config: PipelineConfig, pipeline_root: str = "") -> None:
    """Checks that need files but no heavy work: encoder source, the freezing spec against the
    encoder's variables (block range, regexes), data files and columns, that the output
    folders can be written, and that training fits in this machine's memory."""
    from components.encoders.sources import encoder_bert_config, encoder_variable_names
    from components.freeze_spec import FreezeSpec
    from components.preprocess.pipeline import validate_inputs
    from components.storage import check_writable_folder
    from components.train.memory import check_before_training

    names = encoder_variable_names(config.encoder)
    start = config.train.start_freeze(config.data.is_pair)
    spec = FreezeSpec.parse(start)
    spec.frozen_names(names)
    if spec.auto:
        spec.auto_candidates(names, config.train.auto_freeze_min_trainable_blocks)
    validate_inputs(config.data)
    check_writable_folder(pipeline_root, "pipeline_root")
    check_writable_folder(config.eval.blessed_root, "blessed_root")
    # One replica here; float32 unless asked otherwise (the train step checks again with the
    # precision it resolves, and per replica on a cluster).
    check_before_training(encoder_bert_config(config.encoder), start,
                          config.train.batch_size, config.data.max_seq_length,
                          config.train.mixed_precision)


def _image_runner(config: PipelineConfig, options: LocalRunOptions, root: Path):
    from pipelines import container_run

    container_run.check_engine(options.image)
    settings = container_run.ContainerSettings(
        image=options.image, mounts=container_run.plan_mounts(config, str(root)),
        user=container_run.container_user(), network=options.container_network)
    container_run.prepare_writable(settings.mounts, settings.user)
    return container_run.install(settings)


def run_locally(config: PipelineConfig, options: LocalRunOptions, terminal: TextIO,
                captured: Path | None = None) -> int:
    """The whole pipeline through kfp.local after ``validate``; ``terminal`` shows the run
    view (with ``options.verbose``: every step's output as kfp.local prints it, then the
    summary). ``captured`` is the file this process's own output was diverted to, kept as
    the run's ``run.log``. A failed step raises ``StepError`` with its own line."""
    from components import progress
    from pipelines.run_records import now_utc
    from pipelines.pipeline import bertpipe_pipeline
    from pipelines.run_view import RunView, stream_is_live
    from pipelines.run_watch import Watch

    validate(config, options.pipeline_root)
    root = Path(options.pipeline_root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    runner = _image_runner(config, options, root) if options.runner == "docker" else None
    init_local(str(root), runner=runner)
    view = RunView(terminal, live=not options.verbose and stream_is_live(terminal),
                   show_steps=not options.verbose)
    if view.live:
        os.environ[progress.PROGRESS_ENV] = "1"
    view.header(f"bertpipe run: encoder {config.encoder}, freeze {config.train.freeze}, "
                f"{config.train.epochs} epoch(s), data {config.data.data_path}")
    watch = Watch(view, config, echo=terminal if options.verbose else None)
    try:
        with watch:
            task = bertpipe_pipeline(**config.parameters())
    except BaseException as err:
        view.close()
        failure = _step_failure(options, watch)
        watch.update(status="interrupted" if isinstance(err, KeyboardInterrupt) else "failed",
                     finished_utc=now_utc(),
                     error=str(failure) if failure else f"{type(err).__name__}: {err}")
        _keep_process_log(watch, captured)
        if failure is not None and isinstance(err, RuntimeError):
            raise failure from None
        raise
    view.close()
    _finish(view, watch, config, dict(task.outputs))
    _keep_process_log(watch, captured)
    return 0


def _step_failure(options: LocalRunOptions, watch) -> StepError | None:
    """The failed step's own line: the container's exit when steps run in the image."""
    if options.runner == "docker":
        from pipelines.container_run import FAILURES

        if FAILURES:
            return StepError(str(FAILURES[-1]))
    if watch.failure is not None:
        step, line, log = watch.failure
        return StepError(f"step {step} failed: {line} (full log: {log})")
    return None


def _keep_process_log(watch, captured: Path | None) -> None:
    """What this process printed outside the steps, as ``run.log`` in the run's folder."""
    if captured is None or watch.run_dir is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    (watch.run_dir / "run.log").write_bytes(captured.read_bytes())


def _finish(view, watch, config: PipelineConfig, outputs: dict[str, Any]) -> None:
    """The run's summary: headline metrics, the gate's verdict and where everything is;
    the ``accuracy=… macro_f1=…`` line last."""
    from components.contracts import BlessedModel
    from pipelines.run_records import now_utc, report_page, summary_file
    from pipelines.step_facts import evaluation_of

    run_dir = watch.run_dir
    artifacts = {name: value.path for name, value in outputs.items() if hasattr(value, "path")}
    exported = run_dir / "export" / "exported_model"
    if exported.is_dir():
        artifacts["exported_model"] = str(exported)
    evaluation = evaluation_of(run_dir)
    blessing = evaluation.blessing if evaluation else None
    scores = evaluation.splits["eval"] if evaluation else {}
    watch.update(status="succeeded", finished_utc=now_utc(), artifacts=artifacts,
                 accuracy=scores.get("accuracy"), macro_f1=scores.get("macro_f1"),
                 blessed=blessing.blessed if blessing else None,
                 gate_reason=blessing.reason if blessing else "")
    view.line()
    if scores:
        view.line(f"accuracy {scores['accuracy']:.3f}, macro F1 {scores['macro_f1']:.3f} on "
                  f"{scores['examples']:,} eval examples")
    if blessing is not None:
        view.line(f"quality gate: {blessing.reason}")
    page, summary = report_page(run_dir), summary_file(run_dir)
    if page is not None:
        view.line(f"  report   {page.resolve().as_uri()}")
    if summary is not None:
        view.line(f"  summary  {summary}")
    view.line(f"  export   {exported}" if exported.is_dir()
              else "  export   none: the model was not blessed")
    published = BlessedModel.latest(config.eval.blessed_root) if (
        blessing and blessing.blessed and config.eval.blessed_root) else None
    if published is not None:
        view.line(f"  blessed  {published.path}")
    record = watch.record
    if record is not None and record.peak_memory_bytes:
        from pipelines.step_facts import human_bytes

        view.line(f"  memory   peak {human_bytes(record.peak_memory_bytes)} resident "
                  f"({record.peak_memory_step} step)")
    view.line(f"  logs     {run_dir}/<step>.log")
    view.line(f"  run      {run_dir}  (bertpipe show {run_dir.name})")
    if "summary" in outputs:
        view.line(outputs["summary"])
