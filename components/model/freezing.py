"""Where layers are frozen: partial freezing of a TF Hub BERT encoder.

``hub.KerasLayer(trainable=...)`` is all-or-nothing and ``tf.Variable.trainable`` cannot be
changed after loading. ``PartiallyFrozenEncoder`` is a ``hub.KerasLayer`` whose
``trainable_weights`` leave out the frozen variables; Keras optimizers only ever see
``model.trainable_variables``, so frozen weights receive no update (no gradient, no weight decay,
no optimizer slot). The training tests prove this bit for bit.

What to freeze is a spec (``freeze_spec.py``: ``last:2``, ``first:4``, ``embeddings+blocks:0,1``,
regexes...) resolved against the encoder's own variable names: blocks are discovered
(``embeddings/...``, ``transformer/layer_{i}/...``, ``pooler/...``), not assumed.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable

import tensorflow as tf
import tensorflow_hub as hub
from tensorflow.python.trackable import data_structures

from components.freeze_spec import FreezeSpec, block_of, block_order
from components.keras import keras


@dataclasses.dataclass(frozen=True)
class FreezePlan:
    """Which encoder variables train. ``unused`` blocks do not reach the output (the pooler
    under cls/mean/max pooling) and are frozen too, since they would get no gradient."""

    spec: str
    trainable: frozenset[str]
    unused_blocks: tuple[str, ...]

    def is_trainable(self, variable_name: str) -> bool:
        return variable_name in self.trainable

    def block_status(self, names: Iterable[str]) -> dict[str, str]:
        """``trainable``, ``frozen``, ``partial`` or ``unused`` per block, bottom to top."""
        names = list(names)
        status = {}
        for block in block_order(names):
            members = [n for n in names if block_of(n) == block]
            inside = sum(n in self.trainable for n in members)
            status[block] = ("unused" if block in self.unused_blocks
                             else "trainable" if inside == len(members)
                             else "frozen" if inside == 0 else "partial")
        return status


def unfreezing_schedule(plan: FreezePlan, names: Iterable[str], epochs: int) -> list[frozenset[str]]:
    """Trainable names per epoch for gradual unfreezing: epoch 0 is the plan; each later epoch
    adds the highest block still frozen (transformer blocks top-down, the embeddings last)."""
    names = [n for n in names if block_of(n) != "other"]
    frozen_blocks = [b for b in block_order(names) if b not in plan.unused_blocks
                     and any(block_of(n) == b and n not in plan.trainable for n in names)]
    order = [b for b in reversed(frozen_blocks) if b.startswith("layer_")]
    order += [b for b in frozen_blocks if not b.startswith("layer_")]
    schedule, trainable = [], set(plan.trainable)
    for epoch in range(epochs):
        if epoch and order:
            block = order.pop(0)
            trainable |= {n for n in names if block_of(n) == block}
        schedule.append(frozenset(trainable))
    return schedule


class GradualUnfreezing(keras.callbacks.Callback):
    """Applies ``unfreezing_schedule`` at the start of each epoch (also after a resume),
    retracing the train function when the trainable set changes. Call ``prepare`` before
    training: it builds the optimizer's slots for the last epoch's variables up front."""

    def __init__(self, encoder: "PartiallyFrozenEncoder", schedule: list[frozenset[str]]):
        super().__init__()
        self.encoder, self.schedule = encoder, schedule

    def prepare(self, model, strategy) -> None:
        self.encoder.set_trainable_names(self.schedule[-1])
        with strategy.scope():
            model.optimizer.build(model.trainable_variables)
        self.encoder.set_trainable_names(self.schedule[0])

    def on_epoch_begin(self, epoch, logs=None):
        names = self.schedule[min(epoch, len(self.schedule) - 1)]
        self.encoder.set_trainable_names(names)
        self.model.train_function = self.model.make_train_function(force=True)
        print(f"epoch {epoch + 1}: {len(names)} encoder variables trainable", flush=True)


def plan_freezing(variable_names: Iterable[str], spec: str, uses_pooler: bool) -> FreezePlan:
    """Resolves a freezing spec (``freeze_spec.py``) against the encoder's variable names."""
    names = [n for n in variable_names if block_of(n) != "other"]
    frozen = FreezeSpec.parse(spec).frozen_names(names)
    unused = () if uses_pooler else tuple(b for b in ("pooler",) if b in block_order(names))
    trainable = frozenset(n for n in names if n not in frozen and block_of(n) not in unused)
    return FreezePlan(spec=spec, trainable=trainable, unused_blocks=unused)


