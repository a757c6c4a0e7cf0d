"""Throughput of the Beam preprocess job against a plain single-process script, same rows.

Baseline (what a careful engineer would write without Beam): read the CSV with the csv module,
tokenize with Hugging Face ``tokenizers`` (Rust, ``encode_batch``, all cores), build
``tf.train.Example`` records and write them with ``tf.io.TFRecordWriter`` (GZIP).
Ours: ``run_preprocess`` on the DirectRunner with 1 worker (in-process; ``--workers 1,2`` adds
2-worker multi-processing, slower on 2 cores), which also validates rows, splits, shards,
sorts and collects stats. Sizes: the Rotten Tomatoes snippets (12,808 rows) and a 10x
replicated copy. On a shared machine single runs are noisy, so the largest size runs baseline
and Beam interleaved ``--repeats`` times (baseline, beam, baseline, beam, ...) and the figures
are the medians; smaller sizes run once, for information.

    .venv/bin/python benchmarks/preprocess.py [--sizes 1,10] [--repeats 3] [--workers 1]

The last output line is one JSON object with the figures (``ratio``: median Beam rows/s over
median baseline rows/s on the largest size; ``runs``: every run of that size).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import components  # noqa: E402,F401
from components.config import DataConfig  # noqa: E402
from components.encoders.sources import import_encoder, resolve_hf_folder  # noqa: E402
from components.preprocess.datasets import materialize_rotten_tomatoes  # noqa: E402
from components.preprocess.pipeline import run_preprocess  # noqa: E402

MAX_LEN = 64


def replicate(source: Path, times: int, dest: Path) -> int:
    with open(source, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    with open(dest, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for _ in range(times):
            writer.writerows(body)
    return len(body) * times


def baseline(path: Path, out: Path) -> float:
    """Seconds for csv -> HF tokenizers encode_batch -> tf.train.Example -> TFRecordWriter."""
    import tensorflow as tf
    from tokenizers import Tokenizer

    start = time.perf_counter()
    tok = Tokenizer.from_file(str(resolve_hf_folder("minilm-l6") / "tokenizer.json"))
    tok.enable_truncation(MAX_LEN)
    tok.enable_padding(length=MAX_LEN)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    labels = {label: i for i, label in enumerate(sorted({r["label"] for r in rows}))}
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    with tf.io.TFRecordWriter(str(out), options) as writer:
        for i in range(0, len(rows), 1000):
            chunk = rows[i:i + 1000]
            for row, enc in zip(chunk, tok.encode_batch([r["text"] for r in chunk])):
                feature = {
                    "input_word_ids": tf.train.Feature(int64_list=tf.train.Int64List(value=enc.ids)),
                    "input_mask": tf.train.Feature(
                        int64_list=tf.train.Int64List(value=enc.attention_mask)),
                    "input_type_ids": tf.train.Feature(
                        int64_list=tf.train.Int64List(value=enc.type_ids)),
                    "label": tf.train.Feature(int64_list=tf.train.Int64List(
                        value=[labels[row["label"]]])),
                    "text": tf.train.Feature(bytes_list=tf.train.BytesList(
                        value=[row["text"].encode("utf-8")])),
                }
                writer.write(tf.train.Example(
                    features=tf.train.Features(feature=feature)).SerializeToString())
    return time.perf_counter() - start


def beam_job(path: Path, encoder_dir: str, out: Path, workers: int) -> float:
    options = ("" if workers == 1 else
               f"--direct_num_workers={workers} --direct_running_mode=multi_processing")
    data = DataConfig(data_path=str(path), split_key_column="movie_name", max_seq_length=MAX_LEN,
                      beam_options=options)
    start = time.perf_counter()
    run_preprocess(data, encoder_dir, str(out))
    return time.perf_counter() - start


def measure(data: Path, rows: int, encoder_dir: str, work: Path, repeats: int,
            workers: list[int]) -> tuple[dict, list[dict]]:
    """Baseline and Beam runs interleaved ``repeats`` times; the median rows/s of each."""
    runs = []
    for _ in range(repeats):
        base_s = baseline(data, work / f"baseline_{data.stem}.tfrecord.gz")
        run = {"baseline_rows_per_s": rows / base_s}
        for w in workers:
            out = work / f"beam_{data.stem}_w{w}"
            shutil.rmtree(out, ignore_errors=True)  # every run writes a fresh folder
            run[f"beam_{w}w_rows_per_s"] = rows / beam_job(data, encoder_dir, out, w)
        runs.append({key: round(value, 1) for key, value in run.items()})
    medians = {key: round(statistics.median(run[key] for run in runs), 1) for key in runs[0]}
    return medians, runs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1,10")
    parser.add_argument("--repeats", type=int, default=3, help="runs of the largest size")
    parser.add_argument("--workers", default="1", help="Beam worker counts, e.g. 1,2")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    workers = [int(x) for x in args.workers.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bertpipe-bench-"))
    try:
        encoder_dir = str(work / "encoder")
        import_encoder("minilm-l6", Path(encoder_dir))
        source = materialize_rotten_tomatoes()
        results = []
        for times in sizes:
            data = work / f"rt_x{times}.csv"
            rows = replicate(source, times, data)
            repeats = args.repeats if times == sizes[-1] else 1
            medians, runs = measure(data, rows, encoder_dir, work, repeats, workers)
            entry = {"size": f"{times}x", "rows": rows, "repeats": repeats, **medians}
            results.append(entry)
            print(json.dumps(entry), flush=True)
        big = results[-1]
        best = max(big[f"beam_{w}w_rows_per_s"] for w in workers)
        summary = {
            "benchmark": "preprocess", "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "python": platform.python_version(), "size": big["size"], "rows": big["rows"],
            "beam_rows_per_s": best,
            "baseline_rows_per_s": big["baseline_rows_per_s"],
            "ratio": round(best / big["baseline_rows_per_s"], 3),
            "runs": runs,
            "results": results,
        }
        print(json.dumps(summary))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
