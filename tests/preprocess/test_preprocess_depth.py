"""Preprocessing on messy input: every dead-letter kind, pairs, Parquet, splits, runners."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from components.config import DataConfig
from components.contracts import EncoderInfo
from components.preprocess.pipeline import TooManyRejected, run_preprocess, split_of
from components.text.wordpiece import WordPieceEncoder
from fixtures import sentiment_rows, write_csv


def examples(result, split: str) -> list[tf.train.Example]:
    files = sorted(tf.io.gfile.glob(result.split_pattern(split)))
    return [tf.train.Example.FromString(r.numpy())
            for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def ints(example, name):
    return list(example.features.feature[name].int64_list.value)


def text_of(example, name="text"):
    return example.features.feature[name].bytes_list.value[0].decode()


@pytest.fixture()
def messy_dir(tmp_path) -> Path:
    """A folder with a CSV and a JSONL file: 40 good rows and one row of each bad kind."""
    folder = tmp_path / "messy"
    rows = sentiment_rows(30)
    write_csv(folder / "a.csv", rows)
    with open(folder / "a.csv", "ab") as f:
        f.write(b',pos,g1\n')                          # line 32: empty text
        f.write(b'"No label here.",,g1\n')            # line 33: empty label
        f.write(b'"Odd label.",meh,g1\n')             # line 34: unknown label (vocab given)
        f.write(b'"Too, many",pos,g1,extra\n')        # line 35: wrong number of columns
        f.write(b'"bad \xff\xfe bytes",neg,g2\n')     # line 36: undecodable bytes
    good_json = [{"text": f"Json review {i}: superb and moving.", "label": "pos", "group": "j"}
                 for i in range(10)]
    lines = [json.dumps(r) for r in good_json[:5]] + ['{"text": "broken", "label": ']
    lines += [json.dumps(r) for r in good_json[5:]] + [json.dumps({"label": "neg", "group": "j"})]
    (folder / "b.jsonl").write_text("\n".join(lines) + "\n")
    return folder


EXPECTED_DEAD = [
    ("a.csv", 32, "missing or empty text column 'text'"),
    ("a.csv", 33, "missing or empty label column 'label'"),
    ("a.csv", 34, "unknown label 'meh' (label_vocab: neg,pos)"),
    ("a.csv", 35, "wrong number of columns: 4 (header has 3)"),
    ("a.csv", 36, "undecodable bytes (not UTF-8)"),
    ("b.jsonl", 6, "malformed JSON"),
    ("b.jsonl", 12, "missing or empty text column 'text'"),
]


def test_each_bad_row_is_a_dead_letter_with_its_reason(tiny_encoder_dir, messy_dir, tmp_path):
    data = DataConfig(data_path=str(messy_dir), label_vocab="neg,pos", split_key_column="group",
                      max_rejected_fraction=0.3, max_seq_length=24)
    result = run_preprocess(data, tiny_encoder_dir, str(tmp_path / "out"))
    dead = [json.loads(x) for x in (tmp_path / "out" / "dead_letter.jsonl").read_text().splitlines()]
    got = sorted((Path(d["source"]).name, d["line"], d["error"]) for d in dead)
    assert [(s, n) for s, n, _ in got] == [(s, n) for s, n, _ in EXPECTED_DEAD]
    for (_, _, reason), (_, _, expected) in zip(got, EXPECTED_DEAD):
        assert reason.startswith(expected)
    meta = result.metadata
    assert meta["rows_read"] == 47 and meta["dead_letter"]["count"] == 7
    assert sum(meta["splits"][s]["count"] for s in ("train", "eval", "test")) == 40
    texts = {text_of(e) for s in ("train", "eval") for e in examples(result, s)}
    assert len(texts) == 40 and "Json review 9: superb and moving." in texts


def test_too_many_rejected_fails_with_one_line(tiny_encoder_dir, messy_dir, tmp_path):
    data = DataConfig(data_path=str(messy_dir), label_vocab="neg,pos", max_seq_length=24)
    with pytest.raises(TooManyRejected) as err:
        run_preprocess(data, tiny_encoder_dir, str(tmp_path / "out"))
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("7 of 47 rows rejected (14.9% > max_rejected_fraction 10%)")
    assert message.endswith(f"see {tmp_path / 'out'}/dead_letter.jsonl")
    assert (tmp_path / "out" / "dead_letter.jsonl").exists()


def test_inline_pairs_int_labels_and_parquet(tiny_encoder_dir, tmp_path):
    rows = [{"text": f"A man plays guitar {i}. ||| Someone makes music {i}.", "label": [0, 2, 10][i % 3],
             "id": i} for i in range(30)]
    path = tmp_path / "pairs.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    data = DataConfig(data_path=str(path), text_pair_separator="|||", split_key_column="id",
                      max_seq_length=24, gzip=True)
    result = run_preprocess(data, tiny_encoder_dir, str(tmp_path / "out"))
    assert result.metadata["labels"] == ["0", "2", "10"]  # numeric order
    info = EncoderInfo.load(tiny_encoder_dir)
    encoder = WordPieceEncoder(info.vocab_file, True, 24)
    seen = 0
    for split in ("train", "eval"):
        for ex in examples(result, split):
            a, b = text_of(ex), text_of(ex, "text_pair")
            expected = encoder.encode([a], [b])
            assert ints(ex, "input_word_ids") == expected["input_word_ids"][0].tolist()
            assert ints(ex, "input_type_ids") == expected["input_type_ids"][0].tolist()
            seen += 1
    assert seen == 30


def test_three_way_split_keeps_groups_whole(tiny_encoder_dir, sentiment_csv, tmp_path):
    data = DataConfig(data_path=str(sentiment_csv), split_key_column="group", eval_fraction=0.2,
                      test_fraction=0.2, max_seq_length=32)
    result = run_preprocess(data, tiny_encoder_dir, str(tmp_path / "out"))
    rows = {r["text"]: r["group"] for r in sentiment_rows(600)}
    groups = {s: {rows[text_of(e)] for e in examples(result, s)} for s in ("train", "eval", "test")}
    assert all(groups.values())
    assert not (groups["train"] & groups["eval"] or groups["train"] & groups["test"]
                or groups["eval"] & groups["test"])
    for split, members in groups.items():
        assert all(split_of(g, 0.2, 0.2) == split for g in members)
    # Keyed by the text instead, related rows straddle the splits.
    by_text = run_preprocess(DataConfig(data_path=str(sentiment_csv), eval_fraction=0.2,
                                        test_fraction=0.2, max_seq_length=32),
                             tiny_encoder_dir, str(tmp_path / "by_text"))
    text_groups = {s: {rows[text_of(e)] for e in examples(by_text, s)} for s in ("train", "eval")}
    assert text_groups["train"] & text_groups["eval"]
    stats = result.metadata["stats"]
    for split in ("train", "eval", "test"):
        s = stats[split]
        assert s["rows"] == result.metadata["splits"][split]["count"]
        assert sum(b["rows"] for b in s["length_histogram"]) == s["rows"]
        assert 0 <= s["truncation_rate"] <= 1 and 0 <= s["unk_rate"] < 0.05


@pytest.mark.slow
def test_multiprocess_runner_gives_identical_bytes(tiny_encoder_dir, sentiment_csv, tmp_path):
    def run(name: str, options: str):
        data = DataConfig(data_path=str(sentiment_csv), split_key_column="group",
                          max_seq_length=32, num_shards=3, beam_options=options)
        return run_preprocess(data, tiny_encoder_dir, str(tmp_path / name))

    one = run("one", "")
    two = run("two", "--direct_num_workers=2 --direct_running_mode=multi_processing")
    names = sorted(p.name for p in (tmp_path / "one" / "train").iterdir())
    assert names == [f"part-0000{i}-of-00003.tfrecord.gz" for i in range(3)]
    for split in ("train", "eval"):
        for name in sorted(p.name for p in (tmp_path / "one" / split).iterdir()):
            assert (tmp_path / "one" / split / name).read_bytes() == \
                (tmp_path / "two" / split / name).read_bytes()
    assert (tmp_path / "one" / "metadata.json").read_bytes() == \
        (tmp_path / "two" / "metadata.json").read_bytes()
    assert not any(p.name.startswith(".") for p in (tmp_path / "one").rglob("*"))
    assert one.metadata["splits"] == two.metadata["splits"]
