"""``bertpipe predict`` on a real export: the three ways of running it agree and are right."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from components.export.serving import export_model
from components.export.model_card import write_model_card

REVIEWS = ["A superb film with a charming cast.", "Dull direction, stale script.",
           "What a wonderful and moving experience!", "The story is tedious and the ending is awful."]


@pytest.fixture(scope="module")
def export_dir(trained_tiny, tiny_encoder_dir, preprocessed_tiny, tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp("export"))
    export_model(trained_tiny.model_dir, tiny_encoder_dir, preprocessed_tiny.examples, out)
    write_model_card(out, str(Path(trained_tiny.model_dir).parent), tiny_encoder_dir,
                     preprocessed_tiny.examples)
    return out


def bertpipe(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=300)


def test_model_card_describes_the_export(export_dir, preprocessed_tiny):
    card = json.loads((Path(export_dir) / "model_card.json").read_text())
    assert card["labels"] == ["neg", "pos"] and card["max_seq_length"] == 32
    assert (card["tokenizer"]["vocab_sha256"]
            == preprocessed_tiny.metadata["tokenizer"]["vocab_sha256"])
    assert (Path(export_dir) / card["tokenizer"]["vocab_file"]).is_file()
    assert card["training"]["freeze"] == "last:2" and card["training"]["trainable_params"] > 0
    assert card["versions"]["tensorflow"] and card["versions"]["bertpipe"]
    assert set(card["exports"]["serving_model"]["signatures"]) == {"serving_default", "from_ids"}


@pytest.mark.slow
def test_predict_from_file_and_stdin_in_every_format(export_dir, tmp_path):
    lines = tmp_path / "reviews.txt"
    lines.write_text("\n".join(REVIEWS) + "\n\n")
    outputs = {}
    for fmt in ("serving", "ids", "frozen"):
        proc = bertpipe("predict", export_dir, "--input", str(lines), "--format", fmt, "--json")
        assert proc.returncode == 0, proc.stderr[-2000:]
        outputs[fmt] = [json.loads(line) for line in proc.stdout.splitlines()]
    # One line per non-empty input line, in order. (Which label a random tiny BERT gives
    # these unseen sentences is not this test's business, and not stable across processes:
    # the exports' parity with the Keras model is tests/export/test_export.py's.)
    served = outputs["serving"]
    assert [o["text"] for o in served] == REVIEWS
    for row in served:
        assert row["label"] in ("neg", "pos") and 0.5 <= row["probability"] <= 1.0
        assert row["probability"] == pytest.approx(max(row["probabilities"].values()))
    for fmt in ("ids", "frozen"):
        for a, b in zip(served, outputs[fmt]):
            assert a["label"] == b["label"] and abs(a["probability"] - b["probability"]) <= 1e-5
    plain = bertpipe("predict", export_dir, stdin="\n".join(REVIEWS[:2]) + "\n")
    assert plain.returncode == 0, plain.stderr[-2000:]
    rows = [line.split("\t") for line in plain.stdout.splitlines()]
    assert [(r[0], float(r[1]), r[2]) for r in rows] == [
        (o["label"], pytest.approx(o["probability"], abs=1e-4), o["text"]) for o in served[:2]]


def test_predict_on_a_folder_that_is_not_an_export_fails_in_one_line(tmp_path):
    proc = bertpipe("predict", str(tmp_path), stdin="text\n")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"bertpipe: error: {tmp_path} is not a bertpipe export: no model_card.json"]