@keras.utils.register_keras_serializable(package="bertpipe")
class PartiallyFrozenEncoder(hub.KerasLayer):
    """A TF Hub encoder layer in which only the variables named in ``trainable_names`` train.

    ``encoder_dtype`` is the dtype the encoder computes in (its ``compute_dtype`` argument,
    see ``EncoderInfo.compute_dtypes``); its variables and outputs are float32 either way."""

    def __init__(self, handle, trainable_names: Iterable[str] = (),
                 encoder_dtype: str = "float32", **kwargs):
        kwargs["trainable"] = True
        kwargs.pop("arguments", None)  # compute_dtype is the only one, kept in encoder_dtype
        super().__init__(handle, **kwargs)
        self._trainable_names = frozenset(trainable_names)
        self.set_encoder_dtype(encoder_dtype)

    def set_encoder_dtype(self, dtype: str) -> None:
        """Computes in ``dtype`` from the next trace on (float32 passes no argument, so
        encoders exported without a ``compute_dtype`` argument keep working)."""
        self.encoder_dtype = dtype
        self._arguments = data_structures.NoDependency(
            {} if dtype == "float32" else {"compute_dtype": dtype})

    def set_trainable_names(self, names: Iterable[str]) -> None:
        """Chooses the trainable variables (by name); call before the model is compiled."""
        self._trainable_names = frozenset(names)

    def _is_trainable(self, variable: tf.Variable) -> bool:
        return variable.name in self._trainable_names

    @property
    def trainable_weights(self):
        return [w for w in super().trainable_weights if self._is_trainable(w)]

    @property
    def non_trainable_weights(self):
        frozen = [w for w in super().trainable_weights if not self._is_trainable(w)]
        return frozen + list(super().non_trainable_weights)

    def call(self, inputs, training=None):
        # A fully frozen encoder is a fixed feature extractor: run it in inference mode (no
        # dropout), as Keras runs frozen layers, which also makes its features deterministic.
        if not self._trainable_names:
            training = False
        return super().call(inputs, training=training)

    def get_config(self):
        config = super().get_config()
        config["trainable_names"] = sorted(self._trainable_names)
        config["encoder_dtype"] = self.encoder_dtype
        config.pop("arguments", None)
        return config


def freeze_table(encoder_variables: Iterable[tf.Variable], plan: FreezePlan,
                 head_variables: Iterable[tf.Variable]) -> list[dict]:
    """Rows ``{block, status, params}`` bottom to top, plus the head; printed before training."""
    variables = list(encoder_variables)
    params: dict[str, int] = {}
    for v in variables:
        params[block_of(v.name)] = params.get(block_of(v.name), 0) + int(v.shape.num_elements())
    trainable_params: dict[str, int] = {}
    for v in variables:
        if plan.is_trainable(v.name):
            block = block_of(v.name)
            trainable_params[block] = trainable_params.get(block, 0) + int(v.shape.num_elements())
    rows = []
    for block, status in plan.block_status(v.name for v in variables).items():
        rows.append({"block": block, "status": status, "params": params[block],
                     "trainable_params": trainable_params.get(block, 0)})
    head = sum(int(v.shape.num_elements()) for v in head_variables)
    rows.append({"block": "classifier_head", "status": "trainable", "params": head,
                 "trainable_params": head})
    return rows


def format_freeze_table(rows: list[dict]) -> str:
    total = sum(r["params"] for r in rows)
    trainable = sum(r["trainable_params"] for r in rows)
    lines = [f"{'block':<18}{'status':<11}{'params':>12}{'trainable':>12}"]
    lines += [f"{r['block']:<18}{r['status']:<11}{r['params']:>12,}{r['trainable_params']:>12,}"
              for r in rows]
    lines.append(f"trainable parameters: {trainable:,} of {total:,} "
                 f"({100.0 * trainable / max(total, 1):.1f}%)")
    return "\n".join(lines)
