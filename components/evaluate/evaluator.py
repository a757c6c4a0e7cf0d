"""The evaluate step: score the eval split with the trained model and compute metrics."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import tensorflow as tf

from components.evaluate.metrics import classification_metrics
from components.train.data import load_split
from components.train.trainer import load_trained_model, read_metadata


def predict_split(model, pattern: str, max_seq_length: int, compression: str | None,
                  batch_size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """(labels, probabilities) for every example of a split, in file order."""
    labels, probs = [], []
    for features, label in load_split(pattern, max_seq_length, batch_size, compression):
        probs.append(tf.nn.softmax(model(features, training=False), axis=-1).numpy())
        labels.append(label.numpy())
    return np.concatenate(labels), np.concatenate(probs)


def run_evaluate(model_dir: str, preprocess_dir: str,
                 output_dir: str | None = None) -> dict[str, Any]:
    """Returns the metrics of the eval split (also as ``output_dir/metrics.json`` if given)."""
    metadata = read_metadata(preprocess_dir)
    model = load_trained_model(model_dir)
    split = metadata["splits"]["eval"]
    if not split["count"]:
        raise ValueError("the eval split is empty: raise eval_fraction or add rows")
    labels, probs = predict_split(model, split["pattern"], int(metadata["max_seq_length"]),
                                  metadata.get("compression"))
    metrics = classification_metrics(labels, probs, list(metadata["labels"]))
    metrics["split"] = "eval"
    if output_dir is None:
        return metrics
    tf.io.gfile.makedirs(output_dir)
    with tf.io.gfile.GFile(f"{output_dir.rstrip('/')}/metrics.json", "w") as f:
        json.dump(metrics, f, indent=2)
    return metrics
