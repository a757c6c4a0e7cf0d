"""Keras callbacks the train step adds to Keras' own (backup, TensorBoard)."""

from __future__ import annotations

import time

import tensorflow as tf

from components.keras import keras


class ThroughputLogger(keras.callbacks.Callback):
    """Adds ``steps_per_s``, ``examples_per_s`` and ``learning_rate`` to each epoch's logs
    (so to the training report's history and TensorBoard)."""

    def __init__(self, global_batch: int):
        super().__init__()
        self.global_batch = global_batch

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._steps = time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1
        self._end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        elapsed = max(self._end - self._start, 1e-9)  # training only, not validation
        logs["steps_per_s"] = self._steps / elapsed
        logs["examples_per_s"] = self._steps * self.global_batch / elapsed
        # With a schedule, the optimizer exposes the current rate as a variable.
        logs["learning_rate"] = float(tf.convert_to_tensor(self.model.optimizer.learning_rate))


class ResumeReporter(keras.callbacks.Callback):
    """Says where training starts when BackupAndRestore resumed it from a backup."""

    def on_train_begin(self, logs=None):
        self._epoch, self._reported = 0, False

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if not self._reported:
            self._reported = True
            if self._epoch or batch:
                print(f"resumed from backup at epoch {self._epoch + 1}, step {batch}", flush=True)
