"""The evaluate step: score the eval (and test) split and gather what the report shows.

One ``evaluation.json`` carries everything downstream needs: metrics per split (and per slice),
the worst confident mistakes, the training curves and freezing table written by the train
step, and the data statistics of the preprocess step. The report, the Markdown summary, the
KFP metrics, the quality gate and the model card all read that one dict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from components.encoders.hub_export import INPUT_NAMES
from components.evaluate.metrics import classification_metrics
from components.storage import read_json_if_exists
from components.train.data import feature_spec
from components.train.trainer import load_trained_model, read_metadata

EVALUATION_FILE = "evaluation.json"
MISTAKES = 20
MIN_SLICE_EXAMPLES = 1


@dataclass
class SplitPredictions:
    """A split's labels and probabilities in file order, with the raw texts and slice values."""

    labels: np.ndarray
    probabilities: np.ndarray
    texts: list[str]
    text_pairs: list[str]
    slices: list[str]


def _parse_spec(max_seq_length: int) -> dict[str, tf.io.FixedLenFeature]:
    """The training features plus the raw texts and slice value (empty when absent)."""
    spec = feature_spec(max_seq_length)
    for name in ("text", "text_pair", "slice"):
        spec[name] = tf.io.FixedLenFeature([], tf.string, default_value="")
    return spec


def predict_split(model, pattern: str, max_seq_length: int, compression: str | None,
                  batch_size: int = 128) -> SplitPredictions:
    """Scores every example of a split (in file order) with the Keras model."""
    files = sorted(tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no TFRecord files match {pattern}")
    spec = _parse_spec(max_seq_length)
    ds = tf.data.TFRecordDataset(files, compression_type=compression or "").batch(batch_size)
    ds = ds.map(lambda s: tf.io.parse_example(s, spec)).prefetch(tf.data.AUTOTUNE)
    labels, probs, texts, pairs, slices = [], [], [], [], []
    for batch in ds:
        features = {name: tf.cast(batch[name], tf.int32) for name in INPUT_NAMES}
        probs.append(tf.nn.softmax(model(features, training=False), axis=-1).numpy())
        labels.append(batch["label"].numpy()[:, 0])
        for out, name in ((texts, "text"), (pairs, "text_pair"), (slices, "slice")):
            out.extend(v.decode("utf-8") for v in batch[name].numpy())
    return SplitPredictions(np.concatenate(labels), np.concatenate(probs).astype(np.float64),
                            texts, pairs, slices)


def slice_metrics(pred: SplitPredictions, label_names: list[str]) -> dict[str, dict[str, Any]]:
    """Headline metrics per slice value, largest slices first."""
    values: dict[str, list[int]] = {}
    for i, value in enumerate(pred.slices):
        values.setdefault(value, []).append(i)
    out = {}
    for value, idx in sorted(values.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        if len(idx) < MIN_SLICE_EXAMPLES:
            continue
        m = classification_metrics(pred.labels[idx], pred.probabilities[idx], label_names)
        out[value] = {k: m[k] for k in ("examples", "accuracy", "macro_f1", "log_loss")}
    return out


def worst_mistakes(pred: SplitPredictions, label_names: list[str],
                   limit: int = MISTAKES) -> list[dict[str, Any]]:
    """Wrong predictions, most confident first: what to look at before trusting the model."""
    predicted = pred.probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != pred.labels)
    confidence = pred.probabilities[wrong, predicted[wrong]]
    rows = []
    for i in wrong[np.argsort(-confidence, kind="stable")][:limit]:
        row = {"text": pred.texts[i], "true": label_names[pred.labels[i]],
               "predicted": label_names[predicted[i]],
               "probability": float(pred.probabilities[i, predicted[i]])}
        if pred.text_pairs[i]:
            row["text_pair"] = pred.text_pairs[i]
        rows.append(row)
    return rows


def run_evaluate(train_dir: str, preprocess_dir: str) -> dict[str, Any]:
    """Metrics of the eval split (and the test split when it has rows), slices, mistakes,
    training history, freezing table and data statistics of a train step's output folder."""
    metadata = read_metadata(preprocess_dir)
    train_dir = train_dir.rstrip("/")
    model = load_trained_model(f"{train_dir}/model")
    label_names = list(metadata["labels"])
    if not metadata["splits"]["eval"]["count"]:
        raise ValueError("the eval split is empty: raise eval_fraction or add rows")
    result: dict[str, Any] = {"labels": label_names, "splits": {}, "slices": {}}
    slice_column = metadata["columns"].get("slice")
    for split in ("eval", "test"):
        info = metadata["splits"].get(split)
        if not info or not info["count"]:
            continue
        pred = predict_split(model, info["pattern"], int(metadata["max_seq_length"]),
                             metadata.get("compression"))
        metrics = classification_metrics(pred.labels, pred.probabilities, label_names)
        metrics["split"] = split
        result["splits"][split] = metrics
        if slice_column:
            result["slices"][split] = {"column": slice_column,
                                       "values": slice_metrics(pred, label_names)}
        if split == "eval":
            result["mistakes"] = worst_mistakes(pred, label_names)
    result["history"] = read_json_if_exists(f"{train_dir}/history.json") or {}
    freeze = read_json_if_exists(f"{train_dir}/freeze.json") or {}
    result["training"] = {k: freeze.get(k) for k in ("freeze", "table", "trainable_params",
                                                     "total_params", "global_batch_size",
                                                     "replicas", "config")}
    result["data"] = {k: metadata.get(k) for k in ("splits", "stats", "rows_read",
                                                   "dead_letter", "columns", "tokenizer",
                                                   "max_seq_length")}
    return result


def write_evaluation(result: dict[str, Any], output_dir: str) -> str:
    """Writes ``output_dir/evaluation.json``; returns its path."""
    tf.io.gfile.makedirs(output_dir)
    path = f"{output_dir.rstrip('/')}/{EVALUATION_FILE}"
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(result, f, indent=2)
    return path


def read_evaluation(path: str) -> dict[str, Any]:
    """Reads ``evaluation.json`` from its folder (the ``evaluation`` artifact) or its path."""
    path = path.rstrip("/")
    if not path.endswith(".json"):
        path = f"{path}/{EVALUATION_FILE}"
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)
