"""Where layers are frozen: partial freezing of a TF Hub BERT encoder.

``hub.KerasLayer(trainable=...)`` is all-or-nothing and ``tf.Variable.trainable`` cannot be
changed after loading. ``PartiallyFrozenEncoder`` is a ``hub.KerasLayer`` whose
``trainable_weights`` leave out the frozen variables; Keras optimizers only ever see
``model.trainable_variables``, so frozen weights receive no update (no gradient, no weight decay,
no optimizer slot). The training tests prove this bit for bit.

Blocks are discovered from variable names (``embeddings/...``, ``transformer/layer_{i}/...``,
``pooler/...``), not assumed.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Iterable

import tensorflow as tf
import tensorflow_hub as hub

from components.config import ConfigError, parse_trainable_blocks

try:  # tf-keras, which tensorflow-hub requires (TF_USE_LEGACY_KERAS=1).
    import tf_keras as keras
except ImportError:  # pragma: no cover
    keras = tf.keras

_LAYER = re.compile(r"(?:^|/)transformer/layer_(\d+)/")


def block_of(variable_name: str) -> str:
    """``embeddings``, ``layer_{i}``, ``pooler`` or ``other`` for an encoder variable name."""
    match = _LAYER.search(variable_name)
    if match:
        return f"layer_{int(match.group(1))}"
    for block in ("embeddings", "pooler"):
        if re.search(rf"(?:^|/){block}/", variable_name):
            return block
    return "other"


def block_order(names: Iterable[str]) -> list[str]:
    """Blocks present in ``names``, bottom to top."""
    blocks = {block_of(n) for n in names}
    layers = sorted((b for b in blocks if b.startswith("layer_")), key=lambda b: int(b[6:]))
    return ([b for b in ("embeddings",) if b in blocks] + layers
            + [b for b in ("pooler", "other") if b in blocks])


def num_blocks(names: Iterable[str]) -> int:
    return sum(1 for b in block_order(names) if b.startswith("layer_"))


@dataclasses.dataclass(frozen=True)
class FreezePlan:
    """Which encoder blocks train. ``unused`` blocks do not reach the output (e.g. the pooler
    under mean pooling) and are frozen too, since they would get no gradient."""

    trainable_blocks: tuple[str, ...]
    frozen_blocks: tuple[str, ...]
    unused_blocks: tuple[str, ...]

    def is_trainable(self, variable_name: str) -> bool:
        return block_of(variable_name) in self.trainable_blocks


def plan_freezing(variable_names: Iterable[str], trainable_blocks: str | int,
                  uses_pooler: bool) -> FreezePlan:
    """The plan for ``--trainable-blocks``: the last N transformer blocks train, the rest (and
    the embeddings) stay frozen; ``all`` trains everything; ``0`` is feature extraction."""
    names = list(variable_names)
    order = block_order(names)
    layers = [b for b in order if b.startswith("layer_")]
    if not layers:
        raise ConfigError("the encoder has no transformer/layer_{i} variables: cannot freeze by block")
    n = parse_trainable_blocks(trainable_blocks, len(layers))
    if n is None:
        trainable = set(order)
    else:
        trainable = set(layers[len(layers) - n:])
        if n > 0:
            trainable |= {"pooler", "other"}
    unused = set() if uses_pooler else {"pooler"}
    trainable -= unused
    return FreezePlan(
        trainable_blocks=tuple(b for b in order if b in trainable),
        frozen_blocks=tuple(b for b in order if b not in trainable and b not in unused),
        unused_blocks=tuple(b for b in order if b in unused))


@keras.utils.register_keras_serializable(package="bertpipe")
class PartiallyFrozenEncoder(hub.KerasLayer):
    """A TF Hub encoder layer in which only the blocks named in ``trainable_blocks`` train."""

    def __init__(self, handle, trainable_blocks: Iterable[str] = (), **kwargs):
        kwargs["trainable"] = True
        super().__init__(handle, **kwargs)
        self._trainable_block_names = tuple(trainable_blocks)

    def set_trainable_blocks(self, blocks: Iterable[str]) -> None:
        """Chooses the trainable blocks; call before the model is compiled."""
        self._trainable_block_names = tuple(blocks)

    def _is_trainable(self, variable: tf.Variable) -> bool:
        return block_of(variable.name) in self._trainable_block_names

    @property
    def trainable_weights(self):
        return [w for w in super().trainable_weights if self._is_trainable(w)]

    @property
    def non_trainable_weights(self):
        frozen = [w for w in super().trainable_weights if not self._is_trainable(w)]
        return frozen + list(super().non_trainable_weights)

    def get_config(self):
        config = super().get_config()
        config["trainable_blocks"] = list(self._trainable_block_names)
        return config


def freeze_table(encoder_variables: Iterable[tf.Variable], plan: FreezePlan,
                 head_variables: Iterable[tf.Variable]) -> list[dict]:
    """Rows ``{block, status, params}`` bottom to top, plus the head; printed before training."""
    variables = list(encoder_variables)
    params: dict[str, int] = {}
    for v in variables:
        params[block_of(v.name)] = params.get(block_of(v.name), 0) + int(v.shape.num_elements())
    rows = []
    for block in block_order(v.name for v in variables):
        status = ("trainable" if block in plan.trainable_blocks
                  else "unused" if block in plan.unused_blocks else "frozen")
        rows.append({"block": block, "status": status, "params": params[block]})
    rows.append({"block": "classifier_head", "status": "trainable",
                 "params": sum(int(v.shape.num_elements()) for v in head_variables)})
    return rows


def format_freeze_table(rows: list[dict]) -> str:
    total = sum(r["params"] for r in rows)
    trainable = sum(r["params"] for r in rows if r["status"] == "trainable")
    lines = [f"{'block':<18}{'status':<11}{'params':>12}"]
    lines += [f"{r['block']:<18}{r['status']:<11}{r['params']:>12,}" for r in rows]
    lines.append(f"trainable parameters: {trainable:,} of {total:,} "
                 f"({100.0 * trainable / max(total, 1):.1f}%)")
    return "\n".join(lines)
