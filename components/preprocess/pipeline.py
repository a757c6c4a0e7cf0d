"""The preprocess step: raw rows -> WordPiece-encoded ``tf.train.Example`` TFRecords, with Beam.

    result = run_preprocess(DataConfig(data_path="reviews.csv"), encoder_dir, "out/")

Reads CSV/TSV/JSONL/Parquet (a file, a glob or a folder; local or ``gs://``) through Beam's
filesystems, builds (or checks) the label vocabulary in the job, tokenizes in batches with the
encoder's own vocab and casing (loaded once per worker in ``DoFn.setup``), splits
train/eval(/test) by a stable hash of the split-key column, and writes with Beam's file sinks:

    out/train/part-00000-of-00001.tfrecord.gz   sharded tf.train.Example records
    out/eval/... out/test/...
    out/dead_letter.jsonl                       rejected rows: source, line, error, raw
    out/metadata.json                           labels, counts, tokenizer, stats, settings

Records are assigned to shards and ordered within each shard by a hash of their content, so
the same rows always give byte-identical files, wherever they are read from and whatever the
runner's bundling. Rows travel in batches of up to ``ROWS_PER_BATCH`` (one Beam element per
batch, and per shard when writing): Beam's per-element cost is paid per batch, not per row.
Any Beam runner works: ``data.beam_options`` holds standard Beam pipeline flags.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import itertools
import json
import logging
import math
import os
import shlex
import shutil
import struct
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import apache_beam as beam
import numpy as np
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.options.value_provider import StaticValueProvider

from components.config import DataConfig
from components.contracts import (ENCODER_INPUTS, Columns, DeadLetters, EncoderInfo,
                                  PreparedExamples, SplitInfo, TokenizerInfo)
from components.errors import ConfigError
from components.pinned_wheels import sha256_of
from components.preprocess.datasets import resolve_data_path
from components.preprocess.examples import serialize_examples
from components.preprocess.rows import DEFAULT_MAX_FIELD_CHARS, iter_records, read_header
from components.preprocess.runner import default_runner
from components.preprocess.stats import SplitStats
from components.text.wordpiece import MAX_CHARS_PER_WORD

SPLITS = ("train", "eval", "test")
DEAD = "dead_letter"
ROWS_PER_AUTO_SHARD = 20_000
ROWS_PER_BATCH = 2048  # rows per Beam element from parsing to encoding (one tokenizer call)
SINK_TEMP = ".beam-temp"
log = logging.getLogger("bertpipe.preprocess")


class TooManyRejected(RuntimeError):
    """More rows were rejected than ``max_rejected_fraction`` allows."""


@dataclasses.dataclass(frozen=True)
class PreprocessResult:
    output_dir: str
    examples: PreparedExamples

    @property
    def metadata(self) -> dict[str, Any]:
        """``metadata.json`` as written (the contract's fields)."""
        return self.examples.to_dict()

    def split_pattern(self, split: str) -> str:
        return self.examples.pattern(split)


def _fraction(key: str) -> float:
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2.0**64


def split_of(key: str, eval_fraction: float, test_fraction: float = 0.0) -> str:
    """Deterministic split: the first 8 bytes of sha256(key) as a fraction of 2**64."""
    bucket = _fraction(key)
    if bucket < eval_fraction:
        return "eval"
    return "test" if bucket < eval_fraction + test_fraction else "train"


def sort_labels(labels: list[str]) -> list[str]:
    """Numeric order when every label is an integer, else lexicographic."""
    try:
        return sorted(labels, key=int)
    except ValueError:
        return sorted(labels)


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
    # The job's own options (credentials, project...) apply to these reads too.
    FileSystems.set_options(PipelineOptions(shlex.split(data.beam_options)))
    pattern = resolve_data_path(data.data_path)
    files = _expand_inputs(pattern)
    if not files:
        raise ConfigError(f"no input files match data_path {data.data_path!r}")
    wanted = [c for c in (data.text_column, data.text_pair_column, data.label_column,
                          data.effective_split_key, data.slice_column) if c]
    for path in files:
        try:
            with FileSystems.open(path) as f:
                columns = read_header(path, f)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        missing = [c for c in dict.fromkeys(wanted) if c not in columns]
        if missing:
            raise ConfigError(f"{path}: missing column(s) {', '.join(missing)}; "
                              f"found {', '.join(columns) or 'none'}")
    return files


class ReadRows(beam.PTransform):
    """File paths -> lists of up to ``ROWS_PER_BATCH`` row and error records (see
    ``rows.iter_records``)."""

    def __init__(self, files: list[str], max_field_chars: int = DEFAULT_MAX_FIELD_CHARS):
        super().__init__()
        self._files, self._max_field_chars = files, max_field_chars

    def expand(self, pbegin):
        return (pbegin
                | "ListFiles" >> beam.Create(self._files)
                | "Match" >> fileio.MatchAll()
                | "Open" >> fileio.ReadMatches()
                | "Parse" >> beam.ParDo(ParseFile(self._max_field_chars)))


class Progress:
    """A running row count for long local runs: a Beam counter, and a log line every 5 s."""

    EVERY_S = 5.0

    def __init__(self, what: str):
        self.what, self.total, self._pending = what, 0, 0
        self._last = time.monotonic()
        self._counter = beam.metrics.Metrics.counter("bertpipe", f"rows_{what}")

    def add(self, n: int = 1) -> None:
        self.total += n
        self._pending += n
        if time.monotonic() - self._last >= self.EVERY_S:
            self._last = time.monotonic()
            log.warning("preprocess: %s %d rows so far (this worker)", self.what, self.total)

    def flush(self) -> None:
        self._counter.inc(self._pending)
        self._pending = 0


class ParseFile(beam.DoFn):
    """One file -> its records (see ``rows.iter_records``) in lists of up to
    ``ROWS_PER_BATCH``, counting rows read."""

    def __init__(self, max_field_chars: int = DEFAULT_MAX_FIELD_CHARS):
        super().__init__()
        self.max_field_chars = max_field_chars

    def setup(self) -> None:
        self._progress = Progress("read")

    def process(self, readable) -> Iterator[list[dict[str, Any]]]:
        records = iter_records(readable.metadata.path, readable.open(), self.max_field_chars)
        while batch := list(itertools.islice(records, ROWS_PER_BATCH)):
            self._progress.add(len(batch))
            yield batch

    def finish_bundle(self) -> None:
        self._progress.flush()


def _dead(record: dict[str, Any], reason: str) -> dict[str, Any]:
    return {"source": record["source"], "line": record["line"], "error": reason,
            "raw": json.dumps(record["row"], ensure_ascii=False, default=str)[:2000]}


def check_row(data: DataConfig, labels: set[str], row: dict[str, Any]
              ) -> str | tuple[str, str | None, str, str]:
    """A parsed row -> ``(text, text_pair, label, split key)``, or why it is rejected."""
    text = row.get(data.text_column)
    if text is None or not str(text).strip():
        return f"missing or empty text column {data.text_column!r}"
    text, pair = str(text), None
    if data.text_pair_column:
        pair = row.get(data.text_pair_column)
        if pair is None:
            return f"missing text pair column {data.text_pair_column!r}"
        pair = str(pair)
    elif data.text_pair_separator:
        if data.text_pair_separator not in text:
            return f"no {data.text_pair_separator!r} between the two sentences"
        text, pair = text.split(data.text_pair_separator, 1)
    label = row.get(data.label_column)
    label = "" if label is None else str(label).strip()
    if not label:
        return f"missing or empty label column {data.label_column!r}"
    if labels and label not in labels:
        return f"unknown label {label!r} (label_vocab: {data.label_vocab})"
    key = row.get(data.effective_split_key)
    return text, pair, label, text if key is None else str(key)


class ValidateRows(beam.DoFn):
    """A list of records -> one column batch of the usable rows with their split and order
    (main output: ``{"split", "order", "text", "text_pair", "label"[, "slice"]: [...]}``),
    and a dead letter (tagged output) per rejected row."""

    def __init__(self, data: DataConfig):
        self._data = data
        self._labels = set(data.labels)

    def process(self, records: list[dict[str, Any]]) -> Iterator[Any]:
        data = self._data
        columns = ("split", "order", "text", "text_pair", "label") + (
            ("slice",) if data.slice_column else ())
        batch: dict[str, list] = {name: [] for name in columns}
        splits: dict[str, str] = {}  # split keys repeat (groups): hash each once per batch
        for record in records:
            if "error" in record:
                yield beam.pvalue.TaggedOutput(DEAD, record)
                continue
            row = record["row"]
            checked = check_row(data, self._labels, row)
            if isinstance(checked, str):
                yield beam.pvalue.TaggedOutput(DEAD, _dead(record, checked))
                continue
            text, pair, label, key = checked
            split = splits.get(key)
            if split is None:
                split = splits[key] = split_of(key, data.eval_fraction, data.test_fraction)
            batch["split"].append(split)
            # Content, not file position: moving or renaming the input keeps the output identical.
            batch["order"].append(hashlib.sha256(
                json.dumps([text, pair, label, key]).encode()).hexdigest())
            batch["text"].append(text)
            batch["text_pair"].append(pair)
            batch["label"].append(label)
            if data.slice_column:
                value = row.get(data.slice_column)
                batch["slice"].append("" if value is None else str(value))
        if batch["text"]:
            yield batch


SUMMARY = "summary"


class EncodeBatch(beam.DoFn):
    """Tokenizes a column batch of rows (from ``ValidateRows``).

    Main output, tagged by split: one list of ``(order, serialized tf.train.Example)`` per
    split and batch. Tagged ``summary``: one ``(split, label counts, [(length, truncated,
    unknown), ...])`` per split and batch, so counting and statistics cost one element per
    batch, not per row.
    """

    def __init__(self, vocab_file: str, do_lower_case: bool, max_seq_length: int):
        self._vocab_file = vocab_file
        self._do_lower_case = do_lower_case
        self._max_seq_length = max_seq_length
        self._encoder = None

    def setup(self) -> None:
        from components.text.wordpiece import WordPieceEncoder

        self._encoder = WordPieceEncoder(self._vocab_file, self._do_lower_case,
                                         self._max_seq_length)
        self._progress = Progress("encoded")

    def finish_bundle(self) -> None:
        self._progress.flush()

    def process(self, batch: dict[str, list], labels: list[str]) -> Iterator[Any]:
        index = {label: i for i, label in enumerate(labels)}
        pairs = batch["text_pair"] if batch["text_pair"][0] is not None else None
        features, lengths, truncated, unknown = self._encoder.encode_with_stats(
            batch["text"], pairs)
        ints = {name: features[name] for name in ENCODER_INPUTS}
        ints["label"] = np.asarray([index[label] for label in batch["label"]],
                                   np.int64)[:, np.newaxis]
        texts = {"text": batch["text"], "text_pair": pairs, "slice": batch.get("slice")}
        payloads = serialize_examples(ints, {name: [t.encode("utf-8") for t in values]
                                             for name, values in texts.items()
                                             if values is not None})
        rows = zip(lengths.tolist(), truncated.tolist(), unknown.tolist())
        outputs: dict[str, tuple[list, dict[str, int], list]] = {}
        for split, order, payload, label, row in zip(batch["split"], batch["order"], payloads,
                                                     batch["label"], rows):
            records, counts, stats = outputs.setdefault(split, ([], {}, []))
            records.append((order, payload))
            counts[label] = counts.get(label, 0) + 1
            stats.append(row)
        for split, (records, counts, stats) in outputs.items():
            yield beam.pvalue.TaggedOutput(split, records)
            yield beam.pvalue.TaggedOutput(SUMMARY, (split, counts, stats))
        self._progress.add(len(payloads))


def _masked_crc32c(data: bytes) -> int:
    import google_crc32c

    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord_frame(payload: bytes) -> bytes:
    """One TFRecord: little-endian uint64 length, its masked CRC-32C, the payload, the
    payload's masked CRC-32C (the format ``tf.data.TFRecordDataset`` reads)."""
    length = struct.pack("<Q", len(payload))
    return (length + struct.pack("<I", _masked_crc32c(length)) + payload
            + struct.pack("<I", _masked_crc32c(payload)))


class TFRecordSink(fileio.FileSink):
    """Writes the payloads of ``(shard name, [payload, ...])`` elements with TFRecord framing,
    optionally GZIP with a fixed header (no file name, no mtime: reproducible bytes)."""

    def __init__(self, compress: bool):
        self._compress = compress

    def open(self, fh):
        self._fh = gzip.GzipFile(filename="", fileobj=fh, mode="wb", mtime=0) if self._compress else fh

    def write(self, record: tuple[str, list[bytes]]) -> None:
        self._fh.write(b"".join(map(tfrecord_frame, record[1])))

    def flush(self) -> None:
        if self._compress:
            self._fh.close()  # finishes the gzip stream; Beam closes the underlying file
        else:
            self._fh.flush()


class WriteSplit(beam.PTransform):
    """Lists of ``(order, bytes)`` of one split -> ``out/<split>/part-NNNNN-of-MMMMM<suffix>``.

    The shard is chosen by ``order`` and each shard's records are written sorted by it, so the
    bytes do not depend on how the runner bundled or batched the elements. Each shard is one
    element from the grouping on, and is written by one ``write`` call."""

    def __init__(self, directory: str, suffix: str, compress: bool, num_shards: int,
                 temp_directory: str, row_count):
        super().__init__()
        self._directory, self._suffix, self._temp = directory, suffix, temp_directory
        self._compress, self._num_shards = compress, num_shards
        self._row_count = row_count  # a one-element PCollection: this split's rows

    def expand(self, records):
        fixed = self._num_shards

        def count_to_shards(count: int) -> int:
            return fixed or max(1, math.ceil(count / ROWS_PER_AUTO_SHARD))

        shards = self._row_count | "Shards" >> beam.Map(count_to_shards)

        def assign(records, n):
            shards: dict[int, list] = {}
            for record in records:
                shards.setdefault(int(record[0][:8], 16) % n, []).append(record)
            for shard, items in shards.items():
                yield f"part-{shard:05d}-of-{n:05d}", items

        def sorted_shard(kv):
            name, lists = kv
            return name, [payload for _, payload in sorted(itertools.chain.from_iterable(lists))]

        suffix = self._suffix

        def naming(window, pane, shard_index, total_shards, compression, destination):
            return f"{destination}{f'.{shard_index}' if shard_index else ''}{suffix}"

        return (records
                | "Assign" >> beam.FlatMap(assign, n=beam.pvalue.AsSingleton(shards))
                | "Group" >> beam.GroupByKey()
                | "Sort" >> beam.Map(sorted_shard)
                | "Write" >> fileio.WriteToFiles(
                    path=self._directory, destination=lambda kv: kv[0],
                    sink=lambda dest: TFRecordSink(self._compress), file_naming=naming,
                    temp_directory=StaticValueProvider(str, self._temp),
                    # Spilled records would lose their order: keep every shard's writer open.
                    max_writers_per_bundle=10_000))


def _write_json_lines(pcoll, path: str, label: str):
    return (pcoll
            | f"{label}Json" >> beam.Map(lambda x: json.dumps(x, sort_keys=True, ensure_ascii=False))
            | f"{label}Write" >> beam.io.WriteToText(path, shard_name_template="", num_shards=1))


class EncodeRows(beam.PTransform):
    """Lists of row records (as ``ReadRows`` gives) -> encoded examples per split, with what
    the metadata needs: the core of the job, runner- and I/O-free (tested with
    ``TestPipeline`` and ``assert_that``).

    Returns a dict of PCollections: ``train``/``eval``/``test`` (lists of ``(order,
    serialized tf.train.Example)``, one per input list), ``summary`` (per split and batch:
    label counts and per-row length, truncation and [UNK] figures), ``labels`` (the one label
    list) and ``dead_letter`` (one element per rejected row).
    """

    def __init__(self, data: DataConfig, vocab_file: str, do_lower_case: bool):
        super().__init__()
        self._data, self._vocab_file, self._do_lower_case = data, vocab_file, do_lower_case

    def expand(self, records):
        data = self._data
        validated = records | "Validate" >> beam.ParDo(ValidateRows(data)).with_outputs(
            DEAD, main="ok")
        rows = validated.ok
        if data.labels:
            labels = records.pipeline | "GivenLabels" >> beam.Create([data.labels])
        else:
            labels = (rows
                      | "Labels" >> beam.FlatMap(lambda batch: sorted(set(batch["label"])))
                      | "DistinctLabels" >> beam.Distinct()
                      | "LabelList" >> beam.combiners.ToList()
                      | "SortLabels" >> beam.Map(sort_labels))
        encoded = (rows
                   | "Tokenize" >> beam.ParDo(
                       EncodeBatch(self._vocab_file, self._do_lower_case, data.max_seq_length),
                       labels=beam.pvalue.AsSingleton(labels)).with_outputs(SUMMARY, *SPLITS))
        return {**{split: encoded[split] for split in SPLITS}, SUMMARY: encoded[SUMMARY],
                "labels": labels, DEAD: validated[DEAD]}


class SummarizeSplits(beam.PTransform):
    """The ``summary`` output of ``EncodeRows`` -> ``counts`` (``("split\tlabel", n)``) and
    ``stats`` (``(split, SplitStats result)``)."""

    def __init__(self, max_seq_length: int):
        super().__init__()
        self._max_seq_length = max_seq_length

    def expand(self, summary):
        counts = (summary
                  | "CountKey" >> beam.FlatMap(
                      lambda x: ((f"{x[0]}\t{label}", n) for label, n in x[1].items()))
                  | "Count" >> beam.CombinePerKey(sum))
        stats = (summary
                 | "StatsKey" >> beam.Map(lambda x: (x[0], x[2]))
                 | "Stats" >> beam.CombinePerKey(SplitStats(self._max_seq_length)))
        return {"counts": counts, "stats": stats}


def run_preprocess(data: DataConfig, encoder_dir: str, output_dir: str) -> PreprocessResult:
    """Runs the Beam job and writes ``metadata.json`` (``PreparedExamples``); returns it.

    Raises ``TooManyRejected`` (after writing everything, dead letters included) when the
    rejected share exceeds ``data.max_rejected_fraction``.
    """
    files = validate_inputs(data)
    info = EncoderInfo.load(encoder_dir)
    if data.max_seq_length > info.max_position_embeddings:
        raise ConfigError(f"max_seq_length={data.max_seq_length} exceeds the encoder's "
                          f"{info.max_position_embeddings} positions")
    out = output_dir.rstrip("/")
    if not FileSystems.exists(out):
        FileSystems.mkdirs(out)
    suffix = ".tfrecord.gz" if data.gzip else ".tfrecord"
    options = PipelineOptions(shlex.split(data.beam_options))
    logging.getLogger("apache_beam").setLevel(logging.WARNING)

    with beam.Pipeline(runner=default_runner(options), options=options) as p:
        encoded = (p | "Read" >> ReadRows(files, data.max_field_chars)
                   | "Encode" >> EncodeRows(data, info.vocab_file, info.do_lower_case))
        summary = encoded[SUMMARY]
        for split in SPLITS:
            row_count = (summary
                         | f"Rows{split}" >> beam.Map(
                             lambda x, s=split: sum(x[1].values()) if x[0] == s else 0)
                         | f"Total{split}" >> beam.CombineGlobally(sum))
            (encoded[split]
             | f"Write{split}" >> WriteSplit(f"{out}/{split}", suffix, data.gzip, data.num_shards,
                                             f"{out}/{SINK_TEMP}/{split}", row_count))
        summarized = summary | "Summarize" >> SummarizeSplits(data.max_seq_length)
        _write_json_lines(summarized["counts"], f"{out}/counts.jsonl", "Counts")
        _write_json_lines(summarized["stats"], f"{out}/stats.jsonl", "Stats")
        _write_json_lines(encoded["labels"], f"{out}/labels.json", "Labels")
        _write_json_lines(encoded[DEAD], f"{out}/{DEAD}.jsonl", "Dead")

    _remove_sink_temp_dir(out)
    examples = _assemble_metadata(data, info, out, suffix, files)
    # Through Beam's filesystems (they honour the job's options and GCS settings), in the
    # contract's own serialization; last, and under a temporary name renamed into place, so
    # that a job killed at any point leaves no metadata.json a later step takes for complete.
    final = PreparedExamples.path_in(out)
    partial = f"{final}.tmp-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    with FileSystems.create(partial) as f:
        f.write(examples.to_json().encode("utf-8"))
    if FileSystems.exists(final):
        FileSystems.delete([final])
    FileSystems.rename([partial], [final])
    rejected, total = examples.dead_letter.count, examples.rows_read
    if total and rejected / total > data.max_rejected_fraction:
        raise TooManyRejected(
            f"{rejected} of {total} rows rejected ({100.0 * rejected / total:.1f}% > "
            f"max_rejected_fraction {100.0 * data.max_rejected_fraction:g}%); "
            f"see {out}/{examples.dead_letter.path}")
    return PreprocessResult(output_dir=out, examples=examples)


def _remove_sink_temp_dir(out: str) -> None:
    """fileio.WriteToFiles moves its finished files but leaves its empty temp folders behind
    (on a local disk; object stores such as GCS have no empty folders to leave)."""
    if "://" not in out:
        shutil.rmtree(f"{out}/{SINK_TEMP}", ignore_errors=True)


def _read_lines(path: str) -> list[str]:
    with FileSystems.open(path) as f:
        return [line for line in f.read().decode("utf-8").splitlines() if line]


def _assemble_metadata(data: DataConfig, info: EncoderInfo, out: str, suffix: str,
                       files: list[str]) -> PreparedExamples:
    labels = json.loads((_read_lines(f"{out}/labels.json") or ["[]"])[0])
    # Paths are relative to the output folder, so the metadata stays true when it is moved.
    per_label: dict[str, dict[str, int]] = {s: {} for s in SPLITS}
    for line in _read_lines(f"{out}/counts.jsonl"):
        key, count = json.loads(line)
        split, label = key.split("\t", 1)
        per_label[split][label] = count
    splits = {s: SplitInfo(pattern=f"{s}/part-*{suffix}", count=sum(per_label[s].values()),
                           per_label=per_label[s]) for s in SPLITS}
    stats = {split: value for split, value in map(json.loads, _read_lines(f"{out}/stats.jsonl"))}
    dead_count = len(_read_lines(f"{out}/{DEAD}.jsonl"))
    written = sum(s.count for s in splits.values())
    return PreparedExamples(
        labels=labels, splits=splits, stats=stats, rows_read=written + dead_count,
        dead_letter=DeadLetters(path=f"{DEAD}.jsonl", count=dead_count), inputs=files,
        columns=Columns(text=data.text_column, text_pair=data.text_pair_column or None,
                        text_pair_separator=data.text_pair_separator or None,
                        label=data.label_column, split_key=data.effective_split_key,
                        slice=data.slice_column or None),
        eval_fraction=data.eval_fraction, test_fraction=data.test_fraction,
        max_seq_length=data.max_seq_length, compression="GZIP" if data.gzip else None,
        tokenizer=TokenizerInfo(
            vocab_sha256=sha256_of(Path(info.vocab_file)), do_lower_case=info.do_lower_case,
            encoder_source=info.source, max_chars_per_word=MAX_CHARS_PER_WORD,
            pair_truncation="longest_first",
            normalization="bert (clean text, strip accents when lower-casing)"),
        root=out)
