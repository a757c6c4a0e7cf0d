"""The preprocess job's core, ``EncodeRows`` + ``SummarizeSplits``, as a Beam composite on
in-memory records: Beam's ``TestPipeline`` and ``assert_that``, no files, no encoder export."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from tensorflow.core.example import example_pb2

from components.config import DataConfig
from components.preprocess.pipeline import EncodeRows, SummarizeSplits, split_of
from components.preprocess.runner import default_runner

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "good", "bad", "film", "movie", "."]


def _records() -> list[dict]:
    rows = [("a good film .", "pos", "k1"), ("a bad film .", "neg", "k2"),
            ("good movie", "pos", "k3"), ("bad movie", "neg", "k4"), ("", "pos", "k5"),
            ("a film", "", "k6")]
    records = [{"source": "mem.csv", "line": i + 2, "row": {"text": t, "label": l, "key": k}}
               for i, (t, l, k) in enumerate(rows)]
    records.append({"source": "mem.csv", "line": 9, "error": "malformed CSV: x", "raw": ""})
    return records


def _label_of(serialized: bytes) -> int:
    example = example_pb2.Example.FromString(serialized)
    return example.features.feature["label"].int64_list.value[0]


def test_encode_rows_splits_labels_and_dead_letters(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(VOCAB) + "\n")
    data = DataConfig(data_path="mem.csv", split_key_column="key", eval_fraction=0.5,
                      max_seq_length=8)
    splits = {k: split_of(k, 0.5) for k in ("k1", "k2", "k3", "k4")}
    labels = {"k1": 1, "k2": 0, "k3": 1, "k4": 0}
    records = _records()
    # The job's own runner: Beam's default would try to fetch the Prism binary from GitHub.
    with TestPipeline(runner=default_runner(PipelineOptions())) as p:
        # lists as ReadRows emits them; every row of the second rejected
        out = (p | beam.Create([records[:4], records[4:]])
               | EncodeRows(data, str(vocab), do_lower_case=True))
        assert_that(out["labels"], equal_to([["neg", "pos"]]), label="Labels")
        assert_that(out["dead_letter"] | beam.Map(lambda r: (r["line"], r["error"])),
                    equal_to([(6, "missing or empty text column 'text'"),
                              (7, "missing or empty label column 'label'"),
                              (9, "malformed CSV: x")]), label="Dead")
        for split in ("train", "eval"):
            wanted = sorted(labels[k] for k, s in splits.items() if s == split)
            assert_that(out[split] | f"Label{split}" >> beam.FlatMap(
                            lambda batch: [_label_of(payload) for _, payload in batch]),
                        equal_to(wanted), label=f"Examples{split}")
        counts = (out["summary"] | SummarizeSplits(data.max_seq_length))["counts"]
        expected = {}
        for key, split in splits.items():
            name = f"{split}\t{'pos' if labels[key] else 'neg'}"
            expected[name] = expected.get(name, 0) + 1
        assert_that(counts, equal_to(sorted(expected.items())), label="Counts")
