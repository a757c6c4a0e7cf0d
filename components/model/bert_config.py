"""BERT's hyper-parameters and variable layout, without TensorFlow (cheap to import)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class BertConfig:
    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    hidden_dropout: float = 0.1
    attention_dropout: float = 0.1
    layer_norm_eps: float = 1e-12

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not a multiple of "
                             f"num_heads {self.num_heads}")

    @classmethod
    def from_hf_json(cls, path: Path) -> "BertConfig":
        """Reads a Hugging Face ``config.json`` of a BERT model."""
        raw = json.loads(Path(path).read_text())
        if raw.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"unsupported hidden_act {raw['hidden_act']!r} (only exact gelu)")
        if raw.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("only absolute position embeddings are supported")
        return cls(vocab_size=raw["vocab_size"], hidden_size=raw["hidden_size"],
                   num_layers=raw["num_hidden_layers"], num_heads=raw["num_attention_heads"],
                   intermediate_size=raw["intermediate_size"],
                   max_position_embeddings=raw.get("max_position_embeddings", 512),
                   type_vocab_size=raw.get("type_vocab_size", 2),
                   hidden_dropout=raw.get("hidden_dropout_prob", 0.1),
                   attention_dropout=raw.get("attention_probs_dropout_prob", 0.1),
                   layer_norm_eps=raw.get("layer_norm_eps", 1e-12))

    def variable_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every variable of the encoder by name, in creation order."""
        h, f = self.hidden_size, self.intermediate_size
        shapes: dict[str, tuple[int, ...]] = {
            "embeddings/word_embeddings": (self.vocab_size, h),
            "embeddings/position_embeddings": (self.max_position_embeddings, h),
            "embeddings/type_embeddings": (self.type_vocab_size, h),
            "embeddings/layer_norm/gamma": (h,),
            "embeddings/layer_norm/beta": (h,),
        }
        for i in range(self.num_layers):
            p = f"transformer/layer_{i}"
            for proj in ("query", "key", "value", "attention_output"):
                shapes[f"{p}/self_attention/{proj}/kernel"] = (h, h)
                shapes[f"{p}/self_attention/{proj}/bias"] = (h,)
            shapes[f"{p}/self_attention_layer_norm/gamma"] = (h,)
            shapes[f"{p}/self_attention_layer_norm/beta"] = (h,)
            shapes[f"{p}/intermediate/kernel"] = (h, f)
            shapes[f"{p}/intermediate/bias"] = (f,)
            shapes[f"{p}/output/kernel"] = (f, h)
            shapes[f"{p}/output/bias"] = (h,)
            shapes[f"{p}/output_layer_norm/gamma"] = (h,)
            shapes[f"{p}/output_layer_norm/beta"] = (h,)
        shapes["pooler/kernel"] = (h, h)
        shapes["pooler/bias"] = (h,)
        return shapes
