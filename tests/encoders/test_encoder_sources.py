"""Every encoder source ends as the same TF Hub-API encoder; blocks are discovered from names."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from safetensors.numpy import load_file, save_file

from components.config import ConfigError
from components.encoders.bert import BertEncoder
from components.model.bert_config import BertConfig
from components.encoders.hf_safetensors import load_hf_bert
from components.contracts import ENCODER_INPUTS
from components.encoders.hub_export import save_hub_encoder
from components.contracts import EncoderInfo
from components.encoders.sources import (encoder_variable_names, import_encoder,
                                         resolve_hf_folder, source_kind)
from components.encoders.tf_checkpoint import write_tf_bert_checkpoint
from components.freeze_spec import block_of

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "minilm_reference.npz"


def sequence_output(encoder_dir) -> np.ndarray:
    ref = np.load(GOLDEN)
    encoder = tf.saved_model.load(str(encoder_dir))
    return encoder({k: tf.constant(ref[k]) for k in ENCODER_INPUTS})["sequence_output"].numpy()


@pytest.mark.slow
def test_original_tf_checkpoint_matches_safetensors_import(minilm_dir, tmp_path):
    folder = resolve_hf_folder("minilm-l6")
    _, weights, _ = load_hf_bert(folder)
    ckpt = write_tf_bert_checkpoint(tmp_path / "google", folder / "config.json",
                                    folder / "vocab.txt", weights)
    assert source_kind(str(ckpt)) == "tf_checkpoint"
    reader = tf.train.load_checkpoint(str(ckpt / "bert_model.ckpt"))
    assert "bert/encoder/layer_5/attention/self/query/kernel" in reader.get_variable_to_shape_map()
    info = import_encoder(str(ckpt), tmp_path / "from_ckpt")
    assert (info.num_layers, info.do_lower_case) == (6, True)  # casing read off the vocab
    assert np.abs(sequence_output(tmp_path / "from_ckpt") - sequence_output(minilm_dir)).max() <= 1e-5


@pytest.mark.slow
def test_hugging_face_names_with_bert_prefix(minilm_dir, tmp_path):
    folder = resolve_hf_folder("minilm-l6")
    prefixed = tmp_path / "prefixed"
    prefixed.mkdir()
    for name in ("config.json", "vocab.txt", "tokenizer_config.json"):
        shutil.copyfile(folder / name, prefixed / name)
    tensors = load_file(str(folder / "model.safetensors"))
    save_file({f"bert.{k}": v for k, v in tensors.items()}, str(prefixed / "model.safetensors"))
    import_encoder(str(prefixed), tmp_path / "out")
    assert np.array_equal(sequence_output(tmp_path / "out"), sequence_output(minilm_dir))


# TF Model Garden's names, as in the TF Hub / Kaggle bert_en_uncased_* encoders.
def model_garden_names(config: BertConfig) -> dict[str, str]:
    rename = {"embeddings/word_embeddings": "word_embeddings/embeddings",
              "embeddings/position_embeddings": "position_embedding/embeddings",
              "embeddings/type_embeddings": "type_embeddings/embeddings",
              "pooler/kernel": "pooler_transform/kernel", "pooler/bias": "pooler_transform/bias"}
    return {k: rename.get(k, k) for k in config.variable_shapes()}


@pytest.fixture(scope="module")
def tf_hub_style_encoder(tmp_path_factory) -> Path:
    """A small BERT with Model Garden names, saved like a TF Hub encoder (no bertpipe info)."""
    folder = resolve_hf_folder("minilm-l6")
    config = BertConfig(vocab_size=30522, hidden_size=32, num_layers=3, num_heads=4,
                        intermediate_size=64, max_position_embeddings=128)
    out = tmp_path_factory.mktemp("hub") / "bert_en_uncased_tiny"
    save_hub_encoder(BertEncoder(config, seed=3, rename=model_garden_names(config)),
                     folder / "vocab.txt", True, out, source="test")
    (out / EncoderInfo.FILE).unlink()
    return out


def test_tf_hub_savedmodel_blocks_are_discovered(tf_hub_style_encoder, tmp_path):
    assert source_kind(str(tf_hub_style_encoder)) == "hub"
    names = encoder_variable_names(str(tf_hub_style_encoder))
    assert "word_embeddings/embeddings:0" in names
    assert {block_of(n) for n in names} == {"embeddings", "layer_0", "layer_1", "layer_2",
                                            "pooler"}
    info = import_encoder(str(tf_hub_style_encoder), tmp_path / "imported")
    assert (info.num_layers, info.hidden_size, info.max_position_embeddings) == (3, 32, 128)
    assert info.do_lower_case is True
    raw = json.loads((tmp_path / "imported" / EncoderInfo.FILE).read_text())
    assert raw["variable_names"] == names
    assert np.array_equal(sequence_output(tmp_path / "imported"),
                          sequence_output(tf_hub_style_encoder))


def test_freezing_a_tf_hub_encoder_by_discovered_blocks(tf_hub_style_encoder, preprocessed_tiny,
                                                        two_cpu_strategy, tmp_path):
    from components.config import TrainConfig
    from components.train.trainer import run_train

    import_encoder(str(tf_hub_style_encoder), tmp_path / "enc")
    before = {v.name: v.numpy() for v in tf.saved_model.load(str(tmp_path / "enc")).variables}
    result = run_train(TrainConfig(freeze="first:1", epochs=1, batch_size=16,
                                   learning_rate=1e-3, pooling="pooled"),
                       str(tmp_path / "enc"), preprocessed_tiny.output_dir, str(tmp_path / "train"),
                       strategy=two_cpu_strategy, verbose=0)
    status = {row["block"]: row["status"] for row in result.freeze_table}
    assert status == {"embeddings": "frozen", "layer_0": "frozen", "layer_1": "trainable",
                      "layer_2": "trainable", "pooler": "trainable",
                      "classifier_head": "trainable"}
    from components.model.classifier import load_classifier

    after = {v.name: v.numpy() for v in load_classifier(result.model_dir).variables}
    compared = [n for n in before if block_of(n) != "other"]
    assert len(compared) == 3 * 16 + 5 + 2 and all(n in after for n in compared)
    for name in compared:
        same = np.array_equal(before[name], after[name])
        assert same == (block_of(name) in ("embeddings", "layer_0")), name


def test_unknown_layout_is_one_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ConfigError, match="not a known layout"):
        source_kind(str(tmp_path))
