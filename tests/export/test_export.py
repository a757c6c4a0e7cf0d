"""Frozen GraphDef and serving SavedModel reproduce the Keras model's predictions, also in a
process where tensorflow-text cannot be imported (as under TF Serving or Triton)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from components.contracts import EncoderInfo
from components.export.serving import (ServingModule, _text_signature, export_model,
                                      load_frozen_graph, variable_ops_in)
from components.text.graph_wordpiece import GraphWordPiece
from components.text.wordpiece import WordPieceEncoder
from components.contracts import example_feature_spec
from components.model.classifier import load_classifier

NAMES = ("input_word_ids", "input_mask", "input_type_ids")

# Runs in a fresh interpreter with nothing but TensorFlow: no bertpipe, no tensorflow_text.
FRESH_PROCESS = textwrap.dedent('''
    import json, sys
    sys.modules["tensorflow_text"] = None  # importing it now raises ImportError
    import numpy as np, tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.python.framework import op_def_registry
    frozen_path, serving_path, inputs_path, texts_path, out_path = sys.argv[1:]
    inputs = np.load(inputs_path)
    names = ["input_word_ids", "input_mask", "input_type_ids"]

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(open(frozen_path, "rb").read())
    fn = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
    g = fn.graph
    run = fn.prune([g.get_tensor_by_name(n + ":0") for n in names],
                   g.get_tensor_by_name("probabilities:0"))
    frozen = run(*[tf.constant(inputs[n]) for n in names]).numpy()

    # Every op in the SavedModel must be registered by TensorFlow alone.
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString(open(serving_path + "/saved_model.pb", "rb").read())
    graph = proto.meta_graphs[0].graph_def
    ops = {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}
    unknown = sorted(op for op in ops if op_def_registry.get(op) is None)
    assert not unknown, f"ops not in core TensorFlow: {unknown}"

    serving = tf.saved_model.load(serving_path)
    by_ids = serving.signatures["from_ids"](**{n: tf.constant(inputs[n]) for n in names})
    texts = json.load(open(texts_path))
    raw = serving.signatures["serving_default"](text=tf.constant(texts))
    np.savez(out_path, frozen=frozen, from_ids=by_ids["probabilities"].numpy(),
             serving_default=raw["probabilities"].numpy())
    assert "tensorflow_text" not in sys.modules or sys.modules["tensorflow_text"] is None
''')


def eval_rows(preprocessed) -> tuple[dict[str, np.ndarray], list[str]]:
    """Every eval row of the fixture: its ids and the raw text the Beam job tokenized."""
    meta = preprocessed.metadata
    spec = example_feature_spec(int(meta["max_seq_length"]))
    spec["text"] = tf.io.FixedLenFeature([], tf.string)
    files = sorted(tf.io.gfile.glob(preprocessed.split_pattern("eval")))
    ds = tf.data.TFRecordDataset(files, compression_type=meta["compression"] or "")
    parsed = tf.io.parse_example(tf.stack(list(ds)), spec)
    ids = {n: tf.cast(parsed[n], tf.int32).numpy() for n in NAMES}
    return ids, [t.decode("utf-8") for t in parsed["text"].numpy()]


@pytest.fixture(scope="module")
def exported(trained_tiny, tiny_encoder_dir, preprocessed_tiny,
             tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("export")
    return export_model(trained_tiny.model_dir, tiny_encoder_dir, preprocessed_tiny.examples,
                        str(out))


@pytest.fixture(scope="module")
def keras_eval(trained_tiny,
               preprocessed_tiny) -> tuple[dict[str, np.ndarray], list[str], np.ndarray]:
    """Eval ids, texts and the trained Keras model's probabilities on them."""
    ids, texts = eval_rows(preprocessed_tiny)
    assert len(texts) >= 200
    logits = load_classifier(trained_tiny.model_dir)(ids, training=False)
    return ids, texts, tf.nn.softmax(logits).numpy()


