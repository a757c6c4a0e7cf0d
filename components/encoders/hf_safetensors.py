"""Reads a Hugging Face-layout BERT folder (config.json, vocab.txt, model.safetensors).

Hugging Face stores Linear weights as (out, in); Keras/TF kernels are (in, out), so every
kernel is transposed here. Tensor names may or may not carry a ``bert.`` prefix.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from components.model.bert_config import BertConfig
from components.errors import ConfigError


def _hf_names(num_layers: int) -> dict[str, tuple[str, bool]]:
    """Our variable name -> (Hugging Face tensor name, needs transpose)."""
    names = {
        "embeddings/word_embeddings": ("embeddings.word_embeddings.weight", False),
        "embeddings/position_embeddings": ("embeddings.position_embeddings.weight", False),
        "embeddings/type_embeddings": ("embeddings.token_type_embeddings.weight", False),
        "embeddings/layer_norm/gamma": ("embeddings.LayerNorm.weight", False),
        "embeddings/layer_norm/beta": ("embeddings.LayerNorm.bias", False),
        "pooler/kernel": ("pooler.dense.weight", True),
        "pooler/bias": ("pooler.dense.bias", False),
    }
    for i in range(num_layers):
        ours, hf = f"transformer/layer_{i}", f"encoder.layer.{i}"
        for proj in ("query", "key", "value"):
            names[f"{ours}/self_attention/{proj}/kernel"] = (f"{hf}.attention.self.{proj}.weight", True)
            names[f"{ours}/self_attention/{proj}/bias"] = (f"{hf}.attention.self.{proj}.bias", False)
        pairs = {
            "self_attention/attention_output/kernel": ("attention.output.dense.weight", True),
            "self_attention/attention_output/bias": ("attention.output.dense.bias", False),
            "self_attention_layer_norm/gamma": ("attention.output.LayerNorm.weight", False),
            "self_attention_layer_norm/beta": ("attention.output.LayerNorm.bias", False),
            "intermediate/kernel": ("intermediate.dense.weight", True),
            "intermediate/bias": ("intermediate.dense.bias", False),
            "output/kernel": ("output.dense.weight", True),
            "output/bias": ("output.dense.bias", False),
            "output_layer_norm/gamma": ("output.LayerNorm.weight", False),
            "output_layer_norm/beta": ("output.LayerNorm.bias", False),
        }
        for suffix, (hf_suffix, transpose) in pairs.items():
            names[f"{ours}/{suffix}"] = (f"{hf}.{hf_suffix}", transpose)
    return names


def _normalise(name: str) -> str:
    """Strips a ``bert.`` prefix and maps old ``gamma``/``beta`` LayerNorm names."""
    if name.startswith("bert."):
        name = name[len("bert."):]
    if ".LayerNorm.gamma" in name or ".LayerNorm.beta" in name:
        name = name.replace(".LayerNorm.gamma", ".LayerNorm.weight").replace(
            ".LayerNorm.beta", ".LayerNorm.bias")
    return name


def check_vocab_fits(vocab: Path, rows: int, weights: Path) -> None:
    """A vocab with more tokens than the word embeddings have rows belongs to other weights:
    its high ids would index past the table (fewer tokens is fine: padded vocabularies)."""
    with open(vocab, encoding="utf-8") as f:
        tokens = sum(1 for _ in f)
    if tokens > rows:
        raise ConfigError(f"{vocab} has {tokens:,} tokens but the word embeddings in {weights} "
                          f"have {rows:,} rows: the vocab does not belong to these weights")


def load_hf_bert(folder: Path) -> tuple[BertConfig, dict[str, np.ndarray], bool]:
    """Returns (config, weights by our variable names, do_lower_case) of a HF BERT folder."""
    from safetensors.numpy import load_file

    folder = Path(folder)
    for required in ("config.json", "vocab.txt", "model.safetensors"):
        if not (folder / required).exists():
            raise FileNotFoundError(f"{folder} is not a Hugging Face BERT folder: no {required}")
    config = BertConfig.from_hf_json(folder / "config.json")
    tensors = {_normalise(k): v for k, v in load_file(str(folder / "model.safetensors")).items()}
    weights: dict[str, np.ndarray] = {}
    for ours, (hf, transpose) in _hf_names(config.num_layers).items():
        if hf not in tensors:
            raise ConfigError(f"{folder / 'model.safetensors'} has no tensor {hf!r}: not a "
                              f"complete {config.num_layers}-block BERT checkpoint")
        value = tensors[hf].astype(np.float32)
        weights[ours] = np.ascontiguousarray(value.T) if transpose else value
    check_vocab_fits(folder / "vocab.txt", weights["embeddings/word_embeddings"].shape[0],
                     folder / "model.safetensors")
    do_lower_case = True
    tok_config = folder / "tokenizer_config.json"
    if tok_config.exists():
        do_lower_case = bool(json.loads(tok_config.read_text()).get("do_lower_case", True))
    return config, weights, do_lower_case
