"""The evaluate step: score the eval (and test) split and gather what the report shows.

One ``Evaluation`` (``evaluation.json``) carries everything downstream needs: metrics per
split (and per slice), the worst confident mistakes, the training curves and freezing table
from the train step's ``TrainingReport``, and the data statistics of the preprocess step's
``PreparedExamples``. The report, the Markdown summary, the KFP metrics, the quality gate and
the model card all read that one contract.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from components.contracts import (ENCODER_INPUTS, Evaluation, PreparedExamples, TrainingReport,
                                  example_feature_spec)
from components.errors import ContractError
from components.evaluate.metrics import classification_metrics
from components.model.classifier import load_classifier

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


CUT_MULTIPLE = 16  # few distinct shapes


def predict_split(model, pattern: str, max_seq_length: int, compression: str | None,
                  batch_size: int = 128) -> SplitPredictions:
    """Scores every example of a split (in file order) with the Keras model, each batch cut
    to its longest text rounded up to a multiple of ``CUT_MULTIPLE``."""
    files = sorted(tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no TFRecord files match {pattern}")
    spec = example_feature_spec(max_seq_length, with_texts=True)
    ds = tf.data.TFRecordDataset(files, compression_type=compression or "").batch(batch_size)
    ds = ds.map(lambda s: tf.io.parse_example(s, spec)).prefetch(tf.data.AUTOTUNE)
    labels, probs, texts, pairs, slices = [], [], [], [], []
    for batch in ds:
        # Cut the padding every row of the batch has (the model's length is free).
        longest = int(tf.reduce_max(tf.reduce_sum(tf.cast(batch["input_mask"] > 0, tf.int32), 1)))
        length = min(max_seq_length, -(-max(longest, 1) // CUT_MULTIPLE) * CUT_MULTIPLE)
        features = {name: tf.cast(batch[name][:, :length], tf.int32) for name in ENCODER_INPUTS}
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


def run_evaluate(train_dir: str, preprocess_dir: str) -> Evaluation:
    """Metrics of the eval split (and the test split when it has rows), slices, mistakes,
    training history, freezing table and data statistics of a train step's output folder
    (the ``model`` artifact: ``model/`` and its ``TrainingReport``)."""
    examples = PreparedExamples.load(preprocess_dir)
    train_dir = train_dir.rstrip("/")
    report = TrainingReport.load(train_dir)
    trained_on = report.labels
    if list(trained_on) != list(examples.labels):
        raise ContractError(
            f"{TrainingReport.path_in(train_dir)}: the model was trained on labels "
            f"{list(trained_on)}, but {PreparedExamples.path_in(preprocess_dir)} has "
            f"{list(examples.labels)}: evaluate with the examples it was trained on")
    if not examples.count("eval"):
        raise ValueError("the eval split is empty: raise eval_fraction or add rows")
    for split in ("eval", "test"):
        if examples.count(split):
            examples.check_records(split)
    model = load_classifier(f"{train_dir}/model")
    label_names = list(examples.labels)
    splits: dict[str, Any] = {}
    slices: dict[str, Any] = {}
    mistakes: list[dict[str, Any]] = []
    for split in ("eval", "test"):
        if not examples.count(split):
            continue
        pred = predict_split(model, examples.pattern(split), examples.max_seq_length,
                             examples.compression)
        metrics = classification_metrics(pred.labels, pred.probabilities, label_names)
        metrics["split"] = split
        splits[split] = metrics
        if examples.columns.slice:
            slices[split] = {"column": examples.columns.slice,
                             "values": slice_metrics(pred, label_names)}
        if split == "eval":
            mistakes = worst_mistakes(pred, label_names)
    data = examples.to_dict()
    return Evaluation(
        labels=label_names, splits=splits, slices=slices, mistakes=mistakes,
        history=report.history,
        training={**{k: getattr(report, k) for k in ("freeze", "table", "trainable_params",
                                                     "total_params", "global_batch_size",
                                                     "replicas", "config")},
                  "freeze_decisions": [dataclasses.asdict(d) for d in report.freeze_decisions]},
        data={k: data[k] for k in ("splits", "stats", "rows_read", "dead_letter", "columns",
                                   "tokenizer", "max_seq_length")})
