"""Inference latency and throughput of the exported model, against the trained Keras model.

One run builds a real bertpipe model (all-MiniLM-L6-v2, ``last:2`` frozen, preprocessed from a
sample of the built-in Rotten Tomatoes rows, trained briefly), exports it with
``components.export.serving.export_model``, and times on real eval-split examples:

* ``keras_eager``: ``model(inputs, training=False)`` on the loaded Keras model, the way the
  Keras docs advise for small batches (``predict()`` is for large batches);
* ``keras_function``: the same model wrapped once in ``tf.function`` (graph execution, no
  per-layer Python) -- the better-configured Keras use; the baseline is the faster of the two;
* ``keras_predict`` (batch 64 only): ``model.predict_on_batch``, Keras' batch API;
* ``serving_ids``: the serving SavedModel's ``from_ids`` signature (token ids in);
* ``serving_text``: its ``serving_default`` signature (raw strings in, tokenized in the graph);
* ``frozen``: the frozen GraphDef through ``load_frozen_graph`` (plain TensorFlow);
* ``frozen_trimmed`` (only when the frozen graph accepts ids of any length): the same, fed ids
  cut to the batch's longest real length instead of padded to max_seq_length;
* with ``--xla``, for information: ``keras_function_xla`` and ``frozen_xla`` (``jit_compile``).

Batch 1: warm-up calls, then ``--iterations`` timed calls per variant, interleaved in rounds
(the variants' order rotates each round) so that drift affects all alike; p50/p95 in ms.
Batch 64: examples/s over ``--batches`` timed batches per variant, also interleaved. Every call
includes fetching the output to NumPy. Before timing, all variants' probabilities are checked
against the Keras model's (max abs difference <= 1e-5).

    .venv/bin/python benchmarks/inference.py [--seq-len 128] [--iterations 300] [--threads 2]
                                             [--batches 10] [--xla] [--workdir DIR]

The last output line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import importlib
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import components  # noqa: E402,F401  (TF_USE_LEGACY_KERAS before TensorFlow)

BATCH = 64
TOLERANCE = 1e-5
GOAL = 0.8  # frozen graph batch-1 p50 <= 0.8x the Keras model's


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def sample_rows(source: Path, rows: int, dest: Path) -> int:
    """Every k-th row of the CSV, so that many films (split keys) are represented."""
    with open(source, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header, body = next(reader), list(reader)
    step = max(1, len(body) // rows)
    picked = body[::step][:rows]
    with open(dest, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(picked)
    return len(picked)


def build_model(work: Path, seq_len: int, rows: int, train_examples: int) -> dict:
    """Import, preprocess, train (``last:2``, 1 epoch) and export: a real bertpipe model."""
    from components.config import DataConfig, TrainConfig
    from components.encoders.sources import import_encoder
    from components.export.serving import export_model
    from components.preprocess.datasets import materialize_rotten_tomatoes
    from components.preprocess.pipeline import run_preprocess
    from components.train.trainer import run_train

    encoder_dir = str(work / "encoder")
    import_encoder("minilm-l6", Path(encoder_dir))
    csv_path = work / "rows.csv"
    n = sample_rows(materialize_rotten_tomatoes(), rows, csv_path)
    data = DataConfig(data_path=str(csv_path), split_key_column="movie_name",
                      eval_fraction=0.25, max_seq_length=seq_len)
    pre = run_preprocess(data, encoder_dir, str(work / "preprocessed"))
    cfg = TrainConfig(freeze="last:2", pooling="mean", epochs=1, batch_size=16,
                      learning_rate=2e-4, max_train_examples=train_examples)
    trained = run_train(cfg, encoder_dir, pre.output_dir, str(work / "trained"), verbose=0)
    paths = export_model(trained.model_dir, encoder_dir, pre.examples, str(work / "exported"))
    return {"rows": n, "preprocessed": pre, "model_dir": trained.model_dir, **paths}


def eval_examples(pre, seq_len: int) -> tuple[dict, list[str]]:
    """The eval split's ids (int32 arrays) and raw texts, in file order."""
    import numpy as np
    import tensorflow as tf

    from components.contracts import ENCODER_INPUTS
    from components.contracts import example_feature_spec

    spec = {**example_feature_spec(seq_len), "text": tf.io.FixedLenFeature([], tf.string)}
    files = sorted(tf.io.gfile.glob(pre.split_pattern("eval")))
    ds = tf.data.TFRecordDataset(files, compression_type=pre.examples.compression or "")
    ids = {name: [] for name in ENCODER_INPUTS}
    texts = []
    for parsed in ds.batch(1024).map(lambda s: tf.io.parse_example(s, spec)):
        for name in ENCODER_INPUTS:
            ids[name].append(parsed[name].numpy().astype(np.int32))
        texts.extend(t.decode("utf-8") for t in parsed["text"].numpy())
    return {k: np.concatenate(v) for k, v in ids.items()}, texts


