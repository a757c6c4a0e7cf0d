"""``bertpipe predict``: run an export on texts and print label + probability.

Works on the export step's folder (``exported_model``: frozen graph, serving SavedModel,
``model_card.json``, ``vocab.txt``) or on a published copy of it. Three ways to run it, so
that each export can be checked the way it will be served:

* ``serving``: the SavedModel's ``serving_default`` on raw strings (tokenizer in the graph);
* ``ids``: the SavedModel's ``from_ids`` on ids from the project's WordPiece tokenizer;
* ``frozen``: the frozen GraphDef on the same ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from components.contracts import ModelCard
from components.errors import ConfigError

FORMATS = ("serving", "ids", "frozen")


@dataclass(frozen=True)
class Prediction:
    label: str
    probability: float
    probabilities: list[float]


class Predictor:
    """Loads one export once and scores batches of (text, optional text pair)."""

    def __init__(self, export_dir: str, fmt: str = "serving"):
        if fmt not in FORMATS:
            raise ConfigError(f"format must be one of {FORMATS}, got {fmt!r}")
        root = Path(export_dir)
        if not ModelCard.exists(str(root)):
            raise ConfigError(f"{export_dir} is not a bertpipe export: no {ModelCard.FILE}")
        self.card = ModelCard.load(str(root))
        self.labels: list[str] = list(self.card.labels)
        self.pair = self.card.is_pair
        self.format = fmt
        import tensorflow as tf  # after the checks: a bad path costs no TensorFlow start-up

        self._tf = tf
        if fmt in ("ids", "frozen"):
            from components.text.wordpiece import WordPieceEncoder

            self._encoder = WordPieceEncoder(root / self.card.tokenizer["vocab_file"],
                                             bool(self.card.tokenizer["do_lower_case"]),
                                             self.card.max_seq_length)
        if fmt == "frozen":
            from components.export.serving import FROZEN_GRAPH, load_frozen_graph

            self._run = load_frozen_graph(str(root / FROZEN_GRAPH))
        else:
            model = tf.saved_model.load(str(root / "serving_model"))
            self._run = model.signatures["serving_default" if fmt == "serving" else "from_ids"]

    def probabilities(self, texts: Sequence[str], pairs: Sequence[str] | None) -> np.ndarray:
        tf = self._tf
        if self.format == "serving":
            inputs = {"text": tf.constant(list(texts))}
            if self.pair:
                inputs["text_pair"] = tf.constant(list(pairs or [""] * len(texts)))
            return self._run(**inputs)["probabilities"].numpy()
        ids = self._encoder.encode(texts, pairs if self.pair else None)
        width = max(1, int(ids["input_mask"].sum(axis=1).max()))  # padding columns add nothing
        ids = {k: tf.constant(v[:, :width], tf.int32) for k, v in ids.items()}
        return np.asarray(self._run(**ids)["probabilities"])

    def predict(self, texts: Sequence[str], pairs: Sequence[str] | None = None
                ) -> list[Prediction]:
        probs = self.probabilities(texts, pairs)
        best = probs.argmax(axis=1)
        return [Prediction(self.labels[b], float(p[b]), [float(x) for x in p])
                for b, p in zip(best, probs)]


def split_line(line: str, pair: bool, separator: str) -> tuple[str, str | None]:
    """A line is the text, or for pair models ``text<separator>text_pair``."""
    line = line.rstrip("\n").rstrip("\r")
    if not pair:
        return line, None
    if separator not in line:
        raise ConfigError(f"a sentence-pair model needs text{separator!r}text_pair on each "
                          f"line, got {line[:60]!r}")
    text, text_pair = line.split(separator, 1)
    return text, text_pair


def predict_lines(predictor: Predictor, lines: Iterable[str], separator: str = "\t",
                  batch_size: int = 64) -> Iterator[tuple[str, str | None, Prediction]]:
    """Scores non-empty lines in batches, yielding (text, pair, prediction) in input order."""
    batch: list[tuple[str, str | None]] = []

    def flush():
        texts = [t for t, _ in batch]
        pairs = [p or "" for _, p in batch] if predictor.pair else None
        for (text, pair), pred in zip(batch, predictor.predict(texts, pairs)):
            yield text, pair, pred
        batch.clear()

    for line in lines:
        if not line.strip():
            continue
        batch.append(split_line(line, predictor.pair, separator))
        if len(batch) >= batch_size:
            yield from flush()
    if batch:
        yield from flush()
