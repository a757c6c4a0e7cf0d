"""The preprocess step: raw rows -> WordPiece-encoded ``tf.train.Example`` TFRecords, with Beam.

    result = run_preprocess(DataConfig(data_path="reviews.csv"), encoder_dir, "out/")

Reads CSV/TSV/JSONL through Beam's filesystems (local or ``gs://``), builds the label vocabulary
in the job, tokenizes in batches with the encoder's own vocab and casing (loaded once per worker
in ``DoFn.setup``), splits train/eval by a stable hash of the split-key column, and writes sharded
(optionally GZIP) TFRecords, ``metadata.json`` and a ``dead_letter.jsonl`` of rejected rows.
Any Beam runner works: ``data.beam_options`` holds standard Beam pipeline flags.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shlex
from pathlib import Path
from typing import Any, Iterator

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from components.config import ConfigError, DataConfig
from components.encoders.info import read_encoder_info
from components.preprocess.datasets import resolve_data_path
from components.preprocess.rows import iter_records, read_header
from components.pinned_wheels import sha256_of

SPLITS = ("train", "eval")
DEAD = "dead_letter"
FEATURES = ("input_word_ids", "input_mask", "input_type_ids")


@dataclasses.dataclass(frozen=True)
class PreprocessResult:
    output_dir: str
    metadata: dict[str, Any]

    def split_pattern(self, split: str) -> str:
        return self.metadata["splits"][split]["pattern"]


def split_of(key: str, eval_fraction: float) -> str:
    """Deterministic split: the first 8 bytes of sha256(key) as a fraction of 2**64."""
    bucket = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2.0**64
    return "eval" if bucket < eval_fraction else "train"


def _expand_inputs(pattern: str) -> list[str]:
    """Files named by a path, a glob or a folder (local or any Beam filesystem), sorted."""
    for candidate in (pattern, pattern.rstrip("/") + "/*"):
        try:
            matched = [m.path for m in FileSystems.match([candidate])[0].metadata_list]
        except Exception:  # Beam raises BeamIOError for "no match" on some filesystems
            matched = []
        files = [f for f in matched if not os.path.isdir(f)
                 and not f.rstrip("/").rsplit("/", 1)[-1].startswith(".")]
        if files:
            return sorted(files)
    return []


def validate_inputs(data: DataConfig) -> list[str]:
    """Cheap checks before the job starts: files exist, columns exist. Returns the file list."""
    pattern = resolve_data_path(data.data_path)
    files = _expand_inputs(pattern)
    if not files:
        raise ConfigError(f"no input files match data_path {data.data_path!r}")
    wanted = [c for c in (data.text_column, data.text_pair_column, data.label_column,
                          data.effective_split_key) if c]
    for path in files:
        try:
            with FileSystems.open(path) as f:
                head = f.read(1 << 16)
            columns = read_header(path, head)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        missing = [c for c in dict.fromkeys(wanted) if c not in columns]
        if missing:
            raise ConfigError(f"{path}: missing column(s) {', '.join(missing)}; "
                              f"found {', '.join(columns) or 'none'}")
    return files


class ReadRows(beam.PTransform):
    """File paths -> row records and error records (see ``rows.iter_records``)."""

    def __init__(self, files: list[str]):
        super().__init__()
        self._files = files

    def expand(self, pbegin):
        return (pbegin
                | "ListFiles" >> beam.Create(self._files)
                | "Match" >> fileio.MatchAll()
                | "Open" >> fileio.ReadMatches()
                | "Parse" >> beam.FlatMap(lambda f: iter_records(f.metadata.path, f.read())))


class ValidateRow(beam.DoFn):
    """Keeps usable rows as ``(split, record)``; routes the rest to the dead-letter output."""

    def __init__(self, data: DataConfig):
        self._data = data

    def process(self, record: dict[str, Any]) -> Iterator[Any]:
        data = self._data
        if "error" in record:
            yield beam.pvalue.TaggedOutput(DEAD, record)
            return
        row = record["row"]

        def dead(reason: str):
            return beam.pvalue.TaggedOutput(DEAD, {"source": record["source"], "line": record["line"],
                                                   "error": reason, "raw": json.dumps(row)})

        text = row.get(data.text_column)
        if text is None or not str(text).strip():
            yield dead(f"missing or empty text column {data.text_column!r}")
            return
        pair = None
        if data.text_pair_column:
            pair = row.get(data.text_pair_column)
            if pair is None:
                yield dead(f"missing text pair column {data.text_pair_column!r}")
                return
        label = row.get(data.label_column)
        if label is None or not str(label).strip():
            yield dead(f"missing or empty label column {data.label_column!r}")
            return
        key = row.get(data.effective_split_key)
        key = str(text) if key is None else str(key)
        yield (split_of(key, data.eval_fraction),
               {"text": str(text), "text_pair": None if pair is None else str(pair),
                "label": str(label).strip()})


class EncodeBatch(beam.DoFn):
    """Tokenizes a batch of ``(split, record)`` and yields ``(split, label, serialized Example)``."""

    def __init__(self, vocab_file: str, do_lower_case: bool, max_seq_length: int):
        self._vocab_file = vocab_file
        self._do_lower_case = do_lower_case
        self._max_seq_length = max_seq_length
        self._encoder = None

    def setup(self) -> None:
        from components.preprocess.tokenizer import WordPieceEncoder

        self._encoder = WordPieceEncoder(self._vocab_file, self._do_lower_case,
                                         self._max_seq_length)

    def process(self, batch: list[tuple[str, dict]], labels: list[str]) -> Iterator[tuple]:
        import tensorflow as tf

        index = {label: i for i, label in enumerate(labels)}
        records = [r for _, r in batch]
        has_pair = records[0]["text_pair"] is not None
        features = self._encoder.encode([r["text"] for r in records],
                                        [r["text_pair"] for r in records] if has_pair else None)
        for i, (split, record) in enumerate(batch):
            feature = {name: tf.train.Feature(int64_list=tf.train.Int64List(value=features[name][i]))
                       for name in FEATURES}
            feature["label"] = tf.train.Feature(
                int64_list=tf.train.Int64List(value=[index[record["label"]]]))
            feature["text"] = tf.train.Feature(
                bytes_list=tf.train.BytesList(value=[record["text"].encode("utf-8")]))
            if has_pair:
                feature["text_pair"] = tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[record["text_pair"].encode("utf-8")]))
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            yield split, record["label"], example.SerializeToString(deterministic=True)


def _write_json(pcoll, path: str, label: str):
    return (pcoll
            | f"{label}Json" >> beam.Map(lambda x: json.dumps(x, sort_keys=True))
            | f"{label}Write" >> beam.io.WriteToText(path, shard_name_template="",
                                                     num_shards=1))


def run_preprocess(data: DataConfig, encoder_dir: str, output_dir: str) -> PreprocessResult:
    """Runs the Beam job and writes ``metadata.json``; returns the paths and counts."""
    files = validate_inputs(data)
    info = read_encoder_info(encoder_dir)
    if data.max_seq_length > info.max_position_embeddings:
        raise ConfigError(f"max_seq_length={data.max_seq_length} exceeds the encoder's "
                          f"{info.max_position_embeddings} positions")
    out = output_dir.rstrip("/")
    FileSystems.mkdirs(out) if not FileSystems.exists(out) else None
    suffix = ".tfrecord.gz" if data.gzip else ".tfrecord"
    compression = "gzip" if data.gzip else "uncompressed"
    options = PipelineOptions(shlex.split(data.beam_options))
    logging.getLogger("apache_beam").setLevel(logging.WARNING)

    with beam.Pipeline(options=options) as p:
        validated = (p
                     | "Read" >> ReadRows(files)
                     | "Validate" >> beam.ParDo(ValidateRow(data)).with_outputs(DEAD, main="ok"))
        rows, dead = validated.ok, validated[DEAD]
        labels = (rows
                  | "Labels" >> beam.Map(lambda kv: kv[1]["label"])
                  | "DistinctLabels" >> beam.Distinct()
                  | "LabelList" >> beam.combiners.ToList()
                  | "SortLabels" >> beam.Map(sorted))
        encoded = (rows
                   | "Batch" >> beam.BatchElements(min_batch_size=64, max_batch_size=512)
                   | "Tokenize" >> beam.ParDo(
                       EncodeBatch(info.vocab_file, info.do_lower_case, data.max_seq_length),
                       labels=beam.pvalue.AsSingleton(labels)))
        for split in SPLITS:
            (encoded
             | f"Only{split}" >> beam.Filter(lambda x, s=split: x[0] == s)
             | f"Bytes{split}" >> beam.Map(lambda x: x[2])
             | f"Write{split}" >> beam.io.WriteToTFRecord(
                 f"{out}/{split}/part", file_name_suffix=suffix, num_shards=data.num_shards,
                 compression_type=compression))
        counts = (encoded
                  | "CountKey" >> beam.Map(lambda x: (f"{x[0]}\t{x[1]}", 1))
                  | "Count" >> beam.CombinePerKey(sum))
        _write_json(counts, f"{out}/counts.jsonl", "Counts")
        _write_json(labels, f"{out}/labels.json", "Labels")
        _write_json(dead, f"{out}/{DEAD}.jsonl", "Dead")

    metadata = _assemble_metadata(data, info, out, suffix, files)
    with FileSystems.create(f"{out}/metadata.json") as f:
        f.write(json.dumps(metadata, indent=2, sort_keys=True).encode("utf-8"))
    return PreprocessResult(output_dir=out, metadata=metadata)


def _read_text(path: str) -> str:
    with FileSystems.open(path) as f:
        return f.read().decode("utf-8")


def _assemble_metadata(data: DataConfig, info, out: str, suffix: str,
                       files: list[str]) -> dict[str, Any]:
    labels = json.loads(_read_text(f"{out}/labels.json") or "[]")
    splits: dict[str, Any] = {s: {"pattern": f"{out}/{s}/part-*{suffix}", "count": 0,
                                  "per_label": {}} for s in SPLITS}
    for line in _read_text(f"{out}/counts.jsonl").splitlines():
        key, count = json.loads(line)
        split, label = key.split("\t", 1)
        splits[split]["per_label"][label] = count
        splits[split]["count"] += count
    dead_lines = [ln for ln in _read_text(f"{out}/{DEAD}.jsonl").splitlines() if ln]
    return {
        "labels": labels,
        "num_labels": len(labels),
        "splits": splits,
        "dead_letter": {"path": f"{out}/{DEAD}.jsonl", "count": len(dead_lines)},
        "inputs": files,
        "columns": {"text": data.text_column, "text_pair": data.text_pair_column or None,
                    "label": data.label_column, "split_key": data.effective_split_key},
        "eval_fraction": data.eval_fraction,
        "max_seq_length": data.max_seq_length,
        "compression": "GZIP" if data.gzip else None,
        "tokenizer": {"vocab_sha256": sha256_of(Path(info.vocab_file)),
                      "do_lower_case": info.do_lower_case, "encoder_source": info.source},
    }
