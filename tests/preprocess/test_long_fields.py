"""Long documents are data, not errors: a field of any length up to ``max_field_chars`` (1 MiB
by default) is read, tokenized and truncated like any other; only a row over the cap is a
dead letter, and its reason names the cap and the option."""

from __future__ import annotations

import io
import json

import pytest

from components.config import ConfigError, DataConfig
from components.preprocess.pipeline import run_preprocess
from components.preprocess.rows import DEFAULT_MAX_FIELD_CHARS, iter_records, read_header
from fixtures import sentiment_rows, write_csv

LONG = "An absorbing, wonderful film. " * 6_667  # 200,010 characters: over csv's 131,072


def _records(text: str, name: str = "rows.csv", **kwargs) -> list[dict]:
    return list(iter_records(name, io.BytesIO(text.encode("utf-8")), **kwargs))


def test_the_default_cap_is_at_least_one_mebibyte():
    assert DataConfig().max_field_chars == DEFAULT_MAX_FIELD_CHARS >= 1_048_576


@pytest.mark.parametrize("name", ["rows.csv", "rows.tsv"])
def test_a_200k_character_field_is_a_row(name):
    sep = "\t" if name.endswith(".tsv") else ","
    (record,) = _records(f'text{sep}label\n"{LONG}"{sep}pos\n', name)
    assert record["row"] == {"text": LONG, "label": "pos"}


def test_a_field_over_the_cap_is_a_dead_letter_naming_the_cap_and_option():
    big = "x" * 1_100_000
    records = _records(f"text,label\nshort,pos\n{big},neg\nafter,pos\n")
    assert [r.get("row", {}).get("text") for r in records] == ["short", None, "after"]
    dead = records[1]
    assert dead["line"] == 3 and len(dead["raw"]) <= 2000
    # csv's own limit (process-wide, at least the cap + 1) may stop the record before its
    # column is known; either way the reason names the cap and the option.
    assert dead["error"] in (
        "a field is over max_field_chars (1,048,576 characters): raise --max-field-chars to "
        "read such rows",
        "field 'text' has 1,100,000 characters, over max_field_chars (1,048,576 characters): "
        "raise --max-field-chars to read such rows")
    (jsonl_dead,) = _records(json.dumps({"text": big, "label": "neg"}) + "\n", "rows.jsonl")
    assert jsonl_dead["error"] == ("field 'text' has 1,100,000 characters, over "
                                   "max_field_chars (1,048,576 characters): raise "
                                   "--max-field-chars to read such rows")


def test_a_smaller_cap_applies_to_csv_and_jsonl_alike():
    csv_records = _records(f'text,label\n"{LONG}",pos\nok,neg\n', max_field_chars=1000)
    jsonl = json.dumps({"text": LONG, "label": "pos"}) + "\n" + json.dumps(
        {"text": "ok", "label": "neg"}) + "\n"
    jsonl_records = _records(jsonl, "rows.jsonl", max_field_chars=1000)
    # csv's process-wide limit (131,072 unless an earlier job raised it) may stop the long
    # record before its column and size are known: the cap's wording is the same either way.
    for records in (csv_records, jsonl_records):
        assert "over max_field_chars (1,000 characters): raise" in records[0]["error"]
        assert records[1]["row"]["text"] == "ok"
    assert jsonl_records[0]["error"].startswith("field 'text' has 200,010 characters")


def test_a_field_over_csvs_process_limit_is_reported_as_the_cap():
    import csv

    huge = "y" * (csv.field_size_limit() + 10)
    records = _records(f"text,label\n{huge},pos\nok,neg\n", max_field_chars=100)
    assert "over max_field_chars (100 characters)" in records[0]["error"]
    assert records[-1]["row"] == {"text": "ok", "label": "neg"}


def test_jsonl_header_comes_from_a_long_first_line():
    line = json.dumps({"text": LONG, "label": "pos", "group": "g1"})
    assert read_header("rows.jsonl", io.BytesIO((line + "\n").encode())) == [
        "text", "label", "group"]


def test_the_cap_is_validated():
    with pytest.raises(ConfigError, match=r"max_field_chars must be in \[1, "):
        DataConfig(max_field_chars=0)


@pytest.mark.slow
def test_the_job_tokenizes_and_truncates_a_long_review(tiny_encoder_dir, tmp_path):
    """The real Beam job: the 200,010-character review becomes a normal example cut to
    max_seq_length; a row over a 300,000-character cap is the only dead letter."""
    import tensorflow as tf

    rows = sentiment_rows(20, seed=1)
    rows.append({"text": LONG, "label": "pos", "group": "long"})
    rows.append({"text": "z" * 400_000, "label": "neg", "group": "huge"})
    data = write_csv(tmp_path / "long.csv", rows)
    result = run_preprocess(DataConfig(data_path=str(data), split_key_column="group",
                                       max_seq_length=32, max_field_chars=300_000),
                            tiny_encoder_dir, str(tmp_path / "out"))
    prepared = result.examples
    kept = sum(split.count for split in prepared.splits.values())
    assert kept == 21 and prepared.dead_letter.count == 1 and prepared.rows_read == 22
    (dead,) = [json.loads(line) for line in (tmp_path / "out" / prepared.dead_letter.path)
               .read_text().splitlines()]
    assert dead["line"] == 23 and "over max_field_chars (300,000 characters)" in dead["error"]
    found = []
    for split in prepared.splits:
        files = tf.io.gfile.glob(result.split_pattern(split))
        for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
            example = tf.train.Example.FromString(record.numpy())
            if example.features.feature["text"].bytes_list.value[0].decode() == LONG:
                found.append(list(example.features.feature["input_mask"].int64_list.value))
    assert found == [[1] * 32]  # the whole window used: truncated, not dropped
