"""Keras callbacks the train step adds to Keras' own (backup, TensorBoard)."""

from __future__ import annotations

import time

import tensorflow as tf

from components import progress
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


class ProgressEvents(keras.callbacks.Callback):
    """Epoch begin/end events for the run view (``components/progress.py``) and, when the
    view asks for them, in-epoch progress at most every ``interval`` seconds."""

    def __init__(self, epochs: int, steps: int, interval: float = 1.0):
        super().__init__()
        self.epochs, self.steps, self.interval = epochs, steps, interval
        self.live = progress.progress_wanted()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._start, self._last = epoch + 1, time.perf_counter(), 0.0
        progress.emit(progress.EpochBegin(self._epoch, self.epochs, self.steps))

    def on_train_batch_end(self, batch, logs=None):
        if not self.live:
            return
        now = time.perf_counter()
        if now - self._last < self.interval and batch + 1 < self.steps:
            return
        self._last = now
        progress.emit(progress.Progress(self._epoch, self.epochs, batch + 1, self.steps,
                                        now - self._start, _floats(logs)))

    def on_epoch_end(self, epoch, logs=None):
        progress.emit(progress.EpochEnd(epoch + 1, self.epochs,
                                        time.perf_counter() - self._start, _floats(logs)))


def _floats(logs) -> dict[str, float]:
    out = {}
    for key, value in (logs or {}).items():
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            continue
    return out
