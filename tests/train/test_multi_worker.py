"""Two local processes train together under MultiWorkerMirroredStrategy (TF_CONFIG on
loopback ports) on length-bucketed batches: every step gives both workers a slice of one
global batch, so of the same shape, and they end with bit-identical weights."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

WORKER = textwrap.dedent('''
    import sys, numpy as np
    import components
    from components.config import TrainConfig
    from components.keras import keras
    from components.train.trainer import make_strategy, run_train

    class Dump(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            np.savez(sys.argv[4], **{v.name: v.numpy() for v in self.model.variables})

    import tensorflow as tf
    strategy = make_strategy()
    assert isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy), type(strategy)
    cfg = TrainConfig(freeze="last:1", epochs=1, batch_size=16, max_train_examples=128,
                      learning_rate=5e-4, bucket_width=4)
    from components.contracts import PreparedExamples
    from components.train.trainer import make_datasets
    train_ds, _ = make_datasets(cfg, PreparedExamples.load(sys.argv[2]), 16, 2)
    steps = iter(strategy.experimental_distribute_dataset(train_ds))
    shapes = [tuple(strategy.experimental_local_results(next(steps)[0]["input_word_ids"])[0].shape)
              for _ in range(12)]
    print("shapes", shapes)
    result = run_train(cfg, sys.argv[1], sys.argv[2], sys.argv[3], strategy=strategy,
                       verbose=0, callbacks=[Dump()])
    print("replicas", result.replicas)
''')


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_end_with_identical_weights(minilm_dir, preprocessed, tmp_path):
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(2)]}
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen(
            [sys.executable, "-c", WORKER, minilm_dir, preprocessed.output_dir,
             str(tmp_path / "out"), str(tmp_path / f"weights_{index}.npz")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = []
    for proc in procs:
        try:
            outputs.append(proc.communicate(timeout=600)[0])
        finally:
            proc.kill()
    for proc, output in zip(procs, outputs):
        assert proc.returncode == 0, output[-3000:]
        assert "replicas 2" in output
    shapes = [next(line for line in out.splitlines() if line.startswith("shapes"))
              for out in outputs]
    assert shapes[0] == shapes[1], shapes          # the same shape on both workers, each step
    widths = {int(w) for w in re.findall(r"\(8, (\d+)\)", shapes[0])}
    assert len(re.findall(r"\(8, ", shapes[0])) == 12 and len(widths) >= 2, shapes[0]
    first, second = (np.load(tmp_path / f"weights_{i}.npz") for i in range(2))
    assert sorted(first.files) == sorted(second.files) and len(first.files) > 100
    for name in first.files:
        assert np.array_equal(first[name], second[name]), name
    trained = first["transformer/layer_5/output/kernel:0"]
    assert (tmp_path / "out" / "model" / "saved_model.pb").exists()   # the chief's
    assert not (tmp_path / "out" / ".worker-1").exists()                # scratch removed
    assert trained.shape == (1536, 384)
