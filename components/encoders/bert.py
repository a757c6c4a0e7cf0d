"""A BERT encoder as a ``tf.Module`` whose variable names say which block they belong to.

    encoder = BertEncoder(BertConfig(vocab_size=100, hidden_size=32, num_layers=2,
                                     num_heads=4, intermediate_size=64))
    out = encoder({"input_word_ids": ids, "input_mask": mask, "input_type_ids": types})
    out["sequence_output"], out["pooled_output"], out["encoder_outputs"]

Variable names are ``embeddings/...``, ``transformer/layer_{i}/...`` and ``pooler/...`` so that
freezing by block is a matter of reading names (see ``components/model/freezing.py``).
The maths follows Hugging Face ``BertModel`` exactly (post-LayerNorm, erf GELU, eps 1e-12).

``compute_dtype`` (``bfloat16``/``float16``) runs the dense layers, the attention matmuls
and GELU in 16 bits for mixed-precision training; the variables, the embedding sums, the
residual stream, every LayerNorm (statistics and affine), the attention softmax and the
outputs stay float32. In float32 every
cast is a no-op, so the graph is the plain float32 one.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import tensorflow as tf

from components.model.bert_config import BertConfig


def _initial_value(name: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    if name.endswith("/gamma"):
        return np.ones(shape, np.float32)
    if name.endswith(("/beta", "/bias")):
        return np.zeros(shape, np.float32)
    return rng.normal(0.0, 0.02, shape).astype(np.float32)


class BertEncoder(tf.Module):
    """BERT with the TF Hub encoder interface (dict of int32 ids in, dict of outputs out)."""

    def __init__(self, config: BertConfig, weights: Mapping[str, np.ndarray] | None = None,
                 seed: int = 0, name: str = "bert_encoder",
                 rename: Mapping[str, str] | None = None):
        """``rename`` maps our variable names to others (e.g. another library's layout)."""
        super().__init__(name=name)
        self.config = config
        rng = np.random.default_rng(seed)
        self._vars: dict[str, tf.Variable] = {}
        rename = rename or {}
        for var_name, shape in config.variable_shapes().items():
            value = weights[var_name] if weights is not None else _initial_value(var_name, shape, rng)
            value = np.asarray(value, np.float32)
            if value.shape != shape:
                raise ValueError(f"{var_name}: expected shape {shape}, got {value.shape}")
            self._vars[var_name] = tf.Variable(value, name=rename.get(var_name, var_name),
                                               trainable=True)
        self.weights_list = list(self._vars.values())

    def _v(self, name: str) -> tf.Variable:
        return self._vars[name]

    def _layer_norm(self, x: tf.Tensor, prefix: str) -> tf.Tensor:
        """In float32 whatever the compute dtype; returns float32."""
        x = tf.cast(x, tf.float32)
        mean, var = tf.nn.moments(x, axes=[-1], keepdims=True)
        normed = (x - mean) * tf.math.rsqrt(var + self.config.layer_norm_eps)
        return normed * self._v(prefix + "/gamma") + self._v(prefix + "/beta")

    def _dense(self, x: tf.Tensor, prefix: str) -> tf.Tensor:
        """In the dtype of ``x`` (the float32 variables are cast to it)."""
        kernel = tf.cast(self._v(prefix + "/kernel"), x.dtype)
        return tf.einsum("bsi,io->bso", x, kernel) + tf.cast(self._v(prefix + "/bias"), x.dtype)

    @staticmethod
    def _dropout(x: tf.Tensor, rate: float, training: bool) -> tf.Tensor:
        return tf.nn.dropout(x, rate=rate) if training and rate > 0 else x

    def _block(self, x: tf.Tensor, attention_bias: tf.Tensor, i: int, training: bool,
               dtype: tf.DType) -> tf.Tensor:
        """float32 ``x`` in and out; the projections run in ``dtype``."""
        cfg = self.config
        p = f"transformer/layer_{i}"
        batch, seq = tf.shape(x)[0], tf.shape(x)[1]
        head_dim = cfg.hidden_size // cfg.num_heads

        def heads(t: tf.Tensor) -> tf.Tensor:
            t = tf.reshape(t, [batch, seq, cfg.num_heads, head_dim])
            return tf.transpose(t, [0, 2, 1, 3])

        low = tf.cast(x, dtype)
        q = heads(self._dense(low, f"{p}/self_attention/query"))
        k = heads(self._dense(low, f"{p}/self_attention/key"))
        v = heads(self._dense(low, f"{p}/self_attention/value"))
        scores = tf.cast(tf.matmul(q, k, transpose_b=True), tf.float32)
        scores = scores * (1.0 / math.sqrt(head_dim)) + attention_bias
        probs = self._dropout(tf.nn.softmax(scores, axis=-1), cfg.attention_dropout, training)
        context = tf.reshape(tf.transpose(tf.matmul(tf.cast(probs, dtype), v), [0, 2, 1, 3]),
                             [batch, seq, cfg.hidden_size])
        attn = self._dense(context, f"{p}/self_attention/attention_output")
        x = self._layer_norm(x + tf.cast(self._dropout(attn, cfg.hidden_dropout, training),
                                         tf.float32),
                             f"{p}/self_attention_layer_norm")
        low = tf.cast(x, dtype)
        hidden = tf.nn.gelu(self._dense(low, f"{p}/intermediate"), approximate=False)
        out = self._dense(hidden, f"{p}/output")
        return self._layer_norm(x + tf.cast(self._dropout(out, cfg.hidden_dropout, training),
                                            tf.float32),
                                f"{p}/output_layer_norm")

    def __call__(self, inputs: Mapping[str, tf.Tensor], training: bool = False,
                 compute_dtype: str = "float32") -> dict:
        cfg = self.config
        dtype = tf.as_dtype(compute_dtype)
        ids = tf.cast(inputs["input_word_ids"], tf.int32)
        mask = tf.cast(inputs["input_mask"], tf.float32)
        types = tf.cast(inputs["input_type_ids"], tf.int32)
        seq = tf.shape(ids)[1]
        x = (tf.gather(self._v("embeddings/word_embeddings"), ids)
             + self._v("embeddings/position_embeddings")[tf.newaxis, :seq]
             + tf.gather(self._v("embeddings/type_embeddings"), types))
        x = self._dropout(self._layer_norm(x, "embeddings/layer_norm"), cfg.hidden_dropout, training)
        # Masked keys get a large negative bias; exp() of it is exactly 0 in float32.
        attention_bias = (1.0 - mask[:, tf.newaxis, tf.newaxis, :]) * -1e9
        encoder_outputs = []
        for i in range(cfg.num_layers):
            x = self._block(x, attention_bias, i, training, dtype)
            encoder_outputs.append(x)
        first = tf.cast(x[:, 0], dtype)
        pooled = tf.cast(tf.tanh(tf.matmul(first, tf.cast(self._v("pooler/kernel"), dtype))
                                 + tf.cast(self._v("pooler/bias"), dtype)), tf.float32)
        return {"sequence_output": x, "pooled_output": pooled, "encoder_outputs": encoder_outputs}
