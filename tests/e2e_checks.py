"""What a whole `bertpipe run` must have produced, shared by the host run
(tests/pipelines/test_pipeline_e2e.py) and the run inside the image (tests/image/)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from components.contracts import (BlessedModel, EncoderInfo, Evaluation, ModelCard,
                                  PreparedExamples, TrainingReport)
from fixtures import sentiment_rows, write_csv
from pipelines.run_records import LocalRun

# kfp.local's task folders (and log names), in the order a blessed run runs them.
STEP_TASKS = ("import-encoder", "preprocess", "train", "evaluate", "gate", "export", "publish")

# The run both tests make: the fixture's 200 rows, one trainable block, 2 short epochs.
RUN_ARGS = ["--split-key-column", "group", "--max-seq-length", "32", "--epochs", "2",
            "--batch-size", "16", "--learning-rate", "5e-4", "--trainable-blocks", "1",
            "--min-metric", "0.6"]


def write_fixture(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "data" / "reviews.tsv", sentiment_rows(200, seed=3),
                     delimiter="\t")


def check_run(proc: subprocess.CompletedProcess, blessed_root: Path) -> dict[str, Path]:
    """Asserts the headline line, every artifact, the blessing and the publishing; returns
    the artifacts' paths by name."""
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    match = re.fullmatch(r"accuracy=(\d\.\d{3}) macro_f1=(\d\.\d{3})", lines[-1])
    assert match, lines[-5:]
    assert float(match.group(1)) >= 0.8  # the fixture's labels follow its sentiment words

    # Plain lines when stdout is not a terminal: no carriage returns, no escape sequences.
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", proc.stdout), repr(proc.stdout[-500:])
    (run_line,) = [line for line in lines if line.startswith("  run ")]
    run_dir = Path(run_line.split()[1])
    record = LocalRun.load(str(run_dir))
    assert record.status == "succeeded" and record.blessed and record.finished_utc
    artifacts = {k: Path(v) for k, v in record.artifacts.items()}
    assert set(artifacts) >= {"encoder_model", "examples", "model", "metrics",
                              "classification_metrics", "report", "summary_markdown",
                              "exported_model"}
    assert [s.step for s in record.steps] == list(STEP_TASKS)
    for step in record.steps:  # each step's whole output is in its log, not on the screen
        assert step.status == "succeeded" and Path(step.log) == run_dir / f"{step.step}.log"
        log = Path(step.log).read_text()
        assert re.search(rf"Executing task \S*'{step.step}'", log), step.step
    assert "Executing task" not in proc.stdout + proc.stderr
    exported = artifacts["exported_model"]
    assert (exported / "frozen_graph.pb").stat().st_size > 1_000_000
    assert (exported / "serving_model" / "saved_model.pb").exists()
    card = json.loads((exported / "model_card.json").read_text())
    assert card["blessing"]["blessed"] and card["training"]["freeze"] == "last:1"
    assert "quality gate: blessed: accuracy" in proc.stdout + proc.stderr
    # Blessed, so published: blessed.json points at a copy of the export.
    record = json.loads((blessed_root / "blessed.json").read_text())
    assert (Path(record["path"]) / "frozen_graph.pb").exists()
    assert "<svg" in artifacts["report"].read_text()
    assert artifacts["summary_markdown"].read_text().startswith("# bertpipe evaluation")
    model = artifacts["model"]
    report = TrainingReport.load(str(model))
    assert report.freeze == "last:1"
    status = {row["block"]: row["status"] for row in report.table}
    assert status["layer_5"] == "trainable" and status["layer_4"] == "frozen"
    assert status["embeddings"] == "frozen" and status["pooler"] == "unused"
    assert len(report.history["loss"]) == 2
    assert any((model / "logs").rglob("events.out.tfevents.*"))
    check_contracts(artifacts, blessed_root)
    return artifacts


def check_contracts(artifacts: dict[str, Path], blessed_root: Path) -> None:
    """Every file one step handed the next loads through its contract, and they agree."""
    run_dir = artifacts["model"].parents[1]
    info = EncoderInfo.load(str(artifacts["encoder_model"]))
    examples = PreparedExamples.load(str(artifacts["examples"]))
    report = TrainingReport.load(str(artifacts["model"]))
    (evaluation_dir,) = (run_dir / "evaluate").glob("evaluation*")
    evaluation = Evaluation.load(str(evaluation_dir))
    card = ModelCard.load(str(artifacts["exported_model"]))
    blessed = BlessedModel.latest(str(blessed_root))
    assert info.num_layers == 6 and Path(info.vocab_file).is_file()
    assert examples.tokenizer.encoder_source == info.source == "minilm-l6"
    assert report.labels == examples.labels == evaluation.labels == card.labels
    assert evaluation.blessing.blessed and card.blessing == evaluation.blessing
    assert evaluation.splits["eval"]["examples"] == examples.count("eval")
    # The default precision is decided per machine and said where a person looks for it.
    assert report.precision["requested"] == "auto" and report.precision["reason"]
    assert card.training["precision"] == report.precision and report.bucket_width == 16
    assert blessed is not None and blessed.value == evaluation.eval_metrics["accuracy"]
