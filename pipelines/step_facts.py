"""The one line of key facts the run view shows when a step ends, read from the contracts the
step wrote (not from its log): encoder and size, rows per split and dead letters, what
trained and how fast, the metrics and the gate's verdict, where the export went."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from components.config import PipelineConfig
from components.contracts import (BlessedModel, EncoderInfo, Evaluation, PreparedExamples,
                                  TrainingReport)


def folder_size(path: str | Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def human_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def _path(outputs: dict[str, Any], name: str) -> str:
    return outputs[name].path


def _encoder(outputs: dict[str, Any], config: PipelineConfig) -> str:
    path = _path(outputs, "encoder_model")
    info = EncoderInfo.load(path)
    return (f"{info.source}: {info.num_layers} blocks, hidden {info.hidden_size}, "
            f"{human_bytes(folder_size(path))}")


def _preprocess(outputs: dict[str, Any], config: PipelineConfig) -> str:
    examples = PreparedExamples.load(_path(outputs, "examples"))
    order = sorted(examples.splits, key=lambda s: (s != "train", s != "eval", s))
    rows = ", ".join(f"{split} {examples.splits[split].count:,}" for split in order
                     if examples.splits[split].count or split != "test")
    dead = examples.dead_letter.count
    where = f" ({examples.dead_letter.path})" if dead else ""
    return (f"{examples.rows_read:,} rows: {rows}; {dead:,} dead letters{where}; "
            f"labels {', '.join(examples.labels)}")


def _train(outputs: dict[str, Any], config: PipelineConfig) -> str:
    report = TrainingReport.load(_path(outputs, "model"))
    share = 100.0 * report.trainable_params / max(report.total_params, 1)
    speed = report.history.get("examples_per_s", [])
    policy = report.precision.get("policy", "float32") if report.precision else "float32"
    return (f"{report.trainable_params:,} of {report.total_params:,} parameters trained "
            f"({share:.1f}%), {policy}"
            + (f", {speed[-1]:.0f} examples/s" if speed else ""))


def evaluation_of(run_dir: str | Path) -> Evaluation | None:
    folder = Path(run_dir) / "evaluate" / "evaluation"
    return Evaluation.load(str(folder)) if folder.is_dir() else None


def _evaluate(outputs: dict[str, Any], config: PipelineConfig) -> str:
    evaluation = Evaluation.load(_path(outputs, "evaluation"))
    scores = evaluation.splits["eval"]
    verdict = "blessed" if evaluation.blessing and evaluation.blessing.blessed else "not blessed"
    return (f"accuracy {scores['accuracy']:.3f}, macro F1 {scores['macro_f1']:.3f} on "
            f"{scores['examples']:,} eval examples; gate: {verdict}")


def _gate(outputs: dict[str, Any], config: PipelineConfig, run_dir: Path) -> str:
    evaluation = evaluation_of(run_dir)
    if evaluation is None or evaluation.blessing is None:
        return "blessed" if outputs.get("Output") else "not blessed"
    return evaluation.blessing.reason


def _export(outputs: dict[str, Any], config: PipelineConfig) -> str:
    return _path(outputs, "exported_model")


def _publish(outputs: dict[str, Any], config: PipelineConfig) -> str:
    root = config.eval.blessed_root
    if not root:
        return "no blessed_root: the export stays in the run folder"
    latest = BlessedModel.latest(root)
    return f"published {latest.path}" if latest else f"nothing in {root}"


FACTS: dict[str, Callable[[dict[str, Any], PipelineConfig], str]] = {
    "import-encoder": _encoder, "preprocess": _preprocess, "train": _train,
    "evaluate": _evaluate, "export": _export, "publish": _publish}


def facts(step: str, outputs: dict[str, Any], config: PipelineConfig, run_dir: Path) -> str:
    """The step's facts line; a contract that cannot be read says so instead of failing the
    run (the step itself succeeded)."""
    try:
        if step == "gate":
            return _gate(outputs, config, run_dir)
        reader = FACTS.get(step)
        return reader(outputs, config) if reader else ""
    except Exception as err:  # noqa: BLE001 - the view never fails a finished step
        return f"(facts unavailable: {type(err).__name__}: {err})"
