"""The train step: fine-tune a partially frozen hub BERT encoder under a distribution strategy.

    result = run_train(TrainConfig(freeze="last:2"), encoder_dir, preprocess_dir, out_dir)

Uses ``MirroredStrategy`` over all local GPUs (the CPU when there are none), or
``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` names several workers. The global batch is
``batch_size`` (split across replicas). Writes ``model/`` (Keras SavedModel),
``training_report.json`` (``TrainingReport``: freezing table, history, settings, ``freeze:
auto``'s decisions) and TensorBoard logs under ``logs/``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys

import tensorflow as tf

from components.config import TrainConfig
from components.contracts import EncoderInfo, FreezeDecision, PreparedExamples, TrainingReport
from components import progress
from components.keras import keras
from components.model.classifier import build_classifier
from components.model.bert_config import BertConfig
from components.train.memory import check_before_training
from components.model.freezing import (AutoFreezeSettings, AutoFreezing, FreezePlan,
                                       GradualUnfreezing, auto_freeze_candidates,
                                       auto_freeze_interval, format_freeze_table,
                                       freeze_table, label_prior_loss, unfreezing_schedule,
                                       with_decisions)
from components.train.backup_identity import (check_backup, forget_identity,
                                               record_identity, run_identity)
from components.train.callbacks import ProgressEvents, ResumeReporter, ThroughputLogger
from components.train.data import load_split
from components.train.precision import Precision, resolve_precision
from components.train.schedule import WarmupLinearDecay

@dataclasses.dataclass(frozen=True)
class TrainResult:
    """Where the model is, and the report written beside it."""

    model_dir: str
    report: TrainingReport

    @property
    def history(self) -> dict[str, list[float]]:
        return self.report.history

    @property
    def trainable_params(self) -> int:
        return self.report.trainable_params

    @property
    def freeze_table(self) -> list[dict]:
        return self.report.table

    @property
    def global_batch_size(self) -> int:
        return self.report.global_batch_size

    @property
    def replicas(self) -> int:
        return self.report.replicas


def make_strategy() -> tf.distribute.Strategy:
    """MultiWorkerMirrored when TF_CONFIG has several workers, else Mirrored on local devices."""
    tf_config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    workers = tf_config.get("cluster", {}).get("worker", [])
    if len(workers) > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.MirroredStrategy([d.name for d in gpus] or ["/cpu:0"])


def balanced_class_weights(labels: list[str], per_label: dict[str, int]) -> dict[int, float]:
    """n / (classes * n_class) over the train split's ``per_label`` counts, by label index."""
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


def count_params(variables) -> int:
    return sum(int(v.shape.num_elements()) for v in variables)


def _train_count(cfg: TrainConfig, examples: PreparedExamples) -> int:
    count = examples.count("train")
    if cfg.max_train_examples:
        count = min(count, cfg.max_train_examples)
    if count == 0 or examples.num_labels < 2:
        raise ValueError(f"need >= 1 training row and >= 2 labels, got {count} rows and "
                         f"{examples.num_labels} labels")
    return count


def compile_classifier(cfg: TrainConfig, encoder_dir: str, examples: PreparedExamples,
                       total_steps: int, encoder_dtype: str = "float32"):
    """The classifier with its frozen blocks, AdamW (no decay on LayerNorm and biases) on the
    warmup-then-decay schedule; call inside the strategy's scope, with the precision policy
    set (under ``mixed_float16`` Keras adds dynamic loss scaling). Returns model, encoder
    layer and freeze plan."""
    model, encoder, plan = build_classifier(encoder_dir, examples.num_labels,
                                            cfg.start_freeze(examples.is_pair),
                                            cfg.pooling, cfg.dropout, cfg.seed,
                                            cfg.hidden_units, encoder_dtype)
    schedule = WarmupLinearDecay(cfg.learning_rate, total_steps,
                                 int(cfg.warmup_fraction * total_steps))
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=cfg.weight_decay,
                                       global_clipnorm=cfg.clip_norm or None)
    optimizer.exclude_from_weight_decay(var_names=["layer_norm", "bias"])
    model.compile(optimizer=optimizer,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                  jit_compile=cfg.xla)
    return model, encoder, plan


def make_datasets(cfg: TrainConfig, examples: PreparedExamples, global_batch: int,
                  workers: int) -> tuple[tf.data.Dataset, tf.data.Dataset | None]:
    """The shuffled, repeated train split (repeated with ``steps_per_epoch`` given, Keras can
    resume mid-epoch from a backup) and the eval split when it has rows, both batched by
    length when ``cfg.bucket_width`` is set."""
    train_ds = load_split(examples.pattern("train"), examples.max_seq_length, global_batch,
                          examples.compression, shuffle_seed=cfg.seed,
                          take=cfg.max_train_examples, num_workers=workers,
                          bucket_width=cfg.bucket_width, repeat=True)
    eval_ds = None
    if examples.count("eval"):
        eval_ds = load_split(examples.pattern("eval"), examples.max_seq_length, global_batch,
                             examples.compression, num_workers=workers,
                             bucket_width=cfg.bucket_width)
    return train_ds, eval_ds


