"""The ``bertpipe`` command: run the pipeline locally (kfp.local) or compile it for Kubeflow.

    bertpipe run                                  # built-in data and encoder, CPU, no cluster
    bertpipe run --data-path reviews.csv --text-column review --label-column stars \\
                 --freeze first:4 --epochs 2          # or --trainable-blocks 2
    bertpipe preprocess --data-path 'data/*.jsonl' --output-dir prepared/
    bertpipe compile -o bertpipe.yaml             # upload in the Kubeflow Pipelines UI

Every pipeline parameter is a flag (``--max-seq-length`` for ``max_seq_length``); names, types
and defaults come from ``components.config``. The configuration is validated before any heavy
work, and a bad value ends the command with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any, Sequence

import components  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from components.config import ConfigError, DataConfig, PipelineConfig, TrainConfig, field_types


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def add_parameter_flags(parser: argparse.ArgumentParser, names: Sequence[str] | None = None) -> None:
    """One ``--flag`` per pipeline parameter (or per name in ``names``), defaults from the
    config dataclasses."""
    defaults = PipelineConfig().parameters()
    group = parser.add_argument_group("pipeline parameters")
    for name, kind in field_types().items():
        if names is not None and name not in names:
            continue
        group.add_argument(f"--{name.replace('_', '-')}", dest=name, default=defaults[name],
                           type=_parse_bool if kind is bool else kind,
                           help=f"(default: {defaults[name]!r})")


def validate(config: PipelineConfig) -> None:
    """Checks that need files but no heavy work: encoder source, the freezing spec against the
    encoder's variables (block range, regexes), data files and columns."""
    from components.encoders.sources import encoder_variable_names
    from components.preprocess.pipeline import validate_inputs
    from components.train.freeze_spec import FreezeSpec

    FreezeSpec.parse(config.train.freeze).frozen_names(encoder_variable_names(config.encoder))
    validate_inputs(config.data)


def _print_outputs(outputs: dict[str, Any]) -> None:
    print("\nartifacts:")
    for name, value in outputs.items():
        if hasattr(value, "path"):
            print(f"  {name:<24}{value.path}")
    if "summary" in outputs:
        print(outputs["summary"])


def cmd_run(args: argparse.Namespace) -> int:
    params = {name: getattr(args, name) for name in field_types()}
    if args.trainable_blocks is not None:
        from components.train.freeze_spec import trainable_blocks_to_spec

        if params["freeze"] != PipelineConfig().train.freeze:
            raise ConfigError("give --freeze or --trainable-blocks, not both")
        params["freeze"] = trainable_blocks_to_spec(args.trainable_blocks)
    config = PipelineConfig.from_parameters(params)
    validate(config)

    from kfp import local

    from pipelines.pipeline import bertpipe_pipeline

    root = Path(args.pipeline_root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root),
               raise_on_error=True)
    task = bertpipe_pipeline(**config.parameters())
    _print_outputs(dict(task.outputs))
    return 0


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
    meta = result.metadata
    counts = " ".join(f"{split}={v['count']}" for split, v in meta["splits"].items())
    print(f"{counts} dead_letters={meta['dead_letter']['count']} labels={','.join(meta['labels'])}")
    print(f"wrote {result.output_dir}/metadata.json")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Only the train step, on an imported encoder and preprocessed examples. The same
    command serves every worker of a multi-worker job (TF_CONFIG) and resumes a killed run."""
    from components.encoders.sources import encoder_variable_names
    from components.train.freeze_spec import FreezeSpec
    from components.train.trainer import run_train

    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
    FreezeSpec.parse(cfg.freeze).frozen_names(encoder_variable_names(args.encoder_dir))
    result = run_train(cfg, args.encoder_dir, args.examples_dir, args.output_dir)
    history = result.history
    print(f"trainable_params={result.trainable_params} "
          + " ".join(f"{k}={v[-1]:.4f}" for k, v in history.items() if "accuracy" in k))
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    from pipelines.pipeline import compile_pipeline

    path = compile_pipeline(args.output)
    print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bertpipe", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the whole pipeline locally through kfp.local")
    run.add_argument("--pipeline-root", default="bertpipe-runs",
                     help="where kfp.local writes artifacts (default: ./bertpipe-runs)")
    add_parameter_flags(run)
    run.add_argument("--trainable-blocks", default=None, metavar="N|all",
                     help="shorthand: the last N blocks train (--freeze last:N); 0 = feature "
                          "extraction; all = full fine-tuning (--freeze none)")
    run.set_defaults(func=cmd_run)
    pre = sub.add_parser("preprocess", help="run only the Beam preprocess job")
    pre.add_argument("--output-dir", required=True, help="where TFRecords and metadata go")
    add_parameter_flags(pre, ["encoder"] + [f.name for f in dataclasses.fields(DataConfig)])
    pre.set_defaults(func=cmd_preprocess)
    tr = sub.add_parser("train", help="run only the train step (also each worker of a "
                                      "multi-worker job)")
    tr.add_argument("--encoder-dir", required=True, help="an imported encoder (import step)")
    tr.add_argument("--examples-dir", required=True, help="the preprocess step's output")
    tr.add_argument("--output-dir", required=True, help="model/, history.json, logs/, backup/")
    add_parameter_flags(tr, [f.name for f in dataclasses.fields(TrainConfig)])
    tr.set_defaults(func=cmd_train)
    comp = sub.add_parser("compile", help="write the pipeline YAML for Kubeflow Pipelines")
    comp.add_argument("-o", "--output", default="bertpipe.yaml", help="output YAML path")
    comp.set_defaults(func=cmd_compile)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as err:
        print(f"bertpipe: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # a failed step: one line, details are in the step's log above
        from components.pinned_wheels import FetchError

        if isinstance(err, FetchError):
            print(f"bertpipe: error: {err}", file=sys.stderr)
            return 2
        message = str(err).strip().splitlines()
        print(f"bertpipe: error: {type(err).__name__}: {message[-1] if message else ''}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
