"""The imported encoder is the same network as Hugging Face's, behind the TF Hub interface."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_hub as hub
import pytest

from components.contracts import ENCODER_INPUTS
from components.contracts import EncoderInfo
from components.freeze_spec import block_of

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "minilm_reference.npz"


@pytest.mark.slow
def test_sequence_output_matches_hugging_face(minilm_dir):
    ref = np.load(GOLDEN)
    assert ref["input_word_ids"].shape[0] >= 8
    encoder = tf.saved_model.load(minilm_dir)
    out = encoder({k: tf.constant(ref[k]) for k in ENCODER_INPUTS}, training=False)
    assert np.abs(out["sequence_output"].numpy() - ref["sequence_output"]).max() <= 1e-4
    assert np.abs(out["pooled_output"].numpy() - ref["pooled_output"]).max() <= 1e-4


@pytest.mark.slow
def test_hub_interface_and_block_names(minilm_dir):
    layer = hub.KerasLayer(minilm_dir, trainable=True)
    ids = tf.constant([[101, 7592, 102, 0]], tf.int32)
    out = layer({"input_word_ids": ids, "input_mask": tf.cast(ids > 0, tf.int32),
                 "input_type_ids": tf.zeros_like(ids)})
    assert out["sequence_output"].shape == (1, 4, 384)
    assert out["pooled_output"].shape == (1, 384)
    assert len(out["encoder_outputs"]) == 6
    np.testing.assert_allclose(out["encoder_outputs"][-1], out["sequence_output"])

    names = [w.name for w in layer.trainable_weights]
    assert len(names) == 103  # 5 embedding + 6 x 16 per block + 2 pooler tensors
    blocks = {block_of(n) for n in names}
    assert blocks == {"embeddings", "pooler"} | {f"layer_{i}" for i in range(6)}
    for i in range(6):
        in_block = [n for n in names if block_of(n) == f"layer_{i}"]
        assert len(in_block) == 16
        assert all(n.startswith(f"transformer/layer_{i}/") for n in in_block)

    loaded = tf.saved_model.load(minilm_dir)
    assert bool(loaded.do_lower_case.numpy()) is True
    assert len(loaded.trainable_variables) == 103
    info = EncoderInfo.load(minilm_dir)
    assert Path(info.vocab_file).read_text().splitlines()[101] == "[CLS]"
    assert (info.num_layers, info.hidden_size, info.do_lower_case) == (6, 384, True)
