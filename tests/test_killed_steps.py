"""A step killed while writing never leaves an output that a later step or a rerun takes for
complete.

Every step writes its contract file (``metadata.json``, ``training_report.json``,
``evaluation.json``, ``model_card.json``) last, through a temporary name renamed into place,
and every reader loads that contract first. Each test runs a real step in a child process and
SIGKILLs it at the worst moment: every other output written, the contract about to be saved.
Then the next step's reader must refuse the folder with one line naming the missing file, and
a rerun into the same folder must finish as if nothing had happened.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from components.contracts import (Evaluation, ModelCard, PreparedExamples, TrainingReport)
from components.errors import ContractError

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _killed_at_commit(contract: str, body: str) -> subprocess.CompletedProcess:
    """Runs ``body`` in a child that SIGKILLs itself when it serializes ``contract``."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'tests')!r}]
        import components
        from components import contracts

        real_to_json = contracts.Contract.to_json

        def to_json(self):  # how every writer serializes its contract, just before writing
            if type(self).__name__ == {contract!r}:
                os.kill(os.getpid(), signal.SIGKILL)
            return real_to_json(self)

        contracts.Contract.to_json = to_json
    """) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)


def _assert_killed(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]


def _records(folder: str) -> dict[str, bytes]:
    import gzip

    return {p.name: gzip.decompress(p.read_bytes())
            for p in sorted(Path(folder).glob("*/part-*"))}


def test_a_killed_preprocess_leaves_no_examples_and_a_rerun_is_identical(
        tiny_encoder_dir, sentiment_csv, preprocessed_tiny, tmp_path):
    from components.config import DataConfig
    from components.preprocess.pipeline import run_preprocess
    from components.train.trainer import run_train
    from components.config import TrainConfig
    from fixtures import FIXTURE_DATA

    out = str(tmp_path / "examples")
    _assert_killed(_killed_at_commit("PreparedExamples", f"""
        from components.config import DataConfig
        from components.preprocess.pipeline import run_preprocess
        from fixtures import FIXTURE_DATA
        run_preprocess(DataConfig(data_path={str(sentiment_csv)!r}, **FIXTURE_DATA),
                       {tiny_encoder_dir!r}, {out!r})
    """))
    assert _records(out)  # the shards were written...
    with pytest.raises(ContractError, match=f"^{out}/metadata.json: "):
        PreparedExamples.load(out)  # ...but nothing reads them as complete
    with pytest.raises(ContractError, match="metadata.json"):
        run_train(TrainConfig(epochs=1), tiny_encoder_dir, out, str(tmp_path / "model"))

    run_preprocess(DataConfig(data_path=str(sentiment_csv), **FIXTURE_DATA), tiny_encoder_dir,
                   out)
    assert _records(out) == _records(preprocessed_tiny.output_dir)
    assert PreparedExamples.load(out).splits == preprocessed_tiny.examples.splits


def test_a_killed_train_step_is_not_evaluated_and_a_rerun_finishes(
        tiny_encoder_dir, preprocessed_tiny, tmp_path):
    from components.config import TrainConfig
    from components.evaluate.evaluator import run_evaluate
    from components.train.trainer import run_train

    out = str(tmp_path / "model")
    config = ("TrainConfig(epochs=1, batch_size=16, max_train_examples=32, freeze='last:2', "
              "mixed_precision='float32')")
    _assert_killed(_killed_at_commit("TrainingReport", f"""
        from components.config import TrainConfig
        from components.train.trainer import run_train
        run_train({config}, {tiny_encoder_dir!r}, {preprocessed_tiny.output_dir!r}, {out!r},
                  verbose=0)
    """))
    assert (Path(out) / "model" / "saved_model.pb").exists()  # the model was saved...
    with pytest.raises(ContractError, match=f"^{out}/training_report.json: "):
        run_evaluate(out, preprocessed_tiny.output_dir)  # ...but is not taken for trained

    result = run_train(eval(config), tiny_encoder_dir, preprocessed_tiny.output_dir, out,
                       verbose=0)
    assert TrainingReport.load(out) == result.report
    assert len(result.report.history["loss"]) == 1  # one epoch, trained through
    assert run_evaluate(out, preprocessed_tiny.output_dir).eval_metrics["accuracy"] >= 0


def test_a_killed_evaluation_or_export_is_never_exported_or_published(
        tiny_encoder_dir, preprocessed_tiny, trained_tiny, tmp_path):
    from components.export.publish import publish_blessed

    train_dir = str(Path(trained_tiny.model_dir).parent)
    pre = preprocessed_tiny.output_dir
    evaluation = str(tmp_path / "evaluation")
    _assert_killed(_killed_at_commit("Evaluation", f"""
        from components.evaluate.evaluator import run_evaluate
        run_evaluate({train_dir!r}, {pre!r}).save({evaluation!r})
    """))
    with pytest.raises(ContractError, match=f"^{evaluation}/evaluation.json: "):
        Evaluation.load(evaluation)  # what export and the gate read first

    export = str(tmp_path / "export")
    _assert_killed(_killed_at_commit("ModelCard", f"""
        from components.contracts import PreparedExamples
        from components.export.model_card import write_model_card
        from components.export.serving import export_model
        prepared = PreparedExamples.load({pre!r})
        export_model({trained_tiny.model_dir!r}, {tiny_encoder_dir!r}, prepared, {export!r})
        write_model_card({export!r}, {train_dir!r}, {tiny_encoder_dir!r}, prepared)
    """))
    assert (Path(export) / "serving_model" / "saved_model.pb").exists()
    root = tmp_path / "blessed"
    with pytest.raises(ContractError, match=f"^{export}/model_card.json: missing: the export "
                                            "step did not finish; rerun it$"):
        publish_blessed(export, Evaluation(labels=["neg", "pos"],
                                           splits={"eval": {"accuracy": 0.9}}, slices={},
                                           mistakes=[], history={}, training={}, data={}),
                        str(root), "accuracy", "v1")
    assert not root.exists() or not any(root.iterdir())  # nothing copied, no record
    with pytest.raises(ContractError, match="model_card.json"):
        ModelCard.load(export)  # what `bertpipe predict` reads first


def test_a_killed_encoder_import_leaves_no_encoder(tiny_encoder_dir, tmp_path):
    from components.contracts import EncoderInfo
    from components.encoders.sources import import_encoder

    out = tmp_path / "encoder"
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import os, shutil, signal, sys
        sys.path[:0] = [{str(ROOT)!r}]
        import components
        from pathlib import Path
        from components.encoders.sources import import_encoder
        copied = []
        real_copy = shutil.copyfile  # what copytree's copy2 calls for each file

        def copy(src, dst, **kwargs):  # killed after the encoder_info.json and one more file
            copied.append(os.fspath(src))
            result = real_copy(src, dst, **kwargs)
            if any(p.endswith("encoder_info.json") for p in copied) and len(copied) >= 2:
                os.kill(os.getpid(), signal.SIGKILL)
            return result

        shutil.copyfile = copy
        import_encoder({tiny_encoder_dir!r}, Path({str(out)!r}))
    """)], capture_output=True, text=True, timeout=300)
    _assert_killed(proc)
    with pytest.raises(ContractError, match="encoder_info.json"):
        EncoderInfo.load(str(out))
    info = import_encoder(tiny_encoder_dir, out)
    assert info.num_layers == EncoderInfo.load(tiny_encoder_dir).num_layers
    assert not (tmp_path / "encoder.partial").exists()
