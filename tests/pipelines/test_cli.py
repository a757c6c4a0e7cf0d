"""The ``bertpipe`` command: compile for Kubeflow, reject bad configuration in one line."""

from __future__ import annotations

import subprocess
import sys

import pytest
from kfp import components as kfp_components

STEPS = {"import-encoder", "preprocess", "train", "evaluate", "gate", "condition-1"}


def bertpipe(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_compile_output_loads_with_kfp(tmp_path):
    out = tmp_path / "bertpipe.yaml"
    proc = bertpipe("compile", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    loaded = kfp_components.load_component_from_file(str(out))
    spec = loaded.pipeline_spec
    assert set(spec.root.dag.tasks) == STEPS
    assert spec.root.dag.tasks["train"].dependent_tasks == ["import-encoder", "preprocess"]
    # export and publish run only inside the quality gate's "blessed" branch
    blessed = spec.root.dag.tasks["condition-1"]
    assert "gate-Output" in blessed.trigger_policy.condition
    assert set(spec.components["comp-condition-1"].dag.tasks) == {"export", "publish"}
    params = spec.root.input_definitions.parameters
    for name in ("data_path", "text_column", "label_column", "max_seq_length", "epochs",
                 "batch_size", "learning_rate", "freeze"):
        assert name in params
    assert params["freeze"].default_value.string_value == "last:2"


@pytest.mark.parametrize("args, expected", [
    (["--trainable-blocks", "7"], "last:7 but the encoder has only 6 transformer blocks"),
    (["--freeze", "blocks:1,9"], "block(s) [9] out of range (the encoder has blocks 0-5)"),
    (["--freeze", "last:1+include:no_such_variable"], "regex 'no_such_variable' matches no"),
    (["--freeze", "first:2", "--trainable-blocks", "2"], "give --freeze or --trainable-blocks"),
    (["--freeze", "auto+all"], "'auto' freezes whole blocks bottom up during training and "
                               "cannot be joined with 'all'"),
    (["--freeze", "last:2+auto"], "nothing left for 'auto' to freeze"),
    (["--freeze", "auto", "--gradual-unfreeze", "true"], "use one of the two"),
    (["--text-column", "review"], "missing column(s) review"),
    (["--trainable-blocks", "some"], "trainable_blocks must be 'all' or a non-negative integer"),
    (["--max-seq-length", "1024"], "max_seq_length must be in [8, 512]"),
    (["--encoder", "/no/such/encoder"], "is neither one of ['minilm-l6'] nor a folder"),
    (["--batch-size", "4096", "--max-seq-length", "512"],
     "training would need about 396.9 GiB (batch 4096 per replica × length 512, 2 trainable "
     "blocks"),  # advice before Beam or TF start
])
def test_bad_config_fails_fast_with_one_line(args, expected, sentiment_csv, tmp_path):
    proc = bertpipe("run", "--data-path", str(sentiment_csv), "--pipeline-root",
                    str(tmp_path / "runs"), *args, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bertpipe: error: "), proc.stderr
    assert expected in lines[0]
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.slow
def test_preprocess_over_the_rejection_limit_exits_with_one_line(tiny_encoder_dir, tmp_path):
    """(The tiny encoder's folder as --encoder: importing MiniLM twice cost half a minute.)"""
    from fixtures import sentiment_rows, write_csv

    data = write_csv(tmp_path / "messy.csv", sentiment_rows(20))
    with open(data, "a", encoding="utf-8") as f:
        f.write(',pos,g1\n"No label",,g1\n"Odd label",meh,g1\n')
    out = tmp_path / "out"
    proc = bertpipe("preprocess", "--data-path", str(data), "--label-vocab", "neg,pos",
                    "--encoder", tiny_encoder_dir, "--output-dir", str(out))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("bertpipe:")]
    assert errors == [f"bertpipe: error: 3 of 23 rows rejected (13.0% > max_rejected_fraction "
                      f"10%); see {out}/dead_letter.jsonl"]
    assert len((out / "dead_letter.jsonl").read_text().splitlines()) == 3

    ok = bertpipe("preprocess", "--data-path", str(data), "--label-vocab", "neg,pos",
                  "--encoder", tiny_encoder_dir, "--max-rejected-fraction", "0.2",
                  "--output-dir", str(tmp_path / "ok"))
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "dead_letters=3 labels=neg,pos" in ok.stdout


def test_an_output_folder_that_cannot_be_written_fails_before_any_work(sentiment_csv,
                                                                       tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for setting, flag in (("blessed_root", "--blessed-root"),
                          ("pipeline_root", "--pipeline-root")):
        proc = bertpipe("run", "--data-path", str(sentiment_csv), "--pipeline-root",
                        str(tmp_path / "runs"), flag, str(blocker / "models"), timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip() == (
            f"bertpipe: error: {setting} {blocker}/models: not writable (its nearest existing "
            f"folder {blocker} is not): choose a folder you can write, or fix its permissions")
    assert not (tmp_path / "runs").exists()


def test_debug_shows_the_traceback_behind_the_one_line(tmp_path):
    """Any failure ends in one line on stderr; --debug (or BERTPIPE_DEBUG=1) shows the
    traceback first, the same last line after it."""
    (tmp_path / "model_card.json").write_text('{"kind": "bertpipe.model_card", '
                                              '"schema_version": 9}')
    plain = bertpipe("predict", str(tmp_path), "--input", "-")
    debug = bertpipe("--debug", "predict", str(tmp_path), "--input", "-")
    line = (f"bertpipe: error: {tmp_path}/model_card.json: schema version 9, this bertpipe "
            f"reads version 1 of ModelCard: rerun the step that wrote it with this version")
    assert plain.returncode == debug.returncode == 1
    assert plain.stderr.strip() == line
    assert "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1] == line
