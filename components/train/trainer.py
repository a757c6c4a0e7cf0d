"""The train step: fine-tune a partially frozen hub BERT encoder under a distribution strategy.

    result = run_train(TrainConfig(freeze="last:2"), encoder_dir, preprocess_dir, out_dir)

Uses ``MirroredStrategy`` over all local GPUs (the CPU when there are none), or
``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` names several workers. The global batch is
``batch_size`` (split across replicas). Writes ``model/`` (Keras SavedModel), ``history.json``,
``freeze.json`` and TensorBoard logs under ``logs/``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from typing import Any

import tensorflow as tf

from components.config import TrainConfig
from components.train.data import load_split
from components.train.freezing import (GradualUnfreezing, format_freeze_table, freeze_table,
                                       keras, unfreezing_schedule)
from components.train.model import build_classifier
from components.train.schedule import WarmupLinearDecay

@dataclasses.dataclass(frozen=True)
class TrainResult:
    model_dir: str
    history: dict[str, list[float]]
    trainable_params: int
    freeze_table: list[dict]
    global_batch_size: int
    replicas: int


def make_strategy() -> tf.distribute.Strategy:
    """MultiWorkerMirrored when TF_CONFIG has several workers, else Mirrored on local devices."""
    tf_config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    workers = tf_config.get("cluster", {}).get("worker", [])
    if len(workers) > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.MirroredStrategy([d.name for d in gpus] or ["/cpu:0"])


def balanced_class_weights(metadata: dict[str, Any]) -> dict[int, float]:
    """n / (classes * n_class) over the train split, by label index."""
    per_label = metadata["splits"]["train"]["per_label"]
    labels = metadata["labels"]
    total = sum(per_label.values())
    return {i: total / (len(labels) * per_label[label])
            for i, label in enumerate(labels) if per_label.get(label)}


def num_workers(strategy: tf.distribute.Strategy) -> int:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return 1
    spec = resolver.cluster_spec().as_dict()
    return len(spec.get("worker", [])) + len(spec.get("chief", []))


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """The worker whose files are kept: the chief, else worker 0, else the only process."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "chief" or (
        not has_chief and resolver.task_type == "worker" and resolver.task_id == 0)


def read_metadata(preprocess_dir: str) -> dict[str, Any]:
    """The preprocess step's metadata, with its relative split patterns made absolute."""
    root = preprocess_dir.rstrip("/")
    with tf.io.gfile.GFile(f"{root}/metadata.json") as f:
        metadata = json.load(f)
    for split in metadata["splits"].values():
        split["pattern"] = f"{root}/{split['pattern']}"
    return metadata


def is_pair_task(metadata: dict[str, Any]) -> bool:
    """A pair task has a second text column or splits one column at a separator."""
    columns = metadata.get("columns", {})
    return bool(columns.get("text_pair") or columns.get("text_pair_separator"))


def count_params(variables) -> int:
    return sum(int(v.shape.num_elements()) for v in variables)


class ThroughputLogger(keras.callbacks.Callback):
    """Adds ``steps_per_s``, ``examples_per_s`` and ``learning_rate`` to each epoch's logs
    (so to ``history.json`` and TensorBoard)."""

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


