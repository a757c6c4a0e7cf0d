"""``model_card.json`` beside the exports: what a serving team needs to use the model right.

Labels and their order, the input contract (max length, tokenizer settings, vocab checksum),
how it was trained (freezing spec, trainable share, config), how good it is (metrics, the
gate's verdict), what it was trained on (data statistics) and the library versions.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
from importlib import metadata as importlib_metadata
from typing import Any

import tensorflow as tf

from components.encoders.info import read_encoder_info
from components.evaluate.evaluator import read_evaluation
from components.evaluate.metrics import HEADLINE
from components.export.freeze import FROZEN_GRAPH, OUTPUT_NAMES
from components.encoders.hub_export import INPUT_NAMES
from components.storage import read_json_if_exists
from components.train.trainer import is_pair_task

MODEL_CARD = "model_card.json"
VOCAB_FILE = "vocab.txt"


def _version(package: str) -> str | None:
    try:
        return importlib_metadata.version(package)
    except importlib_metadata.PackageNotFoundError:
        return None


def model_card(train_dir: str, encoder_dir: str, metadata: dict[str, Any],
               evaluation: dict[str, Any] | None) -> dict[str, Any]:
    """The card as a dict (see the module docstring for what goes in and why)."""
    info = read_encoder_info(encoder_dir)
    freeze = read_json_if_exists(f"{train_dir.rstrip('/')}/freeze.json") or {}
    pair = is_pair_task(metadata)
    tokenizer = dict(metadata.get("tokenizer", {}))
    card: dict[str, Any] = {
        "format": "bertpipe-model-card/1",
        "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "task": "sentence-pair classification" if pair else "text classification",
        "labels": list(metadata["labels"]),
        "max_seq_length": int(metadata["max_seq_length"]),
        "tokenizer": {**tokenizer, "do_lower_case": info.do_lower_case,
                      "vocab_file": VOCAB_FILE},
        "encoder": {"source": info.source, "num_layers": info.num_layers,
                    "hidden_size": info.hidden_size},
        "training": {"freeze": freeze.get("freeze"),
                     "trainable_params": freeze.get("trainable_params"),
                     "total_params": freeze.get("total_params"),
                     "replicas": freeze.get("replicas"),
                     "global_batch_size": freeze.get("global_batch_size"),
                     "config": freeze.get("config")},
        "data": {"rows_read": metadata.get("rows_read"),
                 "dead_letters": (metadata.get("dead_letter") or {}).get("count"),
                 "splits": {s: {"count": v["count"], "per_label": v["per_label"]}
                            for s, v in metadata.get("splits", {}).items()},
                 "stats": metadata.get("stats")},
        "exports": {
            "frozen_graph": {"path": FROZEN_GRAPH, "inputs": list(INPUT_NAMES),
                             "input_dtype": "int32", "outputs": list(OUTPUT_NAMES),
                             "needs": "tensorflow"},
            "serving_model": {"path": "serving_model",
                              "signatures": {
                                  "serving_default": {"inputs": ["text", "text_pair"] if pair
                                                      else ["text"], "dtype": "string",
                                                      "needs": "tensorflow, tensorflow-text"},
                                  "from_ids": {"inputs": list(INPUT_NAMES), "dtype": "int32",
                                               "needs": "tensorflow"}},
                              "outputs": list(OUTPUT_NAMES)}},
        "versions": {"python": platform.python_version(),
                     **{name: _version(name) for name in
                        ("bertpipe", "tensorflow", "tensorflow-text", "tf-keras",
                         "tensorflow-hub")}},
    }
    if evaluation:
        card["metrics"] = {split: {k: m[k] for k in HEADLINE if k in m}
                           for split, m in evaluation["splits"].items()}
        if evaluation.get("blessing"):
            card["blessing"] = evaluation["blessing"]
    return card


def write_model_card(export_dir: str, train_dir: str, encoder_dir: str,
                     metadata: dict[str, Any], evaluation_dir: str | None = None) -> str:
    """Writes ``export_dir/model_card.json`` and the ``vocab.txt`` it names (what a client
    needs to make ids for the frozen graph or ``from_ids``); returns the card's path."""
    evaluation = read_evaluation(evaluation_dir) if evaluation_dir else None
    out = export_dir.rstrip("/")
    tf.io.gfile.copy(read_encoder_info(encoder_dir).vocab_file, f"{out}/{VOCAB_FILE}",
                     overwrite=True)
    path = f"{out}/{MODEL_CARD}"
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(model_card(train_dir, encoder_dir, metadata, evaluation), f, indent=2)
    return path