def any_length(frozen_graph: str) -> bool:
    """Whether the frozen graph's id inputs accept any sequence length ([batch, None])."""
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    with tf.io.gfile.GFile(frozen_graph, "rb") as f:
        graph_def.ParseFromString(f.read())
    node = next(n for n in graph_def.node if n.name == "input_word_ids")
    dims = node.attr["shape"].shape.dim
    return len(dims) == 2 and dims[1].size < 0


def xla_frozen(frozen_graph: str):
    """The frozen graph imported as ``load_frozen_graph`` does, compiled with XLA."""
    import tensorflow as tf

    from components.contracts import ENCODER_INPUTS

    graph_def = tf.compat.v1.GraphDef()
    with tf.io.gfile.GFile(frozen_graph, "rb") as f:
        graph_def.ParseFromString(f.read())
    wrapped = tf.compat.v1.wrap_function(
        lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
    graph = wrapped.graph
    pruned = wrapped.prune([graph.get_tensor_by_name(f"{n}:0") for n in ENCODER_INPUTS],
                           graph.get_tensor_by_name("probabilities:0"))
    return tf.function(lambda x: pruned(*(x[n] for n in ENCODER_INPUTS)), jit_compile=True)


def make_variants(model, serving, frozen, built: dict, xla: bool) -> dict:
    """name -> (kind of input, call returning the probabilities or logits as NumPy).

    Kinds: ``ids`` (padded to max_seq_length), ``text`` (raw strings), ``ids_trimmed`` (ids
    cut to the longest real length in the batch: only for a frozen graph that accepts it).
    """
    import tensorflow as tf

    model_fn = tf.function(model)
    from_ids = serving.signatures["from_ids"]
    serve_text = serving.signatures["serving_default"]
    variants = {
        "keras_eager": ("ids", lambda x: model(x, training=False).numpy()),
        "keras_function": ("ids", lambda x: model_fn(x, training=False).numpy()),
        "serving_ids": ("ids", lambda x: from_ids(**x)["probabilities"].numpy()),
        "serving_text": ("text", lambda t: serve_text(text=t)["probabilities"].numpy()),
        "frozen": ("ids", lambda x: frozen(**x)["probabilities"].numpy()),
    }
    if any_length(built["frozen_graph"]):
        variants["frozen_trimmed"] = ("ids_trimmed",
                                      lambda x: frozen(**x)["probabilities"].numpy())
    if xla:
        model_xla = tf.function(model, jit_compile=True)
        frozen_jit = xla_frozen(built["frozen_graph"])
        variants["keras_function_xla"] = ("ids", lambda x: model_xla(x, training=False).numpy())
        variants["frozen_xla"] = ("ids", lambda x: frozen_jit(x).numpy())
    return variants


def id_inputs(ids: dict, rows, trimmed: bool) -> dict:
    """The rows' ids as int32 tensors, cut to their longest real length when ``trimmed``."""
    import tensorflow as tf

    width = int(ids["input_mask"][rows].sum(axis=1).max()) if trimmed else None
    return {k: tf.constant(v[rows][:, :width]) for k, v in ids.items()}


def check_agreement(variants: dict, ids: dict, texts: list[str]) -> dict[str, float]:
    """Max abs difference of each variant's probabilities from the eager Keras model's, on the
    whole eval split at once and on its first 8 examples one by one."""
    import numpy as np
    import tensorflow as tf

    def inputs(kind, lo, hi):
        if kind == "text":
            return tf.constant(texts[lo:hi])
        return id_inputs(ids, slice(lo, hi), kind == "ids_trimmed")

    def probs(name, lo, hi):
        kind, call = variants[name]
        out = call(inputs(kind, lo, hi))
        return tf.nn.softmax(out).numpy() if name.startswith("keras") else out

    n = len(texts)
    spans = [(0, n)] + [(i, i + 1) for i in range(min(8, n))]
    reference = {span: probs("keras_eager", *span) for span in spans}
    return {name: max(float(np.abs(probs(name, *span) - reference[span]).max())
                      for span in spans) for name in variants}


def timed_rounds(variants: dict, make_input, count: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per call for each variant; each round calls every variant once, in an order
    that rotates from round to round, on the same example."""
    names = list(variants)
    for i in range(warmup):
        for name in names:
            kind, call = variants[name]
            call(make_input(kind, i))
    times = {name: [] for name in names}
    for i in range(count):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            kind, call = variants[name]
            x = make_input(kind, i)
            start = time.perf_counter()
            call(x)
            times[name].append(time.perf_counter() - start)
    return times


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclasses.dataclass
class Results:
    """What the summary needs, gathered while the work dir (removed afterwards) still exists."""

    eval_examples: int
    mean_tokens: float
    diffs: dict[str, float]
    agree: bool
    b1_stats: dict[str, dict[str, float]]
    b64_eps: dict[str, float]
    loadavg: tuple[float, float]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=300,
                        help="timed batch-1 calls per variant")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--batches", type=int, default=10, help="timed batch-64 calls per variant")
    parser.add_argument("--threads", type=int, default=2,
                        help="TensorFlow intra- and inter-op threads")
    parser.add_argument("--rows", type=int, default=600, help="rows sampled for the model")
    parser.add_argument("--train-examples", type=int, default=128)
    parser.add_argument("--xla", action="store_true",
                        help="also time the Keras model and the frozen graph under XLA "
                             "(jit_compile; for information, not in the headline ratio)")
    parser.add_argument("--workdir", default="", help="keep the model here (default: a temp dir)")
    return parser.parse_args()


def setup_tensorflow(threads: int) -> None:
    """Fix the thread pools before TensorFlow runs any op, and import the model loaders now so
    that ``built_s`` does not include their import time."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    importlib.import_module("components.export.serving")
    importlib.import_module("components.model.classifier")


def make_workdir(workdir: str) -> Path:
    """A temp dir unless ``--workdir`` asks to keep the model."""
    work = Path(workdir or tempfile.mkdtemp(prefix="bertpipe-infer-"))
    work.mkdir(parents=True, exist_ok=True)
    return work


def prepare(args: argparse.Namespace, work: Path) -> tuple[dict, dict, list[str]]:
    """Build the model and load the eval split; report the build time and the inputs' size,
    since both bear on how the timings read."""
    start = time.perf_counter()
    built = build_model(work, args.seq_len, args.rows, args.train_examples)
    ids, texts = eval_examples(built["preprocessed"], args.seq_len)
    tokens = ids["input_mask"].sum(axis=1)
    print(json.dumps({"built_s": round(time.perf_counter() - start, 1), "rows": built["rows"],
                      "eval_examples": len(texts), "mean_tokens": round(float(tokens.mean()), 1),
                      "max_tokens": int(tokens.max())}), flush=True)
    return built, ids, texts


def load_variants(built: dict, xla: bool) -> tuple[Any, dict]:
    """The Keras model (also needed for ``keras_predict``) and every variant to time."""
    import tensorflow as tf

    from components.export.serving import load_frozen_graph
    from components.model.classifier import load_classifier

    model = load_classifier(built["model_dir"])
    serving = tf.saved_model.load(built["serving_model"])
    frozen = load_frozen_graph(built["frozen_graph"])
    return model, make_variants(model, serving, frozen, built, xla)


def verify_agreement(variants: dict, ids: dict, texts: list[str]) -> tuple[dict[str, float], bool]:
    """Timing variants that compute something else would be meaningless: stop if any
    disagrees with the Keras model."""
    diffs = check_agreement(variants, ids, texts)
    agree = all(d <= TOLERANCE for d in diffs.values())
    print(json.dumps({"max_abs_prob_diff_vs_keras": diffs, "agree": agree}), flush=True)
    if not agree:
        raise SystemExit(f"outputs disagree by more than {TOLERANCE}: {diffs}")
    return diffs, agree


def batches_of(ids: dict, texts: list[str], size: int) -> list[dict]:
    """Inputs of every kind for consecutive eval rows (wrapping around), built once so that
    building them is not timed."""
    import numpy as np
    import tensorflow as tf

    n = len(texts)
    count = max(1, -(-n // size))
    out = []
    for j in range(count):
        rows = np.arange(j * size, (j + 1) * size) % n
        out.append({"ids": id_inputs(ids, rows, False),
                    "ids_trimmed": id_inputs(ids, rows, True),
                    "text": tf.constant([texts[r] for r in rows])})
    return out


def time_batch1(variants: dict, ids: dict, texts: list[str], iterations: int,
                warmup: int) -> dict[str, dict[str, float]]:
    """Latency (p50/p95 ms) per variant at batch 1, the serving case the goal is about."""
    ones = batches_of(ids, texts, 1)
    b1 = timed_rounds(variants, lambda kind, i: ones[i % len(ones)][kind], iterations, warmup)
    b1_stats = {name: {"p50_ms": 1e3 * percentile(t, 0.5), "p95_ms": 1e3 * percentile(t, 0.95)}
                for name, t in b1.items()}
    for name, st in b1_stats.items():
        print(json.dumps({"batch": 1, "variant": name, "calls": len(b1[name]),
                          **{k: round(v, 3) for k, v in st.items()}}), flush=True)
    return b1_stats


def time_batch64(variants: dict, model: Any, ids: dict, texts: list[str],
                 batches: int) -> dict[str, float]:
    """Throughput (examples/s) per variant at batch 64, where Keras' ``predict_on_batch`` also
    competes for the baseline."""
    many = batches_of(ids, texts, BATCH)
    b64_variants = dict(variants)
    b64_variants["keras_predict"] = ("ids", lambda x: model.predict_on_batch(x))
    b64 = timed_rounds(b64_variants, lambda kind, j: many[j % len(many)][kind], batches, 2)
    b64_eps = {name: BATCH * len(t) / sum(t) for name, t in b64.items()}
    for name, eps in b64_eps.items():
        print(json.dumps({"batch": BATCH, "variant": name, "batches": len(b64[name]),
                          "examples_per_s": round(eps, 2),
                          "median_batch_ms": round(1e3 * statistics.median(b64[name]), 2)}),
              flush=True)
    return b64_eps


def run_benchmark(args: argparse.Namespace, work: Path) -> Results:
    """Everything that needs the model files, in the order the figures depend on."""
    built, ids, texts = prepare(args, work)
    model, variants = load_variants(built, args.xla)
    diffs, agree = verify_agreement(variants, ids, texts)
    load_before = os.getloadavg()[0]
    b1_stats = time_batch1(variants, ids, texts, args.iterations, args.warmup)
    b64_eps = time_batch64(variants, model, ids, texts, args.batches)
    load_after = os.getloadavg()[0]
    return Results(eval_examples=len(texts),
                   mean_tokens=float(ids["input_mask"].sum(axis=1).mean()),
                   diffs=diffs, agree=agree, b1_stats=b1_stats, b64_eps=b64_eps,
                   loadavg=(load_before, load_after))


def summarize(args: argparse.Namespace, res: Results) -> dict:
    """The final JSON object. The baseline is the faster Keras use: eager ``__call__`` or the
    ``tf.function``-wrapped model (and ``predict_on_batch`` at batch 64)."""
    import tensorflow as tf

    b1_stats, b64_eps = res.b1_stats, res.b64_eps
    keras_b1 = min(("keras_eager", "keras_function"), key=lambda v: b1_stats[v]["p50_ms"])
    keras_b64 = max(("keras_eager", "keras_function", "keras_predict"), key=b64_eps.get)
    keras_p50 = b1_stats[keras_b1]["p50_ms"]
    ratio = b1_stats["frozen"]["p50_ms"] / keras_p50
    summary = {
        "benchmark": "inference", "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "cpu": cpu_model(), "tensorflow": tf.__version__, "threads": args.threads,
        "seq_len": args.seq_len, "iterations": args.iterations, "batches": args.batches,
        "loadavg_1m": [round(load, 2) for load in res.loadavg],  # other work on the cores
        "eval_examples": res.eval_examples, "mean_tokens": round(res.mean_tokens, 1),
        "max_abs_prob_diff": max(res.diffs.values()), "outputs_agree": res.agree,
        "keras_b1_variant": keras_b1,
        "keras_b1_p50_ms": round(keras_p50, 3),
        "keras_b1_p95_ms": round(b1_stats[keras_b1]["p95_ms"], 3),
    }
    for name, st in b1_stats.items():
        summary[f"{name}_b1_p50_ms"] = round(st["p50_ms"], 3)
        summary[f"{name}_b1_p95_ms"] = round(st["p95_ms"], 3)
    summary.update({
        "frozen_vs_keras_b1": round(ratio, 3),
        "frozen_vs_keras_eager_b1": round(
            b1_stats["frozen"]["p50_ms"] / b1_stats["keras_eager"]["p50_ms"], 3),
        "goal_b1": GOAL, "goal_met": ratio <= GOAL,
    })
    if "frozen_trimmed" in b1_stats:
        summary["frozen_trimmed_vs_keras_b1"] = round(
            b1_stats["frozen_trimmed"]["p50_ms"] / keras_p50, 3)
    if args.xla:
        summary["frozen_xla_vs_keras_b1"] = round(b1_stats["frozen_xla"]["p50_ms"] / keras_p50, 3)
        summary["frozen_xla_vs_keras_xla_b1"] = round(
            b1_stats["frozen_xla"]["p50_ms"] / b1_stats["keras_function_xla"]["p50_ms"], 3)
    summary["keras_b64_variant"] = keras_b64
    for name, eps in b64_eps.items():
        summary[f"{name}_b64_examples_per_s"] = round(eps, 2)
    summary["frozen_vs_keras_b64"] = round(b64_eps["frozen"] / b64_eps[keras_b64], 3)
    return summary


def main() -> None:
    args = parse_args()
    setup_tensorflow(args.threads)
    work = make_workdir(args.workdir)
    try:
        results = run_benchmark(args, work)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(summarize(args, results)))


if __name__ == "__main__":
    main()
