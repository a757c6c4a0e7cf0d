"""BERT's learning-rate recipe: linear warmup from 0, then linear decay to 0."""

from __future__ import annotations

import tensorflow as tf

from components.keras import keras


@keras.utils.register_keras_serializable(package="bertpipe")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, peak: float, total_steps: int, warmup_steps: int):
        self.peak = peak
        self.total_steps = max(int(total_steps), 1)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warm = tf.cast(max(self.warmup_steps, 1), tf.float32)
        total = tf.cast(self.total_steps, tf.float32)
        up = self.peak * step / warm
        down = self.peak * tf.maximum(total - step, 0.0) / tf.maximum(total - warm, 1.0)
        return tf.where(step < self.warmup_steps, up, down)

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps}
