"""Where layers are frozen: partial freezing of a TF Hub BERT encoder.

``hub.KerasLayer(trainable=...)`` is all-or-nothing and ``tf.Variable.trainable`` cannot be
changed after loading. ``PartiallyFrozenEncoder`` is a ``hub.KerasLayer`` whose
``trainable_weights`` leave out the frozen variables; Keras optimizers only ever see
``model.trainable_variables``, so frozen weights receive no update (no gradient, no weight decay,
no optimizer slot). The training tests prove this bit for bit.

What to freeze is a spec (``freeze_spec.py``: ``last:2``, ``first:4``, ``embeddings+blocks:0,1``,
regexes...) resolved against the encoder's own variable names: blocks are discovered
(``embeddings/...``, ``transformer/layer_{i}/...``, ``pooler/...``), not assumed.

The trainable set can also change during training, always between two train steps and with
the train function retraced, so the gradient tape keeps watching only trainable variables:
``GradualUnfreezing`` adds blocks at epoch starts; ``AutoFreezing`` (``freeze: auto``) removes
them bottom up once their gradients show they have converged (AutoFreeze, Liu et al. 2021).
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Iterable

import numpy as np
import tensorflow as tf
import tensorflow_hub as hub
from tensorflow.python.trackable import data_structures

from components.contracts import FreezeDecision
from components.freeze_spec import FreezeSpec, block_of, block_order
from components.keras import keras


@dataclasses.dataclass(frozen=True)
class FreezePlan:
    """Which encoder variables train. ``unused`` blocks do not reach the output (the pooler
    under cls/mean/max pooling) and are frozen too, since they would get no gradient."""

    spec: str
    trainable: frozenset[str]
    unused_blocks: tuple[str, ...]
    auto: bool = False  # ``freeze: auto``: ``trainable`` is where training starts

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


# --- freeze: auto ------------------------------------------------------------------------
#
# The rule (AutoFreeze, Liu et al. 2021): every ``interval`` steps, each trainable block's
# gradient norm over the interval (the root mean square of its per-step, per-replica gradient
# norm) is compared with the previous interval's; the change rate |n_now - n_before| / n_before
# says how much the block is still moving. The P-th percentile of the rates of all trainable
# encoder blocks is the threshold; the lowest trainable candidate freezes when its rate is at
# or below it, and so does the next one up while that holds too (one retrace for all of them:
# a retrace costs seconds). Candidates are the embeddings and the transformer blocks below the
# top ``min_trainable_blocks``; the pooler and the head never freeze. Intervals that begin
# during the learning-rate warmup are not compared: gradient norms then follow the schedule
# (they grew tenfold over MiniLM's warmup on Rotten Tomatoes), not convergence.
#
# The progress gate: no block freezes before the training loss over two intervals in a row
# is ``min_progress`` below the loss of the label prior (``label_prior_loss``). Until the model has
# learned that much, gradients that stopped changing can be a plateau, not converged lower
# blocks: on VitaminC (400 steps) the gate at 10% opened at steps 220-320, the rule froze down
# to two blocks within 60 steps while the loss was still falling and the lower blocks'
# gradient norms still growing, and the run lost 4.7 points. At 20% (the default) it opened
# at steps 340-380 there, and the freezes then (to 2 blocks on 2 of 3 seeds) cost nothing; Rotten
# Tomatoes passes 20% at steps 40-90 of 200, inside the first epoch, where a 30% gate opened
# at step 110 on some seeds: the second epoch's drop in loss on texts seen once already, so
# the speed-up swung with the epoch boundary.
#
# The embeddings are frozen from the start unless ``auto_freeze_embeddings`` is off
# (``TrainConfig.start_freeze``): for single texts all of them (``embeddings+auto``), for
# sentence pairs the word-embedding matrix only (``word_embeddings+auto``). The matrix is half
# of MiniLM's weights, and AdamW updates all of it every step (the study: full depth without
# it ran at 1.1-1.3x, within noise of full fine-tuning on Rotten Tomatoes). In a pair the
# token types tell the two texts apart, and MiniLM's two start nearly equal (cosine 0.94):
# frozen with the matrix, VitaminC lost about a point over 10 runs; with the rest of the
# embeddings (positions, token types, their LayerNorm: 0.2M weights) trainable, `auto` scored
# 0.650-0.659 on 3 seeds, 1.8 points above full fine-tuning in the same sweep. A block left
# partly trainable like that is not judged by its own gradients: it freezes with the lowest
# block that is (``with_block_above``), since a block below a frozen one would keep the
# backward pass running through every frozen block above it. Frozen from the first step
# rather than at the warmup's end, the matrix saves the warmup's steps too, and no retrace
# is spent on it.

AUTO_SIGNAL = "grad_norm_change"
RIDER_SIGNAL = "with_block_above"  # a partly frozen block, frozen with the block above it
GATE_INTERVALS = 2  # the progress gate wants this many intervals in a row past it
AUTO_INTERVAL_SHARE, AUTO_MIN_INTERVAL = 0.05, 5


def auto_freeze_interval(setting: int, total_steps: int) -> int:
    """Steps between two looks: ``setting``, or 5% of the run (at least 5 steps)."""
    return setting or max(AUTO_MIN_INTERVAL, round(AUTO_INTERVAL_SHARE * total_steps))


def auto_freeze_candidates(plan: FreezePlan, names: Iterable[str],
                           min_trainable_blocks: int) -> list[str]:
    """The blocks ``auto`` may freeze, bottom up (``FreezeSpec.auto_candidates``)."""
    return FreezeSpec.parse(plan.spec).auto_candidates(names, min_trainable_blocks)


def blocks_to_freeze(rates: dict[str, float], candidates: list[str],
                     percentile: float) -> tuple[list[str], float]:
    """The rule, on one interval's change ``rates`` of every trainable block: returns the
    blocks to freeze now (the still trainable ``candidates``, bottom up, while each one's rate
    is at or below the threshold) and the threshold (the ``percentile`` of all rates)."""
    if len(rates) < 2:
        return [], float("nan")
    threshold = float(np.percentile(list(rates.values()), percentile))
    chosen = []
    for block in candidates:
        if block not in rates or rates[block] > threshold:
            break
        chosen.append(block)
    return chosen, threshold


def label_prior_loss(per_label: dict[str, int], balanced: bool = False) -> float:
    """The cross-entropy of always predicting the train split's label frequencies (their
    entropy, in nats): what a model that learned nothing from the text scores. Under balanced
    class weights every class weighs the same, so it is ln(classes)."""
    counts = np.array([c for c in per_label.values() if c > 0], dtype=np.float64)
    if counts.size < 2:
        return 0.0
    if balanced:
        return float(np.log(counts.size))
    shares = counts / counts.sum()
    return float(-(shares * np.log(shares)).sum())


def _squared_norm(gradient) -> tf.Tensor:
    """The squared L2 norm of a gradient; an ``IndexedSlices`` one (the word embeddings) has
    its repeated rows summed first, as the dense gradient would."""
    if isinstance(gradient, tf.IndexedSlices):
        rows, index = tf.unique(gradient.indices)
        values = tf.math.unsorted_segment_sum(gradient.values, index, tf.size(rows))
        return tf.reduce_sum(tf.square(tf.cast(values, tf.float32)))
    return 2.0 * tf.nn.l2_loss(tf.cast(gradient, tf.float32))  # one fused op: sum(g ** 2) / 2


class GradientNormProbe:
    """Per-block sums of squared gradient norms, added up inside the train step
    (``FrozenAwareModel``) into one replica-local variable per replica (``ON_READ``, ``SUM``):
    reading it from the callback sums the replicas (across workers too). A block's frozen
    variables have no gradient, so a frozen block adds nothing."""

    def __init__(self, blocks: list[str], strategy: tf.distribute.Strategy):
        self.blocks = list(blocks)
        self._index = {b: i for i, b in enumerate(self.blocks)}
        with strategy.scope():
            self.sums = tf.Variable(
                tf.zeros([len(self.blocks)]), trainable=False, name="auto_freeze_grad_sq",
                synchronization=tf.VariableSynchronization.ON_READ,
                aggregation=tf.VariableAggregation.SUM)

    def record(self, grads_and_vars) -> None:
        """Call in the train step (replica context) with the gradients about to be applied."""
        parts: list[list[tf.Tensor]] = [[] for _ in self.blocks]
        for gradient, variable in grads_and_vars:
            index = self._index.get(block_of(variable.name))
            if gradient is not None and index is not None:
                parts[index].append(_squared_norm(gradient))
        sums = tf.stack([tf.add_n(p) if p else tf.zeros([]) for p in parts])
        # A step that overflowed under float16 loss scaling is skipped; so is its gradient.
        self.sums.assign_add(tf.where(tf.math.is_finite(sums), sums, tf.zeros_like(sums)))

    def read_and_reset(self) -> dict[str, float]:
        """``{block: sum of squared norms}`` since the last call, summed over replicas."""
        values = tf.convert_to_tensor(self.sums.read_value()).numpy()
        self.sums.assign(tf.zeros_like(values))
        return {b: float(v) for b, v in zip(self.blocks, values)}


@dataclasses.dataclass
class AutoFreezeSettings:
    """The rule's knobs (``TrainConfig.auto_freeze_*``), resolved for one run."""

    interval: int
    percentile: float
    candidates: list[str]
    warmup_steps: int = 0
    prior_loss: float = 0.0  # ``label_prior_loss`` of the train split (0: no gate)
    min_progress: float = 0.0  # the gate: interval loss <= (1 - min_progress) * prior_loss

    def progress(self, loss: float) -> float:
        """How far below the label prior's loss ``loss`` is, as a share of it."""
        return 1.0 - loss / self.prior_loss if self.prior_loss > 0 else 1.0

    def gate_open(self, loss: float) -> bool:
        return self.min_progress <= 0 or self.progress(loss) >= self.min_progress


