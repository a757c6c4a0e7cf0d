"""The Beam preprocess job on real files with the DirectRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tensorflow as tf

from components.config import ConfigError, DataConfig
from components.preprocess.pipeline import run_preprocess, split_of
from fixtures import FIXTURE_DATA, sentiment_rows, write_csv


def read_examples(pattern: str) -> list[tf.train.Example]:
    files = sorted(tf.io.gfile.glob(pattern))
    out = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        out.append(tf.train.Example.FromString(record.numpy()))
    return out


def feature(example: tf.train.Example, name: str):
    f = example.features.feature[name]
    return list(f.int64_list.value) or [v.decode() for v in f.bytes_list.value]


def test_outputs_counts_and_group_split(preprocessed_tiny, sentiment_csv):
    meta = preprocessed_tiny.metadata
    assert meta["labels"] == ["neg", "pos"]
    train = read_examples(preprocessed_tiny.split_pattern("train"))
    evals = read_examples(preprocessed_tiny.split_pattern("eval"))
    assert len(train) == meta["splits"]["train"]["count"]
    assert len(evals) == meta["splits"]["eval"]["count"]
    assert len(train) + len(evals) == 600 and meta["dead_letter"]["count"] == 0
    assert 0.3 < len(evals) / 600 < 0.6  # 40% of ~150 groups, by hash

    rows = {r["text"]: r for r in sentiment_rows(600, with_source=True)}
    groups_by_split: dict[str, set] = {"train": set(), "eval": set()}
    for split, examples in (("train", train), ("eval", evals)):
        for ex in examples:
            row = rows[feature(ex, "text")[0]]
            groups_by_split[split].add(row["group"])
            assert feature(ex, "label") == [meta["labels"].index(row["label"])]
            ids, mask = feature(ex, "input_word_ids"), feature(ex, "input_mask")
            assert len(ids) == 32 and ids[0] == 101 and ids[sum(mask) - 1] == 102
            assert split_of(row["group"], FIXTURE_DATA["eval_fraction"]) == split
            assert feature(ex, "slice") == [row["source"]]
    assert not groups_by_split["train"] & groups_by_split["eval"]
    assert meta["tokenizer"]["do_lower_case"] is True and len(meta["tokenizer"]["vocab_sha256"]) == 64


def test_same_input_gives_identical_records(tiny_encoder_dir, sentiment_csv, preprocessed_tiny,
                                            tmp_path):
    data = DataConfig(data_path=str(sentiment_csv), **FIXTURE_DATA)
    again = run_preprocess(data, tiny_encoder_dir, str(tmp_path / "again"))
    for split in ("train", "eval"):
        first = sorted(Path(p).read_bytes() for p in tf.io.gfile.glob(
            preprocessed_tiny.split_pattern(split)))
        second = sorted(Path(p).read_bytes() for p in tf.io.gfile.glob(again.split_pattern(split)))
        assert first == second
    assert again.metadata["splits"] == json.loads(json.dumps(again.metadata["splits"]))
    assert ({s: v["per_label"] for s, v in again.metadata["splits"].items()}
            == {s: v["per_label"] for s, v in preprocessed_tiny.metadata["splits"].items()})


def test_bad_rows_go_to_dead_letters(tiny_encoder_dir, tmp_path):
    good = sentiment_rows(20)
    path = write_csv(tmp_path / "mixed.csv", good)
    with open(path, "a", encoding="utf-8") as f:
        f.write(',pos,g1\n')                     # empty text
        f.write('"Fine film.",,g1\n')            # empty label
        f.write('"Too many",pos,g1,extra\n')     # wrong number of columns
    with open(path, "ab") as f:
        f.write(b'"bad \xff bytes",neg,g2\n')    # not UTF-8
    result = run_preprocess(DataConfig(data_path=str(path), max_seq_length=16,
                                       max_rejected_fraction=0.2), tiny_encoder_dir,
                            str(tmp_path / "out"))
    dead = [json.loads(line) for line in
            (tmp_path / "out" / result.metadata["dead_letter"]["path"]).read_text().splitlines()]
    reasons = sorted((d["line"], d["error"].split(" ")[0]) for d in dead)
    assert reasons == [(22, "missing"), (23, "missing"), (24, "wrong"), (25, "undecodable")]
    assert all(d["source"].endswith("mixed.csv") for d in dead)
    total = sum(v["count"] for v in result.metadata["splits"].values())
    assert total == 20


def test_jsonl_input_and_pairs(tiny_encoder_dir, tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = [{"premise": f"A man plays guitar number {i}.", "hypothesis": "Someone makes music.",
             "label": i % 3} for i in range(30)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{not json\n")
    data = DataConfig(data_path=str(path), text_column="premise", text_pair_column="hypothesis",
                      max_seq_length=24)
    result = run_preprocess(data, tiny_encoder_dir, str(tmp_path / "out"))
    assert result.metadata["labels"] == ["0", "1", "2"]
    assert result.metadata["dead_letter"]["count"] == 1
    examples = read_examples(result.split_pattern("train")) + read_examples(
        result.split_pattern("eval"))
    assert len(examples) == 30
    types = feature(examples[0], "input_type_ids")
    assert 1 in types and types[0] == 0


@pytest.mark.parametrize("change, message", [
    ({"text_column": "review"}, "missing column(s) review"),
    ({"label_column": "stars"}, "missing column(s) stars"),
    ({"data_path": "/nonexistent/*.csv"}, "no input files match"),
])
def test_config_problems_fail_before_the_job(tiny_encoder_dir, sentiment_csv, tmp_path, change,
                                             message):
    params = {"data_path": str(sentiment_csv), **change}
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_preprocess(DataConfig(**params), tiny_encoder_dir, str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_runs_in_process_and_leaves_no_temp_files(tiny_encoder_dir, tmp_path, monkeypatch):
    """No ``--runner``: Beam's in-process runner, never Prism (a binary Beam's DirectRunner
    would fetch from GitHub at run time), and nothing left in TMPDIR."""
    import tempfile

    from apache_beam.runners.portability import prism_runner

    tried = []
    monkeypatch.setattr(prism_runner.PrismRunner, "run_pipeline",
                        lambda self, *a, **k: tried.append(a) or (_ for _ in ()).throw(
                            RuntimeError("no Prism here")))
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    path = write_csv(tmp_path / "rows.csv", sentiment_rows(40))
    result = run_preprocess(DataConfig(data_path=str(path), max_seq_length=16), tiny_encoder_dir,
                            str(tmp_path / "out"))
    assert sum(v["count"] for v in result.metadata["splits"].values()) == 40
    assert tried == []
    assert sorted(p.name for p in temp.iterdir()) == []


def test_an_explicit_runner_is_beams_choice():
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner

    from components.preprocess.runner import default_runner

    assert isinstance(default_runner(PipelineOptions([])), FnApiRunner)
    assert default_runner(PipelineOptions(["--runner=DirectRunner"])) is None
