"""How much memory a training run needs, estimated before it starts, and the advice when it
will not fit: a refusal with a batch size that does fit beats an OOM kill an hour in.

Pure Python (no TensorFlow), so the CLI checks it with the other settings. The model is
empirical, fitted on this project's own train step (MiniLM, CPU, peak resident memory of
3-step fits at batch × length 32×128, 64×256 and 16×512; within 10 % of each, see
``benchmarks/RESULTS.md``): a TensorFlow runtime of about 0.75 GiB, the weights, then for
trainable variables a gradient and AdamW's two slots, and for every trainable block the
activations kept for the backward pass, per token ``34·hidden + 2·heads·length`` floats
(the second term is the attention scores and probabilities; mixed precision keeps about
0.73 of it). Frozen blocks below the lowest trainable one keep nothing (the tape does not
watch them, ``FrozenAwareModel``); one block's activations are alive while it runs.
The length is ``max_seq_length``: length buckets cut most batches shorter, but a batch of
long texts can come at any step.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from components.model.bert_config import BertConfig
from components.errors import ConfigError
from components.freeze_spec import FreezeSpec, block_of

GIB = 1024**3
RUNTIME_BYTES = int(0.75 * GIB)
HIDDEN_FLOATS, SCORE_FLOATS = 34, 2
MIXED_ACTIVATION_SHARE = 0.73
WARN_SHARE = 0.8  # above this share of the limit: a warning, not an error


@dataclasses.dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a run needs at its peak, by part, and what drives them."""

    runtime: int
    weights: int
    optimizer: int
    activations: int
    batch_per_replica: int
    max_seq_length: int
    trainable_blocks: int

    @property
    def total(self) -> int:
        return self.runtime + self.weights + self.optimizer + self.activations


def _trainable_layers(config: BertConfig, freeze: str) -> tuple[int, int]:
    """(trainable transformer blocks, trainable parameters) of a freezing spec at its start
    (``auto`` freezes nothing up front: its peak is at the start)."""
    shapes = config.variable_shapes()
    frozen = FreezeSpec.parse(freeze).frozen_names(shapes)
    trainable = [n for n in shapes if n not in frozen]
    params = sum(_size(shapes[n]) for n in trainable)
    layers = {block_of(n) for n in trainable if block_of(n).startswith("layer_")}
    return len(layers), params


def estimate_training_memory(config: BertConfig, freeze: str, batch_per_replica: int,
                             max_seq_length: int, mixed_precision: bool) -> MemoryEstimate:
    """The peak resident memory of one training replica (see the module docstring)."""
    total_params = sum(_size(s) for s in config.variable_shapes().values())
    blocks, trainable_params = _trainable_layers(config, freeze)
    per_token = (HIDDEN_FLOATS * config.hidden_size
                 + SCORE_FLOATS * config.num_heads * max_seq_length) * 4
    share = MIXED_ACTIVATION_SHARE if mixed_precision else 1.0
    kept = max(blocks, 1)  # a frozen encoder still holds one block's activations while it runs
    activations = int(kept * batch_per_replica * max_seq_length * per_token * share)
    return MemoryEstimate(runtime=RUNTIME_BYTES, weights=4 * total_params,
                          optimizer=3 * 4 * trainable_params, activations=activations,
                          batch_per_replica=batch_per_replica, max_seq_length=max_seq_length,
                          trainable_blocks=blocks)


def _size(shape: tuple[int, ...]) -> int:
    size = 1
    for dim in shape:
        size *= dim
    return size


def memory_limit_bytes() -> tuple[int, str]:
    """This machine's (or container's) memory ceiling and where it comes from: the cgroup
    limit when one is set (a pod's ``resources.limits.memory``), else the physical memory."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:
            return int(text), "the container's memory limit"
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "this machine's memory"
    except (ValueError, OSError):
        return 0, ""


def _gib(value: float) -> str:
    return f"{value / GIB:.1f} GiB"


def check_training_memory(config: BertConfig, freeze: str, batch_per_replica: int,
                          max_seq_length: int, mixed_precision: bool, limit: int,
                          limit_name: str) -> str:
    """Raises ``ConfigError`` with advice when the estimate exceeds ``limit``; returns a
    warning line when it is above ``WARN_SHARE`` of it, else ''. ``limit`` 0: unknown."""
    if limit <= 0:
        return ""
    need = estimate_training_memory(config, freeze, batch_per_replica, max_seq_length,
                                    mixed_precision)
    if need.total <= limit:
        if need.total > WARN_SHARE * limit:
            return (f"warning: training may need about {_gib(need.total)} of {limit_name} "
                    f"({_gib(limit)}) at batch {batch_per_replica} per replica × length "
                    f"{max_seq_length}; lower the batch size if it is killed")
        return ""
    fits = batch_per_replica
    while fits > 1 and estimate_training_memory(config, freeze, fits, max_seq_length,
                                                mixed_precision).total > WARN_SHARE * limit:
        fits //= 2
    advice = [f"a batch of {fits} per replica" if fits < batch_per_replica else "",
              "a shorter max_seq_length" if max_seq_length > 128 else "",
              "freezing more blocks (e.g. --freeze last:2)" if need.trainable_blocks > 2 else ""]
    raise ConfigError(
        f"training would need about {_gib(need.total)} (batch {batch_per_replica} per replica × "
        f"length {max_seq_length}, {need.trainable_blocks} trainable blocks: "
        f"{_gib(need.activations)} of activations) but {limit_name} is {_gib(limit)}: "
        f"try {' or '.join(a for a in advice if a) or 'a machine with more memory'}")


def check_before_training(config: BertConfig | None, freeze: str, batch_per_replica: int,
                          max_seq_length: int, precision_policy: str) -> None:
    """``check_training_memory`` against this machine's (or pod's) ceiling, printing the
    warning if any; nothing when the encoder's architecture is unknown (a TF Hub model)."""
    if config is None:
        return
    limit, name = memory_limit_bytes()
    warning = check_training_memory(config, freeze, batch_per_replica, max_seq_length,
                                    precision_policy.startswith("mixed"), limit, name)
    if warning:
        print(warning, flush=True)
