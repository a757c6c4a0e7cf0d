"""The whole pipeline end to end through KFP's local runner, as `bertpipe run` does it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures import sentiment_rows, write_csv


@pytest.mark.slow
def test_bertpipe_run_end_to_end(tmp_path):
    data = write_csv(tmp_path / "reviews.tsv", sentiment_rows(200, seed=3), delimiter="\t")
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", "--pipeline-root", str(tmp_path / "runs"),
         "--data-path", str(data), "--split-key-column", "group", "--max-seq-length", "32",
         "--epochs", "2", "--batch-size", "16", "--learning-rate", "5e-4",
         "--trainable-blocks", "1", "--min-metric", "0.6",
         "--blessed-root", str(tmp_path / "blessed")],
        capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    match = re.fullmatch(r"accuracy=(\d\.\d{3}) macro_f1=(\d\.\d{3})", lines[-1])
    assert match, lines[-5:]
    assert float(match.group(1)) >= 0.8  # the fixture's labels follow its sentiment words

    artifacts = dict(re.findall(r"^  (\w+)\s+(/\S+)$", proc.stdout, flags=re.M))
    assert set(artifacts) >= {"encoder_model", "examples", "model", "metrics",
                              "classification_metrics", "report", "summary_markdown",
                              "exported_model"}
    exported = Path(artifacts["exported_model"])
    assert (exported / "frozen_graph.pb").stat().st_size > 1_000_000
    assert (exported / "serving_model" / "saved_model.pb").exists()
    card = json.loads((exported / "model_card.json").read_text())
    assert card["blessing"]["blessed"] and card["training"]["freeze"] == "last:1"
    assert "quality gate: blessed: accuracy" in proc.stdout + proc.stderr
    # Blessed, so published: blessed.json points at a copy of the export.
    record = json.loads((tmp_path / "blessed" / "blessed.json").read_text())
    assert (Path(record["path"]) / "frozen_graph.pb").exists()
    assert "<svg" in Path(artifacts["report"]).read_text()
    assert Path(artifacts["summary_markdown"]).read_text().startswith("# bertpipe evaluation")
    model = Path(artifacts["model"])
    freeze = json.loads((model / "freeze.json").read_text())
    assert freeze["freeze"] == "last:1"
    status = {row["block"]: row["status"] for row in freeze["table"]}
    assert status["layer_5"] == "trainable" and status["layer_4"] == "frozen"
    assert status["embeddings"] == "frozen" and status["pooler"] == "unused"
    assert len(json.loads((model / "history.json").read_text())["loss"]) == 2
    assert any((model / "logs").rglob("events.out.tfevents.*"))