def test_frozen_graph_has_no_variables(exported):
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(open(exported["frozen_graph"], "rb").read())
    assert variable_ops_in(graph_def) == []
    ops = {n.op for n in graph_def.node} | {n.op for f in graph_def.library.function
                                            for n in f.node_def}
    assert not ops & {"VarHandleOp", "ReadVariableOp", "VariableV2"}


def test_in_graph_tokenizer_gives_the_preprocessed_ids(tiny_encoder_dir, preprocessed_tiny,
                                                       keras_eval):
    ids, texts, _ = keras_eval
    info = EncoderInfo.load(tiny_encoder_dir)
    tok = GraphWordPiece(info.vocab_file, info.do_lower_case,
                         int(preprocessed_tiny.metadata["max_seq_length"]))
    ours = tf.function(tok.encode)(tf.constant(texts))
    for name in NAMES:
        differ = int((ours[name].numpy() != ids[name]).any(axis=1).sum())
        assert differ == 0, f"{name}: {differ}/{len(texts)} eval rows differ"


def test_every_export_matches_keras_on_all_eval_rows(exported, keras_eval):
    ids, texts, keras_probs = keras_eval
    frozen = load_frozen_graph(exported["frozen_graph"])(**ids)["probabilities"].numpy()
    serving = tf.saved_model.load(exported["serving_model"])
    by_ids = serving.signatures["from_ids"](**{k: tf.constant(v) for k, v in ids.items()})
    raw = serving.signatures["serving_default"](text=tf.constant(texts))
    # The sequence dimension is free: ids without their padding columns give the same scores.
    width = int(ids["input_mask"].sum(axis=1).max())
    assert width < ids["input_mask"].shape[1]
    trimmed = load_frozen_graph(exported["frozen_graph"])(
        **{k: v[:, :width] for k, v in ids.items()})["probabilities"].numpy()
    for name, probs in [("frozen", frozen), ("from_ids", by_ids["probabilities"].numpy()),
                        ("serving_default", raw["probabilities"].numpy()),
                        ("frozen, padding dropped", trimmed)]:
        assert probs.shape == keras_probs.shape, name
        assert np.abs(probs - keras_probs).max() <= 1e-5, name


def test_exports_load_and_run_without_tensorflow_text(exported, keras_eval, tmp_path):
    ids, texts, keras_probs = keras_eval
    np.savez(tmp_path / "inputs.npz", **ids)
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    out = tmp_path / "probs.npz"
    proc = subprocess.run([sys.executable, "-c", FRESH_PROCESS, exported["frozen_graph"],
                           exported["serving_model"], str(tmp_path / "inputs.npz"),
                           str(tmp_path / "texts.json"), str(out)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = np.load(out)
    for name in ("frozen", "from_ids", "serving_default"):
        assert results[name].shape == keras_probs.shape, name
        assert np.abs(results[name] - keras_probs).max() <= 1e-5, name


def test_pair_signature_tokenizes_both_texts(trained_tiny, tiny_encoder_dir, preprocessed_tiny,
                                             keras_eval):
    """Pair tasks (second column or separator) serve ``text`` + ``text_pair``."""
    _, texts, _ = keras_eval
    firsts, seconds = texts[:40], texts[40:80]
    info = EncoderInfo.load(tiny_encoder_dir)
    max_len = int(preprocessed_tiny.metadata["max_seq_length"])
    model = load_classifier(trained_tiny.model_dir)
    serve = _text_signature(ServingModule(model, info.vocab_file, info.do_lower_case, max_len,
                                          ["neg", "pos"]), pair=True)
    raw = serve(text=tf.constant(firsts), text_pair=tf.constant(seconds))["probabilities"]
    ids = WordPieceEncoder(info.vocab_file, info.do_lower_case, max_len).encode(firsts, seconds)
    assert ids["input_type_ids"].any()
    keras_probs = tf.nn.softmax(model({k: tf.constant(v, tf.int32) for k, v in ids.items()},
                                      training=False)).numpy()
    assert np.abs(raw.numpy() - keras_probs).max() <= 1e-5
