"""The export step's inference exports: a frozen GraphDef plus a serving SavedModel.

("Frozen" here is graph folding for inference, not the layer freezing of training.)
Frozen graph: the classifier traced on int32 ids, variables folded into constants
(``convert_variables_to_constants_v2``); inputs ``input_word_ids``, ``input_mask``,
``input_type_ids`` ([batch, length] int32, length up to max_seq_length: padding columns may
be left out), outputs ``probabilities`` and ``logits``. It needs nothing but TensorFlow to run
(see ``load_frozen_graph``).

Serving SavedModel: ``serving_default`` takes raw strings (``text``, and ``text_pair`` for pair
tasks) and tokenizes inside the graph exactly as the preprocess step does (``GraphWordPiece``);
``from_ids`` takes token ids; ``serving_default`` pads only to the batch's longest text.
Both are core TF ops only: the SavedModel loads where
tensorflow-text is not installed.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from components.contracts import ENCODER_INPUTS, EncoderInfo, PreparedExamples
from components.model.classifier import load_classifier
from components.text.graph_wordpiece import GraphWordPiece

FROZEN_GRAPH = "frozen_graph.pb"
FROZEN_SIGNATURE = "frozen_graph.json"
OUTPUT_NAMES = ("probabilities", "logits")
VARIABLE_OPS = {"VarHandleOp", "ReadVariableOp", "VariableV2", "Variable", "AssignVariableOp",
                "VarIsInitializedOp", "ResourceGather"}


def _id_specs() -> dict[str, tf.TensorSpec]:
    """[batch, length] with both free: up to max_seq_length, clients may drop the padding."""
    return {name: tf.TensorSpec([None, None], tf.int32, name=name) for name in ENCODER_INPUTS}


def _scores(model) -> Callable:
    def scores(inputs):
        logits = model(inputs, training=False)
        return {"probabilities": tf.nn.softmax(logits, axis=-1, name="probabilities"),
                "logits": tf.identity(logits, name="logits")}
    return scores


def freeze_graph(model) -> tf.compat.v1.GraphDef:
    """The classifier as a GraphDef with every variable folded into a constant."""
    fn = tf.function(_scores(model)).get_concrete_function(_id_specs())
    frozen = convert_variables_to_constants_v2(fn)
    return frozen.graph.as_graph_def()


def variable_ops_in(graph_def: tf.compat.v1.GraphDef) -> list[str]:
    """Variable ops left anywhere in the graph, including its function library."""
    nodes = list(graph_def.node)
    for function in graph_def.library.function:
        nodes.extend(function.node_def)
    return sorted({n.op for n in nodes if n.op in VARIABLE_OPS})


def load_frozen_graph(path: str) -> Callable[..., dict[str, Any]]:
    """Wraps a frozen graph as a function of the three id arrays (plain TensorFlow only)."""
    graph_def = tf.compat.v1.GraphDef()
    with tf.io.gfile.GFile(path, "rb") as f:
        graph_def.ParseFromString(f.read())

    def imported():
        tf.compat.v1.import_graph_def(graph_def, name="")

    wrapped = tf.compat.v1.wrap_function(imported, [])
    graph = wrapped.graph
    fn = wrapped.prune([graph.get_tensor_by_name(f"{n}:0") for n in ENCODER_INPUTS],
                       {n: graph.get_tensor_by_name(f"{n}:0") for n in OUTPUT_NAMES})

    def run(input_word_ids, input_mask, input_type_ids) -> dict[str, Any]:
        return fn(tf.constant(input_word_ids, tf.int32), tf.constant(input_mask, tf.int32),
                  tf.constant(input_type_ids, tf.int32))
    return run


class ServingModule(tf.Module):
    """Raw strings or token ids -> probabilities; tokenization in core TF ops only, so the
    SavedModel loads wherever TensorFlow does (no tensorflow-text, e.g. TF Serving, Triton)."""

    def __init__(self, model, vocab_file: str, do_lower_case: bool, max_seq_length: int,
                 labels: list[str]):
        super().__init__()
        self.model = model
        self.max_seq_length = max_seq_length
        self.vocab_file = tf.saved_model.Asset(vocab_file)  # kept beside the model for clients
        self.labels = tf.Variable(labels, trainable=False, name="labels")
        self.tokenizer = GraphWordPiece(vocab_file, do_lower_case, max_seq_length)
        self._scores = _scores(model)

    def from_text(self, text, text_pair=None):
        """Tokenized as the preprocess step did for training, so scores match ``from_ids``."""
        return self._scores(self.tokenizer.encode(text, text_pair, pad_to_max=False))

    def from_ids(self, input_word_ids, input_mask, input_type_ids):
        return self._scores({"input_word_ids": input_word_ids, "input_mask": input_mask,
                             "input_type_ids": input_type_ids})


def _text_signature(module: ServingModule, pair: bool) -> tf.types.experimental.GenericFunction:
    """``serving_default``: inputs named ``text`` (+ ``text_pair``) as the model card says."""
    text = tf.TensorSpec([None], tf.string, name="text")
    if pair:
        @tf.function(input_signature=[text, tf.TensorSpec([None], tf.string, name="text_pair")])
        def serve(text, text_pair):
            return module.from_text(text, text_pair)
    else:
        @tf.function(input_signature=[text])
        def serve(text):
            return module.from_text(text)
    return serve


def export_model(model_dir: str, encoder_dir: str, examples: PreparedExamples,
                 output_dir: str) -> dict[str, str]:
    """Writes the frozen graph (+ its signature JSON) and the serving SavedModel."""
    model = load_classifier(model_dir)
    max_len = examples.max_seq_length
    out = output_dir.rstrip("/")
    tf.io.gfile.makedirs(out)

    graph_def = freeze_graph(model)
    leftover = variable_ops_in(graph_def)
    if leftover:
        raise RuntimeError(f"freezing left variable ops in the graph: {leftover}")
    frozen_path = f"{out}/{FROZEN_GRAPH}"
    with tf.io.gfile.GFile(frozen_path, "wb") as f:
        f.write(graph_def.SerializeToString())
    signature = {"inputs": {n: {"dtype": "int32", "shape": [None, None]} for n in ENCODER_INPUTS},
                 "max_seq_length": max_len, "outputs": list(OUTPUT_NAMES),
                 "labels": list(examples.labels)}
    with tf.io.gfile.GFile(f"{out}/{FROZEN_SIGNATURE}", "w") as f:
        json.dump(signature, f, indent=2)

    info = EncoderInfo.load(encoder_dir)
    module = ServingModule(model, info.vocab_file, info.do_lower_case, max_len,
                           list(examples.labels))
    module.serve = _text_signature(module, examples.is_pair)
    module.from_ids_fn = tf.function(module.from_ids,
                                     input_signature=list(_id_specs().values()))
    saved_model_path = f"{out}/serving_model"
    tf.saved_model.save(module, saved_model_path,
                        signatures={"serving_default": module.serve,
                                    "from_ids": module.from_ids_fn})
    return {"frozen_graph": frozen_path, "serving_model": saved_model_path}