def make_callbacks(cfg: TrainConfig, out: str, backup_dir: str, global_batch: int,
                   steps_per_epoch: int, freezing: keras.callbacks.Callback | None,
                   extra: list[keras.callbacks.Callback]) -> list[keras.callbacks.Callback]:
    """Backup (resume after a kill), gradual unfreezing or ``freeze: auto``, resume and
    throughput reporting, the run view's progress events, TensorBoard, then the caller's
    own."""
    backup = keras.callbacks.BackupAndRestore(
        backup_dir=backup_dir, save_freq=cfg.checkpoint_steps or "epoch",
        delete_checkpoint=True)
    return [backup, *([freezing] if freezing else []), ResumeReporter(),
            ThroughputLogger(global_batch), ProgressEvents(cfg.epochs, steps_per_epoch),
            keras.callbacks.TensorBoard(log_dir=f"{out}/logs", update_freq="epoch"), *extra]


def make_report(cfg: TrainConfig, plan: FreezePlan, table: list[dict], trainable_params: int,
                global_batch: int, replicas: int, examples: PreparedExamples,
                history: dict[str, list[float]], precision: Precision,
                decisions: list[FreezeDecision] = ()) -> TrainingReport:
    return TrainingReport(
        freeze=plan.spec, trainable_variables=sorted(plan.trainable),
        unused_blocks=list(plan.unused_blocks), table=table,
        trainable_params=trainable_params, total_params=sum(row["params"] for row in table),
        global_batch_size=global_batch, replicas=replicas,
        max_seq_length=examples.max_seq_length, labels=list(examples.labels),
        config=dataclasses.asdict(cfg), history=history,
        precision=dataclasses.asdict(precision), bucket_width=cfg.bucket_width,
        freeze_decisions=list(decisions))


def make_auto_freezing(cfg: TrainConfig, plan: FreezePlan, encoder, steps_per_epoch: int,
                       out: str, backup_dir: str, per_label: dict[str, int],
                       owns_files: bool = True) -> AutoFreezing:
    """``freeze: auto``'s callback: the rule's settings resolved for this run (which blocks
    may freeze, how often to look), decisions logged under ``out/logs`` and kept for a
    resume in ``backup_dir``. ``owns_files``: this worker writes and deletes that state."""
    total_steps = steps_per_epoch * cfg.epochs
    settings = AutoFreezeSettings(
        interval=auto_freeze_interval(cfg.auto_freeze_interval, total_steps),
        percentile=cfg.auto_freeze_percentile,
        candidates=auto_freeze_candidates(plan, [v.name for v in encoder.weights],
                                          cfg.auto_freeze_min_trainable_blocks),
        warmup_steps=int(cfg.warmup_fraction * total_steps),
        prior_loss=label_prior_loss(per_label, cfg.class_weighting == "balanced"),
        min_progress=cfg.auto_freeze_min_progress)
    blocks = list(settings.candidates)
    which = "word embeddings are" if "word_embeddings+" in plan.spec else "embeddings are"
    early = (f"the {which} frozen from the start (auto_freeze_embeddings); "
             if plan.spec != cfg.freeze else "")
    gate = (f", once the training loss is {cfg.auto_freeze_min_progress:.0%} below the label "
            f"prior's {settings.prior_loss:.3f}" if settings.min_progress > 0 else "")
    print(f"auto-freeze: {early}every {settings.interval} steps after the warmup{gate}, "
          f"{', '.join(blocks) or 'nothing else'} may freeze, bottom up, when their "
          f"gradient-norm change is at or below percentile {cfg.auto_freeze_percentile:g} of "
          f"the trainable blocks' changes", flush=True)
    return AutoFreezing(encoder, plan, settings, steps_per_epoch, total_steps,
                        log_dir=f"{out}/logs", state_file=f"{backup_dir}/auto_freeze.json",
                        owns_files=owns_files)


def _output_folder(output_dir: str, strategy: tf.distribute.Strategy) -> tuple[str, str]:
    """(where this worker writes, the final folder). Every worker of a multi-worker job saves
    (the save is collective); only the chief's files are kept, the others write to a scratch
    folder that is removed afterwards."""
    final_out = output_dir.rstrip("/")
    if is_chief(strategy):
        return final_out, final_out
    return f"{final_out}/.worker-{strategy.cluster_resolver.task_id}", final_out


