"""Automatic precision: what is picked for which hardware, and where 16 bits really run."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from components.contracts import EncoderInfo
from components.train.precision import auto_policy, cpu_bf16_flags, resolve_precision


@pytest.mark.parametrize("gpus, flags, policy", [
    ([(9, 0)], [], "mixed_bfloat16"),
    ([(8, 0), (8, 6)], ["avx512_bf16"], "mixed_bfloat16"),
    ([(7, 5)], ["amx_bf16"], "mixed_float16"),          # the GPU decides, not the CPU
    ([(8, 0), (7, 0)], [], "mixed_float16"),            # the oldest GPU decides
    ([], ["avx512_bf16"], "mixed_bfloat16"),
    ([], ["amx_bf16"], "mixed_bfloat16"),
    ([], [], "float32"),
])
def test_auto_policy(gpus, flags, policy):
    assert auto_policy(gpus, flags)[0] == policy


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f amx_bf16 avx512_bf16\n")
    assert cpu_bf16_flags(str(cpuinfo)) == ["avx512_bf16", "amx_bf16"]
    assert cpu_bf16_flags(str(tmp_path / "missing")) == []


def test_old_encoder_export_computes_in_float32(tiny_encoder_dir):
    info = EncoderInfo.load(tiny_encoder_dir)
    assert "bfloat16" in info.compute_dtypes
    chosen = resolve_precision("auto", info, gpus=[], cpu_flags=["avx512_bf16"])
    assert (chosen.policy, chosen.encoder_dtype) == ("mixed_bfloat16", "bfloat16")
    import dataclasses

    old = resolve_precision("auto", dataclasses.replace(info, compute_dtypes=["float32"]),
                            gpus=[], cpu_flags=["avx512_bf16"])
    assert (old.policy, old.encoder_dtype) == ("mixed_bfloat16", "float32")
    assert "float32 only" in old.reason
    assert resolve_precision("", info).policy == "float32"


def _dtypes_by_op(graph) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for op in graph.get_operations():
        for out in op.outputs:
            found.setdefault(op.type, set()).add(out.dtype.name)
    return found


def test_bfloat16_runs_in_the_matmuls_not_in_softmax_or_layer_norm():
    from components.encoders.bert import BertEncoder
    from components.model.bert_config import BertConfig

    encoder = BertEncoder(BertConfig(vocab_size=50, hidden_size=32, num_layers=2, num_heads=2,
                                     intermediate_size=64, max_position_embeddings=64))
    ids = np.random.default_rng(0).integers(1, 50, (4, 12)).astype(np.int32)
    inputs = {"input_word_ids": ids, "input_mask": np.ones_like(ids),
              "input_type_ids": np.zeros_like(ids)}
    outputs, graphs = {}, {}
    for dtype in ("float32", "bfloat16"):
        fn = tf.function(lambda x, d=dtype: encoder(x, training=True, compute_dtype=d))
        graphs[dtype] = _dtypes_by_op(fn.get_concrete_function(inputs).graph)
        outputs[dtype] = encoder(inputs, compute_dtype=dtype)
    low = graphs["bfloat16"]
    assert low["Einsum"] == {"bfloat16"} and low["BatchMatMulV2"] == {"bfloat16"}
    assert low["Softmax"] == {"float32"}                      # attention probabilities
    assert low["Mean"] == {"float32"} and low["Rsqrt"] == {"float32"}   # LayerNorm statistics
    assert "bfloat16" not in str(graphs["float32"])           # float32 is the plain graph
    for name in ("sequence_output", "pooled_output"):
        assert outputs["bfloat16"][name].dtype == tf.float32
        np.testing.assert_allclose(outputs["bfloat16"][name], outputs["float32"][name],
                                   atol=0.1)
    assert np.abs(outputs["bfloat16"]["sequence_output"]
                  - outputs["float32"]["sequence_output"]).max() > 0


@pytest.mark.slow
def test_mixed_float16_trains_with_loss_scaling(tiny_encoder_dir, preprocessed_tiny, tmp_path):
    from components.config import TrainConfig
    from components.keras import keras
    from components.train.trainer import run_train

    seen = {}

    class Optimizer(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen["optimizer"] = type(self.model.optimizer).__name__

    cfg = TrainConfig(freeze="last:1", epochs=1, batch_size=16, max_train_examples=48,
                      mixed_precision="mixed_float16")
    result = run_train(cfg, tiny_encoder_dir, preprocessed_tiny.output_dir,
                       str(tmp_path / "t"), verbose=0, callbacks=[Optimizer()])
    assert np.isfinite(result.history["loss"][-1])
    assert "LossScale" in seen["optimizer"]
    assert result.report.precision == {"requested": "mixed_float16", "policy": "mixed_float16",
                                       "encoder_dtype": "float16", "reason": "as configured"}
