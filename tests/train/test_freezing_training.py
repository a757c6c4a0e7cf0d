"""Frozen means bit-identical: real training under a 2-replica MirroredStrategy."""

from __future__ import annotations

import numpy as np
import pytest

from components.config import ConfigError, TrainConfig
from components.train.freezing import block_of, keras, plan_freezing
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


def train_with_snapshot(trainable_blocks, pooling, minilm_dir, preprocessed, strategy, tmp_path):
    snap = Snapshot()
    cfg = TrainConfig(trainable_blocks=trainable_blocks, pooling=pooling, epochs=1,
                      batch_size=16, learning_rate=1e-3, warmup_fraction=0.0)
    result = run_train(cfg, minilm_dir, preprocessed.output_dir, str(tmp_path / "train"),
                       strategy=strategy, verbose=0, callbacks=[snap])
    return result, snap


@pytest.mark.parametrize("trainable_blocks, pooling, trainable_expected", [
    ("2", "pooled", {"layer_4", "layer_5", "pooler"}),
    ("2", "mean", {"layer_4", "layer_5"}),
    ("0", "mean", set()),
    ("all", "cls", {"embeddings"} | {f"layer_{i}" for i in range(6)}),
])
def test_frozen_weights_bit_identical(trainable_blocks, pooling, trainable_expected, minilm_dir,
                                      preprocessed, two_cpu_strategy, tmp_path):
    result, snap = train_with_snapshot(trainable_blocks, pooling, minilm_dir, preprocessed,
                                       two_cpu_strategy, tmp_path)
    assert result.replicas == 2
    encoder_vars = [n for n in snap.before if block_of(n) != "other"]
    assert len(encoder_vars) == 103
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
    trainable_blocks_seen = {block_of(n) for n in snap.trainable} - {"other"}
    assert trainable_blocks_seen == trainable_expected
    # head: logits kernel + bias are trainable and are the only non-encoder trainables
    assert {n for n in snap.trainable if block_of(n) == "other"} == {"logits/kernel:0",
                                                                     "logits/bias:0"}
    assert result.trainable_params == changed_params
    table_trainable = sum(r["params"] for r in result.freeze_table if r["status"] == "trainable")
    assert table_trainable == result.trainable_params


def test_plan_rejects_too_many_blocks():
    names = [f"transformer/layer_{i}/output/kernel:0" for i in range(6)] + ["embeddings/w:0"]
    with pytest.raises(ConfigError, match="only 6 transformer blocks"):
        plan_freezing(names, "7", uses_pooler=True)
    plan = plan_freezing(names, "6", uses_pooler=False)
    assert plan.frozen_blocks == ("embeddings",)
