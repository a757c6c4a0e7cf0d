"""The whole pipeline end to end through KFP's local runner, as `bertpipe run` does it, and
run again on the same inputs: a rerun (a retried nightly run) is idempotent."""

from __future__ import annotations

import gzip
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from components.contracts import BlessedModel, Evaluation, PreparedExamples
from e2e_checks import RUN_ARGS, check_run, write_fixture


def _tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _records(examples: Path) -> dict[str, bytes]:
    return {p.name: gzip.decompress(p.read_bytes()) for p in sorted(examples.glob("*/part-*"))}


def _evaluation(run_artifacts: dict[str, Path]) -> Evaluation:
    (folder,) = (run_artifacts["model"].parents[1] / "evaluate").glob("evaluation*")
    return Evaluation.load(str(folder))


@pytest.mark.slow
def test_bertpipe_run_end_to_end_and_a_rerun_is_idempotent(tmp_path):
    data = write_fixture(tmp_path)
    command = [sys.executable, "-m", "pipelines.cli", "run", "--pipeline-root",
               str(tmp_path / "runs"), "--data-path", str(data), *RUN_ARGS, "--blessed-root",
               str(tmp_path / "blessed")]
    first = check_run(subprocess.run(command, capture_output=True, text=True, timeout=900),
                      tmp_path / "blessed")
    first_record = BlessedModel.latest(str(tmp_path / "blessed"))
    first_files = _tree_digest(first["model"].parents[1])

    second = check_run(subprocess.run(command, capture_output=True, text=True, timeout=900),
                       tmp_path / "blessed")
    # Its own run folder; the first run's files untouched.
    assert second["model"].parents[1] != first["model"].parents[1]
    assert _tree_digest(first["model"].parents[1]) == first_files
    # The same examples, byte for byte, and the same counts and labels.
    assert _records(second["examples"]) == _records(first["examples"])
    before, after = (PreparedExamples.load(str(r["examples"])) for r in (first, second))
    assert (after.splits, after.labels) == (before.splits, before.labels)
    # The same model quality (training is seeded; CPU float sums may differ in the last bits).
    scores = [_evaluation(r).eval_metrics["accuracy"] for r in (first, second)]
    assert abs(scores[0] - scores[1]) <= 0.02, scores
    # The gate judged the rerun against the first (a tie is no regression) and published it
    # beside the first copy, which stays whole; no temporary file is left.
    record = BlessedModel.latest(str(tmp_path / "blessed"))
    assert record.version != first_record.version
    for published in (record, first_record):
        assert (Path(published.path) / "model_card.json").exists()
    assert not [p for p in (tmp_path / "blessed").rglob("*") if ".tmp" in p.name
                or p.name.endswith(".partial")]
