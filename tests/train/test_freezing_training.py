"""Frozen means bit-identical: real training under a 2-replica MirroredStrategy."""

from __future__ import annotations

import re

import numpy as np
import pytest

from components.config import ConfigError, TrainConfig
from components.freeze_spec import block_of
from components.keras import keras
from components.model.freezing import plan_freezing
from components.train.trainer import run_train


class Snapshot(keras.callbacks.Callback):
    """Every variable of the model (each replica's copy) before and after training."""

    def on_train_begin(self, logs=None):
        self.before = self._take()

    def on_train_end(self, logs=None):
        self.after = self._take()
        self.trainable = {v.name for v in self.model.trainable_variables}

    def _take(self):
        values = {}
        for v in self.model.variables:
            replicas = getattr(v, "values", (v,))
            values[v.name] = [np.array(r.numpy()) for r in replicas]
        return values


def train_with_snapshot(freeze, pooling, minilm_dir, preprocessed, strategy, tmp_path):
    snap = Snapshot()
    cfg = TrainConfig(freeze=freeze, pooling=pooling, epochs=1, batch_size=16,
                      max_train_examples=48, learning_rate=1e-3, warmup_fraction=0.0)
    result = run_train(cfg, minilm_dir, preprocessed.output_dir, str(tmp_path / "train"),
                       strategy=strategy, verbose=0, callbacks=[snap])
    return result, snap


ALL_LAYERS = {f"layer_{i}" for i in range(6)}


def in_blocks(*blocks):
    return lambda name: block_of(name) in blocks


# (freeze spec, pooling, predicate: should this encoder variable train?)
MODES = [
    ("last:2", "pooled", in_blocks("layer_4", "layer_5", "pooler")),
    ("last:2", "mean", in_blocks("layer_4", "layer_5")),
    ("all", "mean", lambda name: False),
    ("none", "cls", in_blocks("embeddings", *ALL_LAYERS)),
    ("embeddings", "mean", in_blocks(*ALL_LAYERS)),
    ("first:4", "pooled", in_blocks("layer_4", "layer_5", "pooler")),
    ("embeddings+blocks:0,2,5", "max", in_blocks("layer_1", "layer_3", "layer_4")),
    ("last:1+exclude:layer_norm", "mean",
     lambda name: block_of(name) == "layer_5" or "layer_norm" in name),
    ("include:self_attention/(query|key|value)", "cls",
     lambda name: block_of(name) != "pooler" and not re.search("query|key|value", name)),
]


# make test-fast trains three of the modes (whole tail blocks with the pooler, nothing, and
# partial blocks); the others are in the slow tier.
@pytest.mark.parametrize("freeze, pooling, should_train", [
    pytest.param(*m, marks=[] if m[:2] in {("last:2", "pooled"), ("all", "mean"),
                                           ("last:1+exclude:layer_norm", "mean")}
                 else [pytest.mark.slow]) for m in MODES], ids=[m[0] + "-" + m[1] for m in MODES])
def test_frozen_weights_bit_identical(freeze, pooling, should_train, tiny6_encoder_dir,
                                      preprocessed_tiny, two_cpu_strategy, tmp_path):
    result, snap = train_with_snapshot(freeze, pooling, tiny6_encoder_dir, preprocessed_tiny,
                                       two_cpu_strategy, tmp_path)
    assert result.replicas == 2
    encoder_vars = [n for n in snap.before if block_of(n) != "other"]
    assert len(encoder_vars) == 103
    assert {n for n in encoder_vars if n in snap.trainable} == {
        n for n in encoder_vars if should_train(n)}
    changed_params = 0
    for name in snap.before:
        before, after = snap.before[name], snap.after[name]
        for replica_after in after:  # replicas stay in sync
            assert np.array_equal(replica_after, after[0]), name
        same = all(np.array_equal(b, a) for b, a in zip(before, after))
        if name in snap.trainable:
            assert not same, f"trainable variable {name} did not change"
            changed_params += after[0].size
        else:
            assert same, f"frozen variable {name} changed"
    # the head's kernel and bias are the only trainable variables outside the encoder
    assert {n for n in snap.trainable if block_of(n) == "other"} == {"logits/kernel:0",
                                                                     "logits/bias:0"}
    assert result.trainable_params == changed_params
    assert sum(r["trainable_params"] for r in result.freeze_table) == result.trainable_params


