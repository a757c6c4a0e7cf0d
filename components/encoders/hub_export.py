"""Writes and reads encoders as TF2 SavedModels that follow the TF Hub BERT encoder interface.

The exported object has ``__call__(inputs, training=False)``, ``variables``,
``trainable_variables`` and ``regularization_losses`` (TF Hub's "reusable SavedModel" API), so
``hub.KerasLayer(path, trainable=True)`` loads it. Like TF Hub's BERT encoders it carries
``vocab_file`` (an asset) and ``do_lower_case`` (a non-trainable variable); it also ships
``assets/encoder_info.json`` so that tokenizing workers can read the vocab and casing without
loading TensorFlow.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path

import tensorflow as tf

from components.contracts import COMPUTE_DTYPES, ENCODER_INPUTS, EncoderInfo
from components.encoders.bert import BertConfig, BertEncoder



def save_hub_encoder(encoder: BertEncoder, vocab_file: Path, do_lower_case: bool,
                     export_dir: Path, source: str) -> EncoderInfo:
    """Saves ``encoder`` under ``export_dir`` (atomically) with its vocab and casing."""
    export_dir = Path(export_dir)
    cfg: BertConfig = encoder.config
    info = EncoderInfo(do_lower_case=do_lower_case, num_layers=cfg.num_layers,
                       hidden_size=cfg.hidden_size,
                       max_position_embeddings=cfg.max_position_embeddings, source=source,
                       bert_config=dataclasses.asdict(cfg),
                       variable_names=[v.name for v in encoder.weights_list],
                       compute_dtypes=list(COMPUTE_DTYPES))
    with tempfile.TemporaryDirectory() as tmp:
        # An asset of the SavedModel: it lands in export_dir/assets/ (EncoderInfo.FILE).
        info_path = Path(info.save(tmp))
        vocab_copy = Path(tmp) / "vocab.txt"
        shutil.copyfile(vocab_file, vocab_copy)

        root = tf.train.Checkpoint()
        root.encoder = encoder
        root.variables = list(encoder.weights_list)
        root.trainable_variables = list(encoder.weights_list)
        root.regularization_losses = []
        root.vocab_file = tf.saved_model.Asset(str(vocab_copy))
        root.encoder_info = tf.saved_model.Asset(str(info_path))
        root.do_lower_case = tf.Variable(do_lower_case, trainable=False, name="do_lower_case")

        spec = {name: tf.TensorSpec([None, None], tf.int32, name=name) for name in ENCODER_INPUTS}

        @tf.function
        def call(inputs, training=False, compute_dtype="float32"):
            return encoder(inputs, training=training, compute_dtype=compute_dtype)

        for training in (False, True):
            for dtype in COMPUTE_DTYPES:
                call.get_concrete_function(spec, training=training, compute_dtype=dtype)
        root.__call__ = call

        @tf.function(input_signature=[spec])
        def serving(inputs):
            # Signatures need flat outputs: the per-block list is named encoder_output_{i}.
            out = encoder(inputs, training=False)
            flat = {"pooled_output": out["pooled_output"], "sequence_output": out["sequence_output"]}
            for i, block_out in enumerate(out["encoder_outputs"]):
                flat[f"encoder_output_{i}"] = block_out
            return flat

        partial = export_dir.with_name(export_dir.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        tf.saved_model.save(root, str(partial), signatures={"serving_default": serving})
    if export_dir.exists():
        shutil.rmtree(export_dir)
    partial.rename(export_dir)
    return EncoderInfo.load(str(export_dir))