def run_train(cfg: TrainConfig, encoder_dir: str, preprocess_dir: str, output_dir: str,
              strategy: tf.distribute.Strategy | None = None, verbose: int | None = None,
              callbacks: list[keras.callbacks.Callback] = ()) -> TrainResult:
    """Fine-tunes and saves the classifier and its ``TrainingReport``.

    ``callbacks`` are extra Keras callbacks (they see the real model being trained).
    """
    keras.utils.set_random_seed(cfg.seed)
    examples = PreparedExamples.load(preprocess_dir)
    for split in ("train", "eval"):  # a corrupt shard named now, not mid-epoch
        if examples.count(split):
            examples.check_records(split)
    strategy = strategy or make_strategy()
    replicas, global_batch = strategy.num_replicas_in_sync, cfg.batch_size
    steps_per_epoch = math.ceil(_train_count(cfg, examples) / global_batch)
    out, final_out = _output_folder(output_dir, strategy)
    identity = run_identity(cfg, encoder_dir, preprocess_dir, examples, steps_per_epoch)
    check_backup(f"{final_out}/backup", identity)  # another run's: refused before any work

    precision = resolve_precision(cfg.mixed_precision, EncoderInfo.load(encoder_dir))
    print(precision.describe(), flush=True)
    if not tf.config.list_physical_devices("GPU"):  # host memory; GPU memory is not modelled
        encoder_info = EncoderInfo.load(encoder_dir)
        check_before_training(BertConfig(**encoder_info.bert_config)
                              if encoder_info.bert_config else None,
                              cfg.start_freeze(examples.is_pair),
                              math.ceil(global_batch / replicas), examples.max_seq_length,
                              precision.policy)
    keras.mixed_precision.set_global_policy(precision.policy)
    with strategy.scope():
        model, encoder, plan = compile_classifier(cfg, encoder_dir, examples,
                                                  steps_per_epoch * cfg.epochs,
                                                  precision.encoder_dtype)
    encoder_ids = {id(v) for v in encoder.weights}
    head_vars = [v for v in model.trainable_variables if id(v) not in encoder_ids]
    table = freeze_table(_encoder_variables(encoder), plan, head_vars)
    trainable_params = count_params(model.trainable_variables)
    table_text = format_freeze_table(table)
    print(table_text, flush=True)
    progress.emit(progress.Table(f"freeze {plan.spec}", table_text.splitlines()))
    print(f"replicas={replicas} global_batch={global_batch} "
          f"per_replica_batch={global_batch / replicas:g} steps_per_epoch={steps_per_epoch}",
          flush=True)

    train_ds, eval_ds = make_datasets(cfg, examples, global_batch, num_workers(strategy))
    tf.io.gfile.makedirs(out)
    freezing = None
    if cfg.gradual_unfreeze:
        freezing = GradualUnfreezing(encoder, unfreezing_schedule(
            plan, [v.name for v in encoder.weights], cfg.epochs))
        freezing.prepare(model, strategy)
    elif plan.auto:
        freezing = make_auto_freezing(cfg, plan, encoder, steps_per_epoch, out,
                                      f"{final_out}/backup",
                                      examples.splits["train"].per_label,
                                      owns_files=out == final_out)
        freezing.prepare(model, strategy)
    class_weight = None
    if cfg.class_weighting == "balanced":
        class_weight = balanced_class_weights(examples.labels,
                                              examples.splits["train"].per_label)
        print("class weights: " + ", ".join(f"{examples.labels[i]}={w:.3f}"
                                            for i, w in class_weight.items()), flush=True)
    if verbose is None:  # a progress bar on a terminal, one line per epoch in logs
        verbose = 1 if sys.stdout.isatty() else 2
    record_identity(f"{final_out}/backup", identity, owns_files=out == final_out)
    fit = model.fit(train_ds, validation_data=eval_ds, epochs=cfg.epochs,
                    steps_per_epoch=steps_per_epoch, verbose=verbose, class_weight=class_weight,
                    callbacks=make_callbacks(cfg, out, f"{final_out}/backup", global_batch,
                                             steps_per_epoch, freezing, list(callbacks)))
    forget_identity(f"{final_out}/backup", owns_files=out == final_out)
    history = {k: [float(x) for x in v] for k, v in fit.history.items()}
    # Evaluation and the exports run the encoder in float32: what is measured is what serves.
    encoder.set_encoder_dtype("float32")
    model.save(f"{out}/model", include_optimizer=False)
    keras.mixed_precision.set_global_policy("float32")
    decisions = freezing.decisions if isinstance(freezing, AutoFreezing) else []
    if plan.auto:
        table = with_decisions(table, decisions)
        table_text = format_freeze_table(table)
        print(f"freezing at the end of training:\n{table_text}", flush=True)
        progress.emit(progress.Table(f"freeze {plan.spec}: at the end of training",
                                     table_text.splitlines()))
    report = make_report(cfg, plan, table, trainable_params, global_batch, replicas, examples,
                         history, precision, decisions)
    if out == final_out:
        report.save(out)
    else:
        tf.io.gfile.rmtree(out)
    return TrainResult(model_dir=f"{final_out}/model", report=report)


def _encoder_variables(encoder) -> list[tf.Variable]:
    """The encoder's weights (trainable or frozen), without bookkeeping like do_lower_case."""
    return [v for v in encoder.trainable_weights + encoder.non_trainable_weights
            if v.dtype == tf.float32]
