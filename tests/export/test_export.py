"""Frozen GraphDef and serving SavedModel reproduce the Keras model's predictions."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import tensorflow as tf

from components.export.freeze import export_model, variable_ops_in
from components.train.data import load_split
from components.train.trainer import load_trained_model

# Runs in a fresh interpreter with nothing but TensorFlow: no bertpipe, no tensorflow_text.
FRESH_PROCESS = textwrap.dedent('''
    import sys
    sys.modules["tensorflow_text"] = None  # importing it now raises ImportError
    import numpy as np, tensorflow as tf
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(open(sys.argv[1], "rb").read())
    fn = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
    g = fn.graph
    names = ["input_word_ids", "input_mask", "input_type_ids"]
    run = fn.prune([g.get_tensor_by_name(n + ":0") for n in names],
                   g.get_tensor_by_name("probabilities:0"))
    inputs = np.load(sys.argv[2])
    np.save(sys.argv[3], run(*[tf.constant(inputs[n]) for n in names]).numpy())
''')


def eval_batch(preprocessed) -> dict[str, np.ndarray]:
    """The whole eval split of the fixture as one batch of ids."""
    ds = load_split(preprocessed.split_pattern("eval"), 32, 1024, "GZIP")
    features, _ = next(iter(ds))
    return {k: v.numpy() for k, v in features.items()}


def test_frozen_graph_and_serving_model_match_keras(trained, minilm_dir, preprocessed, tmp_path):
    paths = export_model(trained.model_dir, minilm_dir, preprocessed.metadata, str(tmp_path))
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(open(paths["frozen_graph"], "rb").read())
    assert variable_ops_in(graph_def) == []
    ops = {n.op for n in graph_def.node} | {n.op for f in graph_def.library.function
                                            for n in f.node_def}
    assert not ops & {"VarHandleOp", "ReadVariableOp", "VariableV2"}

    inputs = eval_batch(preprocessed)
    assert len(inputs["input_word_ids"]) >= 100
    keras_probs = tf.nn.softmax(load_trained_model(trained.model_dir)(inputs, training=False)).numpy()

    np.savez(tmp_path / "inputs.npz", **inputs)
    out = tmp_path / "frozen_probs.npy"
    proc = subprocess.run([sys.executable, "-c", FRESH_PROCESS, paths["frozen_graph"],
                           str(tmp_path / "inputs.npz"), str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert np.abs(np.load(out) - keras_probs).max() <= 1e-5

    serving = tf.saved_model.load(paths["serving_model"])
    by_ids = serving.signatures["from_ids"](**{k: tf.constant(v) for k, v in inputs.items()})
    assert np.abs(by_ids["probabilities"].numpy() - keras_probs).max() <= 1e-5


def test_serving_signature_tokenizes_raw_text(trained, minilm_dir, preprocessed, tmp_path):
    from components.preprocess.tokenizer import WordPieceEncoder
    from components.encoders.info import read_encoder_info

    paths = export_model(trained.model_dir, minilm_dir, preprocessed.metadata, str(tmp_path))
    serving = tf.saved_model.load(paths["serving_model"])
    texts = ["Review 1: A superb film with a charming cast.", "Dull direction, stale script.",
             "What a boring and painful experience! " * 8]
    info = read_encoder_info(minilm_dir)
    ids = WordPieceEncoder(info.vocab_file, info.do_lower_case, 32).encode(texts)
    ids = {k: tf.constant(v, tf.int32) for k, v in ids.items()}
    keras_probs = tf.nn.softmax(load_trained_model(trained.model_dir)(ids, training=False)).numpy()
    raw = serving.signatures["serving_default"](text=tf.constant(texts))["probabilities"].numpy()
    assert np.abs(raw - keras_probs).max() <= 1e-5
