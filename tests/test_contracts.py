"""The contracts between steps: round trips, and one clear line for every bad file."""

from __future__ import annotations

import dataclasses
import json

import pytest

from components.contracts import (BlessedModel, Blessing, Columns, DeadLetters, Evaluation,
                                  PreparedExamples, SplitInfo, TokenizerInfo, TrainingReport)
from components.errors import ContractError


def _examples() -> PreparedExamples:
    return PreparedExamples(
        labels=["neg", "pos"],
        splits={"train": SplitInfo("train/part-*.tfrecord.gz", 8, {"neg": 4, "pos": 4}),
                "eval": SplitInfo("eval/part-*.tfrecord.gz", 2, {"neg": 1, "pos": 1})},
        stats={"train": {"mean_length": 9.5}}, rows_read=11,
        dead_letter=DeadLetters("dead_letter.jsonl", 1), inputs=["/data/a.csv"],
        columns=Columns("text", None, None, "label", "group", None), eval_fraction=0.2,
        test_fraction=0.0, max_seq_length=32, compression="GZIP",
        tokenizer=TokenizerInfo("ab" * 32, True, "minilm-l6", 100, "longest_first", "bert"))


def test_round_trip_rebuilds_nested_types(tmp_path):
    path = _examples().save(str(tmp_path))
    assert path == f"{tmp_path}/metadata.json" and not list(tmp_path.glob("*.tmp"))
    loaded = PreparedExamples.load(str(tmp_path))
    assert loaded == _examples()
    assert isinstance(loaded.splits["train"], SplitInfo) and loaded.count("eval") == 2
    assert loaded.pattern("eval") == f"{tmp_path}/eval/part-*.tfrecord.gz"
    raw = json.loads((tmp_path / "metadata.json").read_text())
    assert raw["kind"] == "bertpipe.prepared_examples" and raw["schema_version"] == 1

    blessing = Blessing(True, "blessed: ...", "accuracy", 0.9, 0.5, 0.01)
    evaluation = Evaluation(labels=["neg", "pos"], splits={"eval": {"accuracy": 0.9}},
                            slices={}, mistakes=[], history={}, training={}, data={},
                            blessing=blessing)
    evaluation.save(str(tmp_path))
    assert Evaluation.load(str(tmp_path)).blessing == blessing


def test_other_schema_version_kind_or_missing_field_is_one_line(tmp_path):
    record = BlessedModel("v1", "/b/v1", "accuracy", 0.9, {"accuracy": 0.9}, "2026-11-22")
    path = tmp_path / BlessedModel.FILE
    record.save(str(tmp_path))
    raw = json.loads(path.read_text())

    path.write_text(json.dumps({**raw, "schema_version": 2}))
    with pytest.raises(ContractError, match=r"blessed.json: schema version 2, this bertpipe "
                                            r"reads version 1 of BlessedModel"):
        BlessedModel.load(str(tmp_path))
    path.write_text(json.dumps({**raw, "kind": "bertpipe.evaluation"}))
    with pytest.raises(ContractError, match="a 'bertpipe.evaluation' file, expected"):
        BlessedModel.load(str(tmp_path))
    path.write_text(json.dumps({k: v for k, v in raw.items() if k != "value"}))
    with pytest.raises(ContractError, match="blessed.json: BlessedModel lacks a field: value$"):
        BlessedModel.load(str(tmp_path))
    path.write_text("{not json")
    with pytest.raises(ContractError, match="blessed.json: not readable as JSON"):
        BlessedModel.load(str(tmp_path))
    with pytest.raises(ContractError, match="missing: .* holds no TrainingReport"):
        TrainingReport.load(str(tmp_path))
    assert BlessedModel.latest("") is None and BlessedModel.latest(str(tmp_path / "x")) is None


def test_files_from_before_schema_versions_read_as_version_1(tmp_path):
    raw = dataclasses.asdict(BlessedModel("v1", "/b/v1", "accuracy", 0.9, {}, "2026-11-22"))
    (tmp_path / BlessedModel.FILE).write_text(json.dumps(raw))
    assert BlessedModel.load(str(tmp_path)).version == "v1"
