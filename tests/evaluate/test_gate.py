"""The quality gate through KFP's local runner with the real evaluate, gate, export and
publish components: blessed runs are exported and published, the others are not, the
pipeline succeeds either way and the reason is in the metrics."""

import json
import re
from pathlib import Path

import pytest
from kfp import dsl
from kfp.dsl import Dataset, Model

from components.contracts import BlessedModel
from components.evaluate.blessing import decide
from components.export.publish import version_name

BLESSED_FILE = BlessedModel.FILE
from pipelines.local_run import init_local
from pipelines.pipeline import judge_and_export


@dsl.pipeline(name="gate-test")
def judge(train_uri: str, examples_uri: str, encoder_uri: str, min_metric: float,
          max_regression: float, blessed_root: str) -> dsl.Metrics:
    """The tail of the bertpipe pipeline (the same function builds it) on artifacts imported
    from the fixtures."""
    model = dsl.importer(artifact_uri=train_uri, artifact_class=Model, reimport=True)
    examples = dsl.importer(artifact_uri=examples_uri, artifact_class=Dataset, reimport=True)
    encoder = dsl.importer(artifact_uri=encoder_uri, artifact_class=Model, reimport=True)
    scored, _, _, _ = judge_and_export(model.output, examples.output, encoder.output,
                                       "accuracy", min_metric, max_regression, blessed_root)
    return scored.outputs["metrics"]


@pytest.fixture(scope="module")
def weak_model(tiny_encoder_dir, preprocessed_tiny, tmp_path_factory):
    """Feature extraction on 64 examples: imperfect, so that thresholds can sit above it."""
    from components.config import TrainConfig
    from components.evaluate.evaluator import run_evaluate
    from components.train.trainer import run_train

    out = tmp_path_factory.mktemp("weak")
    run_train(TrainConfig(freeze="all", epochs=1, batch_size=16, learning_rate=1e-3,
                          max_train_examples=64), tiny_encoder_dir, preprocessed_tiny.output_dir,
              str(out), verbose=0)
    accuracy = run_evaluate(str(out), preprocessed_tiny.output_dir).eval_metrics["accuracy"]
    assert accuracy < 0.98
    return str(out), accuracy


def _run(tmp_path: Path, weak_model, preprocessed, minilm_dir, **params):
    root = tmp_path / "runs"
    init_local(str(root))
    before = set(root.glob("*")) if root.exists() else set()
    task = judge(train_uri=weak_model[0], examples_uri=preprocessed.output_dir,
                 encoder_uri=minilm_dir, **params)
    (run_dir,) = set(root.glob("*")) - before
    return task.outputs["Output"].metadata, run_dir


def _write_blessed(root: Path, accuracy: float) -> None:
    BlessedModel(version="earlier", path=str(root / "earlier"), main_metric="accuracy",
                 value=accuracy, metrics={"accuracy": accuracy},
                 published_utc="2026-11-21T03:00:00+00:00").save(str(root))


@pytest.mark.slow
def test_gate_blesses_exports_and_publishes_or_stops(weak_model, preprocessed_tiny,
                                                     tiny_encoder_dir, tmp_path):
    _, accuracy = weak_model
    root = tmp_path / "blessed"
    # Above the threshold and above the last blessed model (within the allowed regression).
    _write_blessed(root, accuracy + 0.005)
    metrics, run_dir = _run(tmp_path, weak_model, preprocessed_tiny, tiny_encoder_dir,
                            min_metric=accuracy - 0.1, max_regression=0.01,
                            blessed_root=str(root))
    assert metrics["blessed"] == 1.0 and metrics["blessing"].startswith("blessed:")
    assert metrics["gate_baseline"] == pytest.approx(accuracy + 0.005)
    exported = run_dir / "export" / "exported_model"
    assert (exported / "frozen_graph.pb").exists() and (exported / "serving_model").is_dir()
    card = json.loads((exported / "model_card.json").read_text())
    assert card["metrics"]["eval"]["accuracy"] == pytest.approx(accuracy)
    assert card["labels"] == ["neg", "pos"] and card["blessing"]["blessed"] is True
    record = json.loads((root / BLESSED_FILE).read_text())
    # Named by the run's scheduled time (kfp.local: its start time), e.g. 2026-11-22T03-00-00Z.
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ", record["version"]), record
    assert record["value"] == pytest.approx(accuracy)
    assert record["path"] == str(root / record["version"])
    assert (Path(record["path"]) / "frozen_graph.pb").exists()
    assert (Path(record["path"]) / "model_card.json").exists()

    # Below the absolute threshold: not exported, nothing published, the run still succeeds.
    metrics, run_dir = _run(tmp_path, weak_model, preprocessed_tiny, tiny_encoder_dir,
                            min_metric=min(accuracy + 0.01, 1.0), max_regression=0.01,
                            blessed_root=str(root))
    assert metrics["blessed"] == 0.0 and "< threshold" in metrics["blessing"]
    assert not (run_dir / "export").exists()
    assert json.loads((root / BLESSED_FILE).read_text()) == record

    # Below the last blessed model minus the allowed regression.
    _write_blessed(root, accuracy + 0.05)
    metrics, run_dir = _run(tmp_path, weak_model, preprocessed_tiny, tiny_encoder_dir,
                            min_metric=0.0, max_regression=0.01, blessed_root=str(root))
    assert metrics["blessed"] == 0.0 and "< last blessed" in metrics["blessing"]
    assert not (run_dir / "export").exists()


def test_decide_rules_and_version_names(tmp_path):
    evaluation = {"accuracy": 0.80, "macro_f1": 0.78}  # the eval split's metrics
    assert decide(evaluation, "accuracy", 0.7, 0.01, "").blessed
    assert not decide(evaluation, "accuracy", 0.81, 0.01, "").blessed
    _write_blessed(tmp_path, 0.805)
    assert decide(evaluation, "accuracy", 0.0, 0.01, str(tmp_path)).blessed
    no = decide(evaluation, "accuracy", 0.0, 0.001, str(tmp_path))
    assert not no.blessed and no.baseline == 0.805 and "(earlier)" in no.reason
    # A baseline recorded for another metric does not count as history for this one.
    assert decide(evaluation, "macro_f1", 0.0, 0.0, str(tmp_path)).baseline is None
    with pytest.raises(ValueError, match="main_metric 'mcc'"):
        decide(evaluation, "mcc", 0.0, 0.0, "")
    assert version_name("2026-11-22T03:00:00Z", "job") == "2026-11-22T03-00-00Z"
    assert version_name("{{$.pipeline_job_schedule_time_utc}}", "bertpipe-x-1") == "bertpipe-x-1"