class AutoFreezing(keras.callbacks.Callback):
    """``freeze: auto``: every ``interval`` steps, reads the gradient norms the train step
    added up (``GradientNormProbe``), applies ``blocks_to_freeze`` and freezes what it returns,
    retracing the train function. Blocks only ever go from trainable to frozen, bottom up.

    Each decision is printed (``auto-freeze: step 120: embeddings frozen (grad-norm change
    0.8% <= 2.0%)``), kept in ``decisions`` (the training report), written to TensorBoard
    (``<log_dir>/freezing``: the number of trainable blocks over steps, each block's gradient
    norm and change rate, a text per decision) and to ``state_file`` beside the backups, so a
    run resumed after a kill re-applies the decisions made before it, before its first step.
    ``trainable_blocks`` goes into each epoch's logs (so the history). Call ``prepare`` before
    training."""

    def __init__(self, encoder: "PartiallyFrozenEncoder", plan: FreezePlan,
                 settings: AutoFreezeSettings, steps_per_epoch: int, total_steps: int,
                 log_dir: str, state_file: str, owns_files: bool = True):
        super().__init__()
        self.encoder, self.settings = encoder, settings
        self.steps_per_epoch, self.total_steps = steps_per_epoch, total_steps
        self.log_dir, self.state_file, self.owns_files = log_dir, state_file, owns_files
        names = [w.name for w in encoder.weights if block_of(w.name) != "other"]
        self._members = {b: {n for n in names if block_of(n) == b} for b in block_order(names)}
        self._trainable = set(plan.trainable)
        # Candidates that start partly frozen (the embeddings after ``word_embeddings``).
        self._riders = {b for b in settings.candidates if b in self._members
                        and self._members[b] & self._trainable
                        and not self._members[b] <= self._trainable}
        self.decisions: list[FreezeDecision] = []
        self.probe: GradientNormProbe | None = None
        self._writer = None

    # -- setup ---------------------------------------------------------------------------

    def prepare(self, model, strategy) -> None:
        """Builds the optimizer's slots for every variable that starts trainable (so none is
        created mid-training, under any strategy) and hands the train step the probe."""
        with strategy.scope():
            model.optimizer.build(model.trainable_variables)
        self.probe = GradientNormProbe(self.trainable_blocks(), strategy)
        self._replicas = strategy.num_replicas_in_sync
        model.gradient_probe = self.probe

    def trainable_blocks(self) -> list[str]:
        """Encoder blocks with a trainable variable, bottom up."""
        return [b for b, members in self._members.items() if members & self._trainable]

    # -- Keras hooks -----------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        self._started, self._previous, self._steps = False, None, 0
        self._epoch, self._loss_sum, self._epoch_loss_sum, self._epoch_batches = 0, 0.0, 0.0, 0
        self._gate_open, self._gate_streak = self.settings.min_progress <= 0, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = int(epoch)  # numpy after a resume (BackupAndRestore)
        self._epoch_loss_sum, self._epoch_batches = 0.0, 0  # Keras' loss mean restarts too

    def on_train_batch_begin(self, batch, logs=None):
        if self._started:
            return
        self._started = True
        step = self._epoch * self.steps_per_epoch + int(batch)
        if step:  # resumed from a backup: the decisions made before the kill hold
            self._resume(step)
        elif self.owns_files and tf.io.gfile.exists(self.state_file):
            tf.io.gfile.remove(self.state_file)  # a fresh start: an older run's state is stale
        self._scalar("freezing/trainable_blocks", len(self.trainable_blocks()), step)

    def on_train_batch_end(self, batch, logs=None):
        step = self._epoch * self.steps_per_epoch + int(batch) + 1
        self._steps += 1
        self._add_loss(logs)
        if step % self.settings.interval == 0 and step < self.total_steps:
            self._look(step)
            self._scalar("freezing/trainable_blocks", len(self.trainable_blocks()), step)

    def _add_loss(self, logs) -> None:
        """Adds this step's loss to the interval's: Keras logs the mean since the epoch began
        (or since the resume), so one step's loss is the change in the running sum."""
        if not logs or logs.get("loss") is None:
            return
        self._epoch_batches += 1
        running = float(logs["loss"]) * self._epoch_batches
        self._loss_sum += running - self._epoch_loss_sum
        self._epoch_loss_sum = running

    def _check_gate(self, step: int, loss: float) -> None:
        """Opens the progress gate (once, for good) when the loss beat the prior by
        ``min_progress`` over ``GATE_INTERVALS`` intervals in a row."""
        if self._gate_open:
            return
        passed = np.isfinite(loss) and self.settings.gate_open(loss)
        self._gate_streak = self._gate_streak + 1 if passed else 0
        if self._gate_streak >= GATE_INTERVALS:
            self._gate_open = True
            print(f"auto-freeze: step {step}: training loss {loss:.3f} is "
                  f"{self.settings.progress(loss):.0%} below the label prior's "
                  f"{self.settings.prior_loss:.3f} ({GATE_INTERVALS} intervals in a row at "
                  f"{self.settings.min_progress:.0%} or more): blocks may freeze from now on",
                  flush=True)

    def _look(self, step: int) -> None:
        """The end of an interval: this interval's gradient norms against the previous
        interval's and the rule, once the progress gate is open."""
        sums = self.probe.read_and_reset()
        count, self._steps = self._steps, 0
        loss, self._loss_sum = self._loss_sum / max(count, 1), 0.0
        self._scalar("freezing/loss_progress", self.settings.progress(loss), step)
        self._check_gate(step, loss)
        trainable = self.trainable_blocks()
        norms = {b: float(np.sqrt(sums[b] / (count * self._replicas))) for b in trainable}
        for block, norm in norms.items():
            self._scalar(f"grad_norm/{block}", norm, step)
        after_warmup = step - count >= self.settings.warmup_steps
        previous, self._previous = self._previous, norms if after_warmup else None
        rates = {}
        if previous is not None and after_warmup:
            rates = {b: abs(n - previous[b]) / previous[b] for b, n in norms.items()
                     if previous.get(b, 0.0) > 0.0}
        for block, rate in rates.items():
            self._scalar(f"grad_norm_change/{block}", rate, step)
        decided = []
        if self._gate_open and rates:
            candidates = [b for b in self.settings.candidates if b in trainable]
            judged = {b: r for b, r in rates.items() if b not in self._riders}
            chosen, threshold = blocks_to_freeze(
                judged, [b for b in candidates if b not in self._riders],
                self.settings.percentile)
            if chosen:  # the partly frozen blocks below the highest chosen one go with it
                riders = [b for b in candidates[:candidates.index(chosen[-1])]
                          if b in self._riders]
                lowest = rates[chosen[0]]
                decided = [FreezeDecision(step=step, epoch=self._epoch + 1, block=block,
                                          signal=RIDER_SIGNAL, value=lowest,
                                          threshold=threshold) for block in riders]
            decided += [FreezeDecision(step=step, epoch=self._epoch + 1, block=block,
                                       signal=AUTO_SIGNAL, value=rates[block],
                                       threshold=threshold) for block in chosen]
        self._apply(step, decided)

    def _apply(self, step: int, decided: list[FreezeDecision]) -> None:
        """Logs the decisions and freezes their blocks (one retrace for all of them)."""
        if not decided:
            return
        for decision in decided:
            self.decisions.append(decision)
            print(f"auto-freeze: {decision.describe()}", flush=True)
            self._text("freezing/decision", decision.describe(), step)
        self._freeze([d.block for d in decided])
        self._save_state()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["trainable_blocks"] = float(len(self.trainable_blocks()))

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
        # Training finished: the backups are gone, so is the state they went with.
        if self.owns_files and tf.io.gfile.exists(self.state_file):
            tf.io.gfile.remove(self.state_file)

    # -- freezing, resuming ----------------------------------------------------------------

    def _freeze(self, blocks: list[str]) -> None:
        for block in blocks:
            self._trainable -= self._members[block]
        self.encoder.set_trainable_names(self._trainable)
        self.model.train_function = self.model.make_train_function(force=True)

    def _resume(self, step: int) -> None:
        if not tf.io.gfile.exists(self.state_file):
            return
        with tf.io.gfile.GFile(self.state_file) as f:
            state = json.load(f)
        self.decisions = [FreezeDecision(**d) for d in state["decisions"]]
        if self.decisions:
            self._gate_open = True  # it was open when they were made
            self._freeze([d.block for d in self.decisions])
            print(f"auto-freeze: resumed at step {step}; kept "
                  + ", ".join(f"{d.block} frozen@{d.step}" for d in self.decisions), flush=True)

    def _save_state(self) -> None:
        if not self.owns_files:
            return
        tf.io.gfile.makedirs(self.state_file.rsplit("/", 1)[0])
        partial = f"{self.state_file}.partial-{time.time_ns()}"
        with tf.io.gfile.GFile(partial, "w") as f:
            json.dump({"decisions": [dataclasses.asdict(d) for d in self.decisions]}, f)
        tf.io.gfile.rename(partial, self.state_file, overwrite=True)

    # -- TensorBoard -----------------------------------------------------------------------

    def _summaries(self):
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(f"{self.log_dir}/freezing")
        return self._writer.as_default()

    def _scalar(self, name: str, value: float, step: int) -> None:
        with self._summaries():
            tf.summary.scalar(name, value, step=step)

    def _text(self, name: str, text: str, step: int) -> None:
        with self._summaries():
            tf.summary.text(name, text, step=step)


def with_decisions(table: list[dict], decisions: list[FreezeDecision]) -> list[dict]:
    """The freezing table with ``freeze: auto``'s decisions: a decided block's status is
    ``frozen@STEP`` and every row gets ``frozen_at_step`` (None: never frozen by ``auto``);
    ``trainable_params`` still counts what trained, until its block froze."""
    at = {d.block: d.step for d in decisions}
    return [{**row, "frozen_at_step": at.get(row["block"]),
             **({"status": f"frozen@{at[row['block']]}"} if row["block"] in at else {})}
            for row in table]


def plan_freezing(variable_names: Iterable[str], spec: str, uses_pooler: bool) -> FreezePlan:
    """Resolves a freezing spec (``freeze_spec.py``) against the encoder's variable names."""
    names = [n for n in variable_names if block_of(n) != "other"]
    parsed = FreezeSpec.parse(spec)
    frozen = parsed.frozen_names(names)
    unused = () if uses_pooler else tuple(b for b in ("pooler",) if b in block_order(names))
    trainable = frozenset(n for n in names if n not in frozen and block_of(n) not in unused)
    return FreezePlan(spec=spec, trainable=trainable, unused_blocks=unused, auto=parsed.auto)


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
