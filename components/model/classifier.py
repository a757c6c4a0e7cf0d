"""The classifier: a partially frozen TF Hub BERT encoder, pooling, dropout and a dense head.

    model, encoder, plan = build_classifier(encoder_dir, num_labels=2, freeze="last:2",
                                            pooling="mean", dropout=0.1)
    logits = model({"input_word_ids": ids, "input_mask": mask, "input_type_ids": types})
    model = load_classifier(f"{model_artifact}/model")   # what train saved, in evaluate/export
"""

from __future__ import annotations

import tensorflow as tf

from components.contracts import ENCODER_INPUTS
from components.keras import keras
from components.model.freezing import FreezePlan, PartiallyFrozenEncoder, plan_freezing


@keras.utils.register_keras_serializable(package="bertpipe")
class MaskedPooling(keras.layers.Layer):
    """``cls``, ``mean`` or ``max`` over the sequence, ignoring padded positions."""

    def __init__(self, mode: str, **kwargs):
        super().__init__(**kwargs)
        self.mode = mode

    def call(self, sequence_output, input_mask):
        if self.mode == "cls":
            return sequence_output[:, 0]
        mask = tf.cast(input_mask, sequence_output.dtype)[:, :, tf.newaxis]
        if self.mode == "mean":
            return tf.reduce_sum(sequence_output * mask, 1) / tf.maximum(tf.reduce_sum(mask, 1), 1.0)
        if self.mode == "max":
            return tf.reduce_max(sequence_output + (1.0 - mask) * -1e9, axis=1)
        raise ValueError(f"unknown pooling {self.mode!r}")

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.utils.register_keras_serializable(package="bertpipe")
class FrozenAwareModel(keras.Model):
    """Keras' own train step, except that the gradient tape watches only the trainable
    variables. Frozen encoder variables are then not recorded at all, so a fully frozen
    encoder runs a plain forward pass (no activations kept for a backward pass).

    ``gradient_probe`` (``freeze: auto``'s ``GradientNormProbe``, set before the train
    function is traced) sees the gradients before the optimizer applies them."""

    gradient_probe = None

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        variables = self.trainable_variables
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(variables)
            y_pred = self(x, training=True)
            loss = self.compute_loss(x, y, y_pred, sample_weight)
        if self.gradient_probe is None:
            self.optimizer.minimize(loss, variables, tape=tape)
        else:  # minimize's two halves, the probe between them
            grads_and_vars = self.optimizer.compute_gradients(loss, variables, tape)
            self.gradient_probe.record(grads_and_vars)
            self.optimizer.apply_gradients(grads_and_vars)
        return self.compute_metrics(x, y, y_pred, sample_weight)


def build_classifier(encoder_dir: str, num_labels: int, freeze: str, pooling: str,
                     dropout: float, seed: int = 42, hidden_units: int = 0,
                     encoder_dtype: str = "float32"
                     ) -> tuple[keras.Model, PartiallyFrozenEncoder, FreezePlan]:
    """Returns the Keras model (ids in, logits out), its encoder layer and the freeze plan.

    The sequence length is free (``[batch, None]`` ids), so that batches can be cut to their
    longest text. The plan is made from the loaded encoder's own variable names (see
    ``freezing.py``); ``encoder_dtype`` is the encoder's compute dtype. Pooling and logits
    are float32 under any policy.
    """
    inputs = {name: keras.layers.Input(shape=(None,), dtype=tf.int32, name=name)
              for name in ENCODER_INPUTS}
    encoder = PartiallyFrozenEncoder(encoder_dir, encoder_dtype=encoder_dtype, name="encoder")
    plan = plan_freezing([w.name for w in encoder.weights], freeze,
                         uses_pooler=pooling == "pooled")
    encoder.set_trainable_names(plan.trainable)
    outputs = encoder(inputs)
    if pooling == "pooled":
        features = outputs["pooled_output"]
    else:
        features = MaskedPooling(pooling, name=f"{pooling}_pooling", dtype="float32")(
            outputs["sequence_output"], inputs["input_mask"])
    features = keras.layers.Dropout(dropout, seed=seed, name="head_dropout")(features)
    if hidden_units:
        features = keras.layers.Dense(
            hidden_units, activation="gelu", name="head_hidden",
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02, seed=seed))(features)
    logits = keras.layers.Dense(
        num_labels, name="logits", dtype="float32",  # float32 logits under mixed precision
        kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02, seed=seed))(features)
    return FrozenAwareModel(inputs, logits, name="bert_classifier"), encoder, plan


def load_classifier(model_dir: str) -> keras.Model:
    """The Keras model the train step saved (its layers are registered by this module)."""
    return keras.models.load_model(model_dir, compile=False)