def run_train(cfg: TrainConfig, encoder_dir: str, preprocess_dir: str, output_dir: str,
              strategy: tf.distribute.Strategy | None = None, verbose: int | None = None,
              callbacks: list[keras.callbacks.Callback] = ()) -> TrainResult:
    """Fine-tunes and saves the classifier; returns history and the freezing report.

    ``callbacks`` are extra Keras callbacks (they see the real model being trained).
    """
    keras.utils.set_random_seed(cfg.seed)
    metadata = read_metadata(preprocess_dir)
    max_len = int(metadata["max_seq_length"])
    num_labels = int(metadata["num_labels"])
    compression = metadata.get("compression")
    train_count = int(metadata["splits"]["train"]["count"])
    if cfg.max_train_examples:
        train_count = min(train_count, cfg.max_train_examples)
    if train_count == 0 or num_labels < 2:
        raise ValueError(f"need >= 1 training row and >= 2 labels, got {train_count} rows and "
                         f"{num_labels} labels")

    strategy = strategy or make_strategy()
    replicas = strategy.num_replicas_in_sync
    global_batch = cfg.batch_size
    steps_per_epoch = math.ceil(train_count / global_batch)
    total_steps = steps_per_epoch * cfg.epochs

    keras.mixed_precision.set_global_policy(cfg.mixed_precision or "float32")
    with strategy.scope():
        model, encoder, plan = build_classifier(encoder_dir, num_labels, max_len,
                                                cfg.freeze, cfg.pooling, cfg.dropout,
                                                cfg.seed, cfg.hidden_units)
        schedule = WarmupLinearDecay(cfg.learning_rate, total_steps,
                                     int(cfg.warmup_fraction * total_steps))
        optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=cfg.weight_decay,
                                           global_clipnorm=cfg.clip_norm or None)
        optimizer.exclude_from_weight_decay(var_names=["layer_norm", "bias"])
        model.compile(optimizer=optimizer,
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                      jit_compile=cfg.xla)

    encoder_ids = {id(v) for v in encoder.weights}
    head_vars = [v for v in model.trainable_variables if id(v) not in encoder_ids]
    table = freeze_table(_encoder_variables(encoder), plan, head_vars)
    trainable_params = count_params(model.trainable_variables)
    print(format_freeze_table(table), flush=True)
    print(f"replicas={replicas} global_batch={global_batch} "
          f"per_replica_batch={global_batch / replicas:g} steps_per_epoch={steps_per_epoch}",
          flush=True)

    # Repeated, with steps_per_epoch given: Keras can then resume mid-epoch from a backup.
    workers = num_workers(strategy)
    train_ds = load_split(metadata["splits"]["train"]["pattern"], max_len, global_batch,
                          compression, shuffle_seed=cfg.seed, take=cfg.max_train_examples,
                          num_workers=workers).repeat()
    eval_ds = None
    if int(metadata["splits"]["eval"]["count"]):
        eval_ds = load_split(metadata["splits"]["eval"]["pattern"], max_len, global_batch,
                             compression, num_workers=workers)

    chief = is_chief(strategy)
    final_out = output_dir.rstrip("/")
    # Every worker of a multi-worker job saves (the save is collective); only the chief's
    # files are kept, the others write to a scratch folder that is removed afterwards.
    out = final_out if chief else f"{final_out}/.worker-{strategy.cluster_resolver.task_id}"
    tf.io.gfile.makedirs(out)
    backup = keras.callbacks.BackupAndRestore(
        backup_dir=f"{final_out}/backup", save_freq=cfg.checkpoint_steps or "epoch",
        delete_checkpoint=True)
    unfreezing = []
    if cfg.gradual_unfreeze:
        schedule = unfreezing_schedule(plan, [v.name for v in encoder.weights], cfg.epochs)
        unfreezing = [GradualUnfreezing(encoder, schedule)]
        unfreezing[0].prepare(model, strategy)
    all_callbacks = [backup, *unfreezing, ResumeReporter(), ThroughputLogger(global_batch),
                     keras.callbacks.TensorBoard(log_dir=f"{out}/logs", update_freq="epoch"),
                     *callbacks]
    class_weight = None
    if cfg.class_weighting == "balanced":
        class_weight = balanced_class_weights(metadata)
        print("class weights: " + ", ".join(f"{metadata['labels'][i]}={w:.3f}"
                                            for i, w in class_weight.items()), flush=True)
    if verbose is None:  # a progress bar on a terminal, one line per epoch in logs
        verbose = 1 if sys.stdout.isatty() else 2
    fit = model.fit(train_ds, validation_data=eval_ds, epochs=cfg.epochs,
                    steps_per_epoch=steps_per_epoch, callbacks=all_callbacks, verbose=verbose,
                    class_weight=class_weight)
    history = {k: [float(x) for x in v] for k, v in fit.history.items()}

    model_dir = f"{out}/model"
    model.save(model_dir, include_optimizer=False)
    keras.mixed_precision.set_global_policy("float32")
    report = {"freeze": plan.spec, "trainable_variables": sorted(plan.trainable),
              "unused_blocks": list(plan.unused_blocks), "table": table,
              "trainable_params": trainable_params,
              "total_params": sum(row["params"] for row in table),
              "global_batch_size": global_batch, "replicas": replicas,
              "max_seq_length": max_len, "labels": metadata["labels"],
              "config": dataclasses.asdict(cfg)}
    if chief:
        with tf.io.gfile.GFile(f"{out}/history.json", "w") as f:
            json.dump(history, f, indent=2)
        with tf.io.gfile.GFile(f"{out}/freeze.json", "w") as f:
            json.dump(report, f, indent=2)
    else:
        tf.io.gfile.rmtree(out)
        model_dir = f"{final_out}/model"
    return TrainResult(model_dir=model_dir, history=history, trainable_params=trainable_params,
                       freeze_table=table, global_batch_size=global_batch, replicas=replicas)


def _encoder_variables(encoder) -> list[tf.Variable]:
    """The encoder's weights (trainable or frozen), without bookkeeping like do_lower_case."""
    return [v for v in encoder.trainable_weights + encoder.non_trainable_weights
            if v.dtype == tf.float32]


def load_trained_model(model_dir: str) -> keras.Model:
    """Loads a model written by ``run_train`` (needs the bertpipe layers registered)."""
    import components.train.model  # noqa: F401  (registers the custom layers)

    return keras.models.load_model(model_dir, compile=False)
