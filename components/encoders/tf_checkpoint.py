"""Reads Google's original BERT TF checkpoint folder (bert_config.json, bert_model.ckpt.*,
vocab.txt), with variables named ``bert/encoder/layer_N/...``.

Kernels are already (in, out). The checkpoint carries no casing flag: the vocab tells (an
uncased vocab has no upper-case word pieces), as Google's own release notes advise.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from components.model.bert_config import BertConfig
from components.encoders.hf_safetensors import check_vocab_fits
from components.errors import ConfigError

_LAYER = re.compile(r"^bert/encoder/layer_(\d+)/")


def checkpoint_prefix(folder: Path) -> Path | None:
    """``folder/<name>.ckpt`` of the first ``*.ckpt*.index`` file, if any."""
    indexes = sorted(Path(folder).glob("*.ckpt*.index"))
    return indexes[0].with_suffix("") if indexes else None


def _tf_names(num_layers: int) -> dict[str, str]:
    """Our variable name -> the original checkpoint's."""
    names = {
        "embeddings/word_embeddings": "bert/embeddings/word_embeddings",
        "embeddings/position_embeddings": "bert/embeddings/position_embeddings",
        "embeddings/type_embeddings": "bert/embeddings/token_type_embeddings",
        "embeddings/layer_norm/gamma": "bert/embeddings/LayerNorm/gamma",
        "embeddings/layer_norm/beta": "bert/embeddings/LayerNorm/beta",
        "pooler/kernel": "bert/pooler/dense/kernel",
        "pooler/bias": "bert/pooler/dense/bias",
    }
    parts = {
        "self_attention/query": "attention/self/query",
        "self_attention/key": "attention/self/key",
        "self_attention/value": "attention/self/value",
        "self_attention/attention_output": "attention/output/dense",
        "intermediate": "intermediate/dense",
        "output": "output/dense",
    }
    norms = {"self_attention_layer_norm": "attention/output/LayerNorm",
             "output_layer_norm": "output/LayerNorm"}
    for i in range(num_layers):
        ours, theirs = f"transformer/layer_{i}", f"bert/encoder/layer_{i}"
        for a, b in parts.items():
            for leaf in ("kernel", "bias"):
                names[f"{ours}/{a}/{leaf}"] = f"{theirs}/{b}/{leaf}"
        for a, b in norms.items():
            for leaf in ("gamma", "beta"):
                names[f"{ours}/{a}/{leaf}"] = f"{theirs}/{b}/{leaf}"
    return names


def vocab_is_uncased(vocab_file: Path) -> bool:
    tokens = Path(vocab_file).read_text(encoding="utf-8").splitlines()
    return not any(t != t.lower() for t in tokens if not (t.startswith("[") and t.endswith("]")))


def load_tf_bert_checkpoint(folder: Path) -> tuple[BertConfig, dict[str, np.ndarray], bool]:
    """Returns (config, weights by our variable names, do_lower_case)."""
    import tensorflow as tf

    folder = Path(folder)
    prefix = checkpoint_prefix(folder)
    if prefix is None or not (folder / "bert_config.json").exists():
        raise FileNotFoundError(f"{folder} is not an original BERT checkpoint folder")
    config = BertConfig.from_hf_json(folder / "bert_config.json")
    reader = tf.train.load_checkpoint(str(prefix))
    shapes = reader.get_variable_to_shape_map()
    found = sorted({int(m.group(1)) for m in map(_LAYER.match, shapes) if m})
    if found != list(range(config.num_layers)):
        raise ValueError(f"{prefix}: bert_config.json says {config.num_layers} layers, the "
                         f"checkpoint has layer indices {found}")
    weights = {}
    for ours, theirs in _tf_names(config.num_layers).items():
        if theirs not in shapes:
            raise ConfigError(f"{prefix} has no variable {theirs!r}: not a complete "
                              f"{config.num_layers}-block BERT checkpoint")
        weights[ours] = np.asarray(reader.get_tensor(theirs), np.float32)
    check_vocab_fits(folder / "vocab.txt", weights["embeddings/word_embeddings"].shape[0],
                     Path(f"{prefix}.index"))
    return config, weights, vocab_is_uncased(folder / "vocab.txt")


def write_tf_bert_checkpoint(folder: Path, config_json: Path, vocab_file: Path,
                             weights: dict[str, np.ndarray]) -> Path:
    """Writes weights (our names) in the original layout; used to test the reader and to
    hand a converted model to tools that expect Google's format."""
    import shutil

    import tensorflow as tf

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(config_json, folder / "bert_config.json")
    shutil.copyfile(vocab_file, folder / "vocab.txt")
    num_layers = 1 + max(int(m.group(1)) for m in
                         map(re.compile(r"transformer/layer_(\d+)/").match, weights) if m)
    names = _tf_names(num_layers)
    keys = sorted(names)
    tf.raw_ops.SaveV2(prefix=str(folder / "bert_model.ckpt"),
                      tensor_names=[names[k] for k in keys], shape_and_slices=[""] * len(keys),
                      tensors=[tf.constant(weights[k]) for k in keys])
    return folder