def test_plan_rejects_out_of_range_and_reports_partial_blocks():
    names = [f"transformer/layer_{i}/output/kernel:0" for i in range(6)] + [
        f"transformer/layer_{i}/output_layer_norm/gamma:0" for i in range(6)] + [
        "embeddings/w:0", "pooler/kernel:0"]
    with pytest.raises(ConfigError, match="only 6 transformer blocks"):
        plan_freezing(names, "last:7", uses_pooler=True)
    plan = plan_freezing(names, "first:6", uses_pooler=False)
    assert plan.block_status(names)["embeddings"] == "frozen"
    assert plan.block_status(names)["pooler"] == "unused"
    plan = plan_freezing(names, "all+exclude:layer_norm", uses_pooler=True)
    status = plan.block_status(names)
    assert status["layer_0"] == "partial" and status["embeddings"] == "frozen"


@pytest.mark.slow
def test_hidden_head_layer_and_balanced_class_weights(minilm_dir, preprocessed, tmp_path):
    from components.train.trainer import balanced_class_weights

    weights = balanced_class_weights(["a", "b", "c"], {"a": 60, "b": 30, "c": 10})
    assert weights == pytest.approx({0: 100 / 180, 1: 100 / 90, 2: 100 / 30})

    cfg = TrainConfig(freeze="all", pooling="mean", epochs=1, batch_size=16, hidden_units=8,
                      class_weighting="balanced", weight_decay=0.0, clip_norm=0.0)
    result = run_train(cfg, minilm_dir, preprocessed.output_dir, str(tmp_path / "t"), verbose=0)
    head = [row for row in result.freeze_table if row["block"] == "classifier_head"][0]
    assert head["trainable_params"] == 384 * 8 + 8 + 8 * 2 + 2 == result.trainable_params
    assert {"steps_per_s", "examples_per_s", "learning_rate"} <= set(result.history)


class EpochSnapshot(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.values = [{v.name: v.numpy().copy() for v in self.model.variables}]

    def on_epoch_end(self, epoch, logs=None):
        self.values.append({v.name: v.numpy().copy() for v in self.model.variables})


@pytest.mark.slow
def test_gradual_unfreezing_adds_one_block_per_epoch(tiny6_encoder_dir, preprocessed_tiny,
                                                     two_cpu_strategy, tmp_path):
    snap = EpochSnapshot()
    cfg = TrainConfig(freeze="last:1", pooling="mean", epochs=3, batch_size=32,
                      learning_rate=1e-3, warmup_fraction=0.0, gradual_unfreeze=True,
                      max_train_examples=96)
    run_train(cfg, tiny6_encoder_dir, preprocessed_tiny.output_dir, str(tmp_path / "t"),
              strategy=two_cpu_strategy, verbose=0, callbacks=[snap])

    def changed(block: str, epoch: int) -> bool:
        """Did any variable of ``block`` change during ``epoch``?"""
        before, after = snap.values[epoch], snap.values[epoch + 1]
        return any(not np.array_equal(before[n], after[n]) for n in before if block_of(n) == block)

    # epoch 0: layer_5 only; epoch 1: + layer_4; epoch 2: + layer_3
    assert [changed("layer_5", e) for e in range(3)] == [True, True, True]
    assert [changed("layer_4", e) for e in range(3)] == [False, True, True]
    assert [changed("layer_3", e) for e in range(3)] == [False, False, True]
    for block in ("embeddings", "layer_0", "layer_1", "layer_2", "pooler"):
        assert not any(changed(block, e) for e in range(3)), block


@pytest.mark.slow
def test_mixed_precision_and_xla_options_train(tiny_encoder_dir, preprocessed_tiny, tmp_path):
    cfg = TrainConfig(freeze="last:1", pooling="mean", epochs=1, batch_size=32,
                      max_train_examples=64, mixed_precision="mixed_bfloat16", xla=True)
    result = run_train(cfg, tiny_encoder_dir, preprocessed_tiny.output_dir, str(tmp_path / "t"),
                       verbose=0)
    assert np.isfinite(result.history["loss"][-1])
    from components.model.classifier import load_classifier

    model = load_classifier(result.model_dir)
    assert model.get_layer("head_dropout").compute_dtype == "bfloat16"
    assert model.output.dtype == "float32"
    assert keras.mixed_precision.global_policy().name == "float32"  # restored afterwards
