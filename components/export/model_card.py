"""``model_card.json`` beside the exports: what a serving team needs to use the model right.

Labels and their order, the input contract (max length, tokenizer settings, vocab checksum),
how it was trained (freezing spec, trainable share, ``freeze: auto``'s decisions, config), how
good it is (metrics, the gate's verdict), what it was trained on (data statistics) and the
library versions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import platform
from importlib import metadata as importlib_metadata
from typing import Any

import tensorflow as tf

from components.contracts import (ENCODER_INPUTS, EncoderInfo, Evaluation, ModelCard,
                                  PreparedExamples, TrainingReport)
from components.export.serving import FROZEN_GRAPH, OUTPUT_NAMES

VOCAB_FILE = "vocab.txt"


def _version(package: str) -> str | None:
    try:
        return importlib_metadata.version(package)
    except importlib_metadata.PackageNotFoundError:
        return None


def model_card(report: TrainingReport, info: EncoderInfo, examples: PreparedExamples,
               evaluation: Evaluation | None) -> ModelCard:
    """The card (see the module docstring for what goes in and why)."""
    pair = examples.is_pair
    return ModelCard(
        created_utc=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        task="sentence-pair classification" if pair else "text classification",
        labels=list(examples.labels),
        max_seq_length=examples.max_seq_length,
        tokenizer={**dataclasses.asdict(examples.tokenizer),
                   "do_lower_case": info.do_lower_case, "vocab_file": VOCAB_FILE},
        encoder={"source": info.source, "num_layers": info.num_layers,
                 "hidden_size": info.hidden_size},
        training={"freeze": report.freeze, "trainable_params": report.trainable_params,
                  "total_params": report.total_params, "replicas": report.replicas,
                  "global_batch_size": report.global_batch_size,
                  "precision": report.precision, "bucket_width": report.bucket_width,
                  "freeze_decisions": [dataclasses.asdict(d) for d in report.freeze_decisions],
                  "config": report.config},
        data={"rows_read": examples.rows_read, "dead_letters": examples.dead_letter.count,
              "splits": {s: {"count": v.count, "per_label": v.per_label}
                         for s, v in examples.splits.items()},
              "stats": examples.stats},
        exports={
            "frozen_graph": {"path": FROZEN_GRAPH, "inputs": list(ENCODER_INPUTS),
                             "input_dtype": "int32", "outputs": list(OUTPUT_NAMES),
                             "needs": "tensorflow"},
            # Both signatures are core TensorFlow ops: no tensorflow-text where they serve.
            "serving_model": {"path": "serving_model",
                              "signatures": {
                                  "serving_default": {"inputs": ["text", "text_pair"] if pair
                                                      else ["text"], "dtype": "string",
                                                      "needs": "tensorflow"},
                                  "from_ids": {"inputs": list(ENCODER_INPUTS), "dtype": "int32",
                                               "needs": "tensorflow"}},
                              "outputs": list(OUTPUT_NAMES)}},
        versions={"python": platform.python_version(),
                  **{name: _version(name) for name in
                     ("bertpipe", "tensorflow", "tensorflow-text", "tf-keras",
                      "tensorflow-hub")}},
        metrics={split: {k: m[k] for k in Evaluation.HEADLINE if k in m}
                 for split, m in evaluation.splits.items()} if evaluation else {},
        blessing=evaluation.blessing if evaluation else None)


def write_model_card(export_dir: str, train_dir: str, encoder_dir: str,
                     examples: PreparedExamples, evaluation: Evaluation | None = None) -> str:
    """Writes ``export_dir/model_card.json`` and the ``vocab.txt`` it names (what a client
    needs to make ids for the frozen graph or ``from_ids``); returns the card's path."""
    info = EncoderInfo.load(encoder_dir)
    out = export_dir.rstrip("/")
    tf.io.gfile.copy(info.vocab_file, f"{out}/{VOCAB_FILE}", overwrite=True)
    return model_card(TrainingReport.load(train_dir), info, examples, evaluation).save(out)
