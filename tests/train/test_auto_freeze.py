"""``freeze: auto``: blocks freeze bottom up during real training under a 2-replica
MirroredStrategy, stay bit-identical from their decision on, drop out of the retraced train
step, and every decision reaches the log, the report, TensorBoard, the evaluation report and
the model card. The rule itself is tested on made-up rates."""

from __future__ import annotations

import contextlib
import glob
import io
import json

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.util import event_pb2

from components.config import ConfigError, TrainConfig
from components.contracts import EncoderInfo, PreparedExamples, TrainingReport
from components.freeze_spec import block_of
from components.keras import keras
from components.model.freezing import (AutoFreezeSettings, AutoFreezing,
                                       auto_freeze_candidates, auto_freeze_interval,
                                       blocks_to_freeze, label_prior_loss, plan_freezing)
from components.train.trainer import run_train

LAYERS = [f"layer_{i}" for i in range(6)]
NAMES = (["embeddings/word_embeddings/embeddings:0", "embeddings/layer_norm/gamma:0"]
         + [f"transformer/{b}/output/kernel:0" for b in LAYERS] + ["pooler/kernel:0"])


def test_rule_freezes_the_lowest_blocks_while_at_or_below_the_percentile():
    rates = {"embeddings": 0.01, "layer_0": 0.02, "layer_1": 0.30, "layer_2": 0.03,
             "layer_3": 0.20, "layer_4": 0.25, "layer_5": 0.40}
    candidates = ["embeddings", "layer_0", "layer_1", "layer_2", "layer_3"]
    chosen, threshold = blocks_to_freeze(rates, candidates, 50.0)
    assert threshold == pytest.approx(0.20)  # the median of the seven rates
    assert chosen == ["embeddings", "layer_0"]  # layer_1 is above it: layer_2 waits (bottom up)
    assert blocks_to_freeze({**rates, "embeddings": 0.5}, candidates, 50.0)[0] == []
    assert blocks_to_freeze(rates, candidates, 100.0)[0] == candidates  # 100: all at once
    assert blocks_to_freeze({"layer_5": 0.1}, [], 50.0)[0] == []


def test_candidates_floor_interval_and_bad_settings_are_one_line():
    plan = plan_freezing(NAMES, "auto", uses_pooler=False)
    assert auto_freeze_candidates(plan, NAMES, 2) == ["embeddings", *LAYERS[:4]]
    plan = plan_freezing(NAMES, "blocks:1+auto", uses_pooler=True)
    assert auto_freeze_candidates(plan, NAMES, 3) == ["embeddings", "layer_0", "layer_2"]
    with pytest.raises(ConfigError, match="nothing left for 'auto' to freeze"):
        auto_freeze_candidates(plan_freezing(NAMES, "last:2+auto", True), NAMES, 2)
    assert auto_freeze_interval(0, 300) == 15 and auto_freeze_interval(0, 40) == 5
    assert auto_freeze_interval(7, 300) == 7
    for make, message in [
            (lambda: TrainConfig(freeze="auto", gradual_unfreeze=True), "use one of the two"),
            (lambda: TrainConfig(freeze="auto", auto_freeze_percentile=0), r"in \(0, 100\]"),
            (lambda: TrainConfig(freeze="auto", auto_freeze_min_trainable_blocks=0), ">= 1"),
            (lambda: TrainConfig(freeze="auto", auto_freeze_interval=-1), "auto_freeze_interval"),
            (lambda: TrainConfig(freeze="auto", auto_freeze_min_progress=1.0), r"in \[0, 1\)")]:
        with pytest.raises(ConfigError, match=message) as err:
            make()
        assert "\n" not in str(err.value)


def test_label_prior_loss_is_the_entropy_of_the_train_labels():
    assert label_prior_loss({"a": 50, "b": 50}) == pytest.approx(np.log(2))
    assert label_prior_loss({"T": 50, "F": 30, "N": 20}) == pytest.approx(
        -(0.5 * np.log(0.5) + 0.3 * np.log(0.3) + 0.2 * np.log(0.2)))
    assert label_prior_loss({"T": 50, "F": 30, "N": 20}, balanced=True) == pytest.approx(
        np.log(3))
    assert label_prior_loss({"a": 10, "b": 0}) == 0.0  # one class: nothing to beat, no gate


class _Weight:
    def __init__(self, name):
        self.name = name


class _Encoder:
    weights = [_Weight(n) for n in NAMES]

    def set_trainable_names(self, names):
        self.trainable = set(names)


class _Probe:
    """Gradient norms that keep changing by half each interval: every block qualifies at
    the 100th percentile as soon as two intervals can be compared. Or ``norms``: one
    ``{block: norm}`` per look, for intervals of 2 steps on 1 replica."""

    def __init__(self, blocks, norms=None):
        self.blocks, self.looks, self.norms = blocks, 0, norms

    def read_and_reset(self):
        self.looks += 1
        if self.norms is not None:
            return {b: 2 * n ** 2 for b, n in next(self.norms).items()}
        return {b: float(2 * 1.5 ** self.looks) ** 2 for b in self.blocks}


class _Model:
    def make_train_function(self, force=False):
        return object()


def drive(callback, losses, steps_per_epoch):
    """Feeds ``losses`` (one per step) to the callback the way Keras logs them: the mean
    since the epoch began."""
    callback.set_model(_Model())
    callback.on_train_begin()
    for step, loss in enumerate(losses):
        epoch, batch = divmod(step, steps_per_epoch)
        if batch == 0:
            callback.on_epoch_begin(epoch)
            seen = []
        callback.on_train_batch_begin(batch)
        seen.append(loss)
        callback.on_train_batch_end(batch, {"loss": float(np.mean(seen))})
    callback.on_train_end()


@pytest.mark.parametrize("min_progress, first_freeze", [(0.1, 10), (0.0, 4), (0.5, None)])
def test_nothing_freezes_before_the_loss_beats_the_label_prior(tmp_path, capsys,
                                                               min_progress, first_freeze):
    """The loss sits at the prior (1.0) for 6 steps, then falls to 0.8 (20 % below): with the
    gate at 10 % the first decision waits for the second interval in a row past it (steps
    7-8, 9-10), even though the gradients qualified at step 4 and one lucky interval (step 3)
    beat it; without the gate it is step 4; at 50 % never. Epochs of 5 steps check that the
    interval's loss is rebuilt across Keras' per-epoch running mean."""
    plan = plan_freezing(NAMES, "auto", uses_pooler=False)
    settings = AutoFreezeSettings(interval=2, percentile=100.0, candidates=["embeddings"],
                                  prior_loss=1.0, min_progress=min_progress)
    callback = AutoFreezing(_Encoder(), plan, settings, steps_per_epoch=5, total_steps=12,
                            log_dir=str(tmp_path), state_file=str(tmp_path / "state.json"))
    callback.probe = _Probe(callback.trainable_blocks())
    callback._replicas = 1
    drive(callback, [0.99, 0.99, 0.7, 0.99, 0.99, 0.99] + [0.8] * 6, steps_per_epoch=5)
    log = capsys.readouterr().out
    if first_freeze is None:
        assert callback.decisions == [] and "may freeze" not in log
    else:
        assert [(d.step, d.block) for d in callback.decisions] == [(first_freeze, "embeddings")]
    if min_progress == 0.1:
        assert "auto-freeze: step 10: training loss 0.800 is 20% below the label prior's " \
               "1.000 (2 intervals in a row at 10% or more): blocks may freeze from now on" in log


def test_auto_starts_with_the_embeddings_frozen_unless_told_otherwise():
    """All of them for single texts; the word-embedding matrix only for sentence pairs."""
    for pairs, frozen in ((False, "embeddings"), (True, "word_embeddings")):
        assert TrainConfig(freeze="auto").start_freeze(pairs) == f"{frozen}+auto"
        assert TrainConfig(freeze="blocks:1+auto").start_freeze(pairs) == \
            f"{frozen}+blocks:1+auto"
        for spec in ("first:1+auto", "last:4+auto", "embeddings+auto", "word_embeddings+auto",
                     "last:2", "none"):
            assert TrainConfig(freeze=spec).start_freeze(pairs) == spec  # frozen, or no auto
        assert TrainConfig(freeze="auto", auto_freeze_embeddings=False).start_freeze(
            pairs) == "auto"
    plan = plan_freezing(NAMES, TrainConfig(freeze="auto").start_freeze(False),
                         uses_pooler=False)
    assert auto_freeze_candidates(plan, NAMES, 2) == LAYERS[:4]
    plan = plan_freezing(NAMES, TrainConfig(freeze="auto").start_freeze(True),
                         uses_pooler=False)
    assert not plan.is_trainable(NAMES[0]) and plan.is_trainable(NAMES[1])
    # the rest of the embeddings stays a candidate
    assert auto_freeze_candidates(plan, NAMES, 2) == ["embeddings", *LAYERS[:4]]


def test_partly_frozen_embeddings_freeze_with_the_block_above_them(tmp_path, capsys):
    """After ``word_embeddings`` the rest of the embeddings is not judged by its own rate
    (here far above the threshold, which would stop the bottom-up chain): it freezes with
    the lowest block chosen, and not before one is."""
    plan = plan_freezing(NAMES, "word_embeddings+auto", uses_pooler=False)
    settings = AutoFreezeSettings(interval=2, percentile=30.0,
                                  candidates=["embeddings", *LAYERS[:4]])
    callback = AutoFreezing(_Encoder(), plan, settings, steps_per_epoch=10, total_steps=10,
                            log_dir=str(tmp_path), state_file=str(tmp_path / "state.json"))
    norms = iter([{"embeddings": 1.0, **{b: 1.0 for b in LAYERS}},  # step 2: no rates yet
                  {"embeddings": 9.0, **{b: 1.0 for b in LAYERS}, "layer_0": 1.5},  # step 4
                  {"embeddings": 1.0, "layer_0": 1.5, "layer_1": 1.0, "layer_2": 11.0,
                   "layer_3": 11.0, "layer_4": 20.0, "layer_5": 20.0}])  # step 6
    callback.probe = _Probe(callback.trainable_blocks(), norms)
    callback._replicas = 1
    drive(callback, [0.5] * 6, steps_per_epoch=10)
    # Step 4: the blocks' rates are 50 % (layer_0) and 0 %: the threshold is 0 % and nothing
    # freezes (the embeddings' 800 % is not counted). Step 6: 0, 0, 10, 10, 19 and 19 (x100 %)
    # put it at 500 %: layers 0 and 1 freeze, and the embeddings with them.
    decided = [(d.step, d.block, d.signal) for d in callback.decisions]
    assert decided == [(6, "embeddings", "with_block_above"),
                       (6, "layer_0", "grad_norm_change"), (6, "layer_1", "grad_norm_change")]
    assert callback.trainable_blocks() == LAYERS[2:]
    rider = callback.decisions[0]
    assert (rider.value, rider.threshold) == (callback.decisions[1].value,
                                              callback.decisions[1].threshold)
    assert "step 6: embeddings frozen (with the block above: grad-norm change 0.0% <= " \
        "500.0%)" in capsys.readouterr().out


def test_decisions_after_a_resume_are_saved(tmp_path):
    """After a resume Keras hands the callbacks numpy epochs: the state file stays JSON."""
    plan = plan_freezing(NAMES, "auto", uses_pooler=False)
    settings = AutoFreezeSettings(interval=2, percentile=100.0, candidates=["layer_0"])
    callback = AutoFreezing(_Encoder(), plan, settings, steps_per_epoch=5, total_steps=10,
                            log_dir=str(tmp_path), state_file=str(tmp_path / "state.json"))
    callback.probe = _Probe(callback.trainable_blocks())
    callback._replicas = 1
    callback.set_model(_Model())
    callback.on_train_begin()
    callback.on_epoch_begin(np.int64(1))  # resumed in the second epoch
    for batch in range(5):
        callback.on_train_batch_begin(np.int64(batch))
        callback.on_train_batch_end(np.int64(batch), {"loss": np.float32(0.5)})
    assert [(d.step, d.epoch, d.block) for d in callback.decisions] == [(8, 2, "layer_0")]
    assert json.loads((tmp_path / "state.json").read_text())["decisions"][0]["epoch"] == 2


class StepSnapshots(keras.callbacks.Callback):
    """Every model and optimizer variable (each replica's copy) at the start and after every
    step, the trainable variables' names and the train function in use before each step."""

    def __init__(self, steps_per_epoch: int):
        super().__init__()
        self.steps_per_epoch = steps_per_epoch
        self.values, self.trainable, self.functions = {}, {}, {}

    def on_train_begin(self, logs=None):
        self.values[0] = self._take()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        step = self.epoch * self.steps_per_epoch + batch + 1
        self.functions[step] = self.model.train_function

    def on_train_batch_end(self, batch, logs=None):
        step = self.epoch * self.steps_per_epoch + batch + 1
        self.values[step] = self._take()
        self.trainable[step] = {v.name for v in self.model.trainable_variables}

    def _take(self):
        values = {}
        for prefix, variables in (("", self.model.variables),
                                  ("opt/", self.model.optimizer.variables())):
            for v in variables:
                values[prefix + v.name] = [np.array(r.numpy()) for r in getattr(v, "values", (v,))]
        return values


def read_events(folder: str) -> tuple[dict[int, float], dict[int, list[str]]]:
    """(trainable blocks by step, decision texts by step) from the freezing event files."""
    blocks, texts = {}, {}
    for path in glob.glob(f"{folder}/logs/freezing/events.out.tfevents.*"):
        for raw in tf.data.TFRecordDataset(path):
            event = event_pb2.Event.FromString(raw.numpy())
            for value in event.summary.value:
                if value.tag == "freezing/trainable_blocks":
                    blocks[event.step] = float(tf.make_ndarray(value.tensor))
                elif value.tag == "freezing/decision":
                    texts.setdefault(event.step, []).append(
                        tf.make_ndarray(value.tensor).item().decode())
    return blocks, texts


STEPS_PER_EPOCH = 6  # 96 examples at batch 16


def train_auto(freeze: str, encoder_dir, prepared, out, strategy):
    """One epoch (6 steps) of ``freeze`` under ``strategy``, looking every 2 steps, every
    candidate qualifying (percentile 100), no warmup, no progress gate: (result, snapshots,
    log)."""
    snap = StepSnapshots(STEPS_PER_EPOCH)
    cfg = TrainConfig(freeze=freeze, pooling="mean", epochs=1, batch_size=16,
                      max_train_examples=96, learning_rate=1e-3, warmup_fraction=0.0,
                      auto_freeze_interval=2, auto_freeze_percentile=100.0,
                      auto_freeze_min_progress=0.0, mixed_precision="float32")
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        result = run_train(cfg, encoder_dir, prepared.output_dir, str(out), strategy=strategy,
                           verbose=0, callbacks=[snap])
    return result, snap, log.getvalue()


@pytest.fixture(scope="module")
def auto_run(tiny6_encoder_dir, preprocessed_tiny, two_cpu_strategy, tmp_path_factory):
    """One epoch (6 steps) of ``freeze: auto`` under 2 replicas, looking every 2 steps. The
    embeddings are frozen from the start (single texts); no warmup. At the 100th percentile
    every candidate qualifies at the first comparison (step 4): blocks 0-3 freeze there,
    bottom up; layer_4 and layer_5 (the floor) never do. The progress gate is off here (it
    has its own test).
    (Which blocks a lower percentile picks, and in what stages, is the rule's own test; a
    multi-worker run and float16 loss scaling were checked by hand.)"""
    out = tmp_path_factory.mktemp("auto") / "train"
    result, snap, log = train_auto("auto", tiny6_encoder_dir, preprocessed_tiny, out,
                                   two_cpu_strategy)
    return result, snap, str(out), log


def test_blocks_freeze_bottom_up_and_are_logged_everywhere(auto_run):
    result, snap, out, log = auto_run
    decisions = result.report.freeze_decisions
    assert result.replicas == 2
    order = LAYERS[:4]
    assert [d.block for d in decisions] == order, log[-2000:]  # bottom up, then the floor
    assert [d.step for d in decisions] == [4, 4, 4, 4]
    steps = [d.step for d in decisions]
    assert [d.signal for d in decisions] == ["grad_norm_change"] * 4
    assert all(d.value <= d.threshold for d in decisions)
    # the embeddings were frozen from the start, and the report says so
    assert result.report.freeze == "embeddings+auto"
    assert "auto-freeze: the embeddings are frozen from the start" in log
    # the training log: one line per decision
    for d in decisions:
        assert f"auto-freeze: {d.describe()}" in log
    # the report on disk, its table and history
    assert TrainingReport.load(out).freeze_decisions == decisions
    status = {row["block"]: row["status"] for row in result.freeze_table}
    assert {b: status[b] for b in order if b in status} == {
        b: (f"frozen@{steps[i]}" if i < len(decisions) else "trainable")
        for i, b in enumerate(order)}
    assert status["layer_4"] == status["layer_5"] == "trainable"
    assert status["embeddings"] == "frozen"
    trainable_blocks = result.history["trainable_blocks"]
    assert trainable_blocks[-1] == 6 - len(decisions)
    assert trainable_blocks == sorted(trainable_blocks, reverse=True)
    # TensorBoard: trainable blocks over steps never go up; a text per decision
    counts, texts = read_events(out)
    assert [counts[s] for s in sorted(counts)] == sorted(counts.values(), reverse=True)
    assert counts[0] == 6 and counts[max(counts)] == 6 - len(decisions)
    assert sorted(t for step in texts.values() for t in step) == sorted(
        d.describe() for d in decisions)


def test_frozen_blocks_are_bit_identical_from_their_decision_on(auto_run):
    result, snap, out, log = auto_run
    last = max(snap.values)
    for decision in result.report.freeze_decisions:
        at = snap.values[decision.step]
        names = [n for n in at if block_of(n.removeprefix("opt/")) == decision.block]
        assert any(n.startswith("opt/") for n in names)  # its AdamW slots are checked too
        for name in names:
            for replica in snap.values[last][name]:  # replicas stay in sync
                assert np.array_equal(replica, snap.values[last][name][0]), name
            assert all(np.array_equal(a, b) for a, b in zip(at[name], snap.values[last][name])
                       ), f"{name} changed after {decision.block} froze at step {decision.step}"
        # ... and it trained before: its weights moved since the start
        assert any(not np.array_equal(snap.values[0][n][0], at[n][0]) for n in names
                   if not n.startswith("opt/"))
    # the top blocks and the head train to the end
    first = min(d.step for d in result.report.freeze_decisions)
    for block in ("layer_5", "other"):
        assert any(not np.array_equal(snap.values[first][n][0], snap.values[last][n][0])
                   for n in snap.values[last] if block_of(n) == block and n in snap.trainable[last])


def test_partly_frozen_embeddings_train_then_freeze_with_block_0(
        tiny6_encoder_dir, preprocessed_tiny, two_cpu_strategy, tmp_path):
    """``word_embeddings+auto`` (where a pair task starts) under 2 replicas: the word matrix
    never moves and gets no optimizer slot; positions, token types and the embeddings'
    LayerNorm train until step 4, then freeze with blocks 0-3 and stay bit-identical."""
    result, snap, log = train_auto("word_embeddings+auto", tiny6_encoder_dir, preprocessed_tiny,
                                   tmp_path / "train", two_cpu_strategy)
    decided = [(d.step, d.block, d.signal) for d in result.report.freeze_decisions]
    assert decided == [(4, "embeddings", "with_block_above")] + [
        (4, b, "grad_norm_change") for b in LAYERS[:4]], log[-2000:]
    assert "auto-freeze: step 4: embeddings frozen (with the block above: " in log
    assert result.report.freeze == "word_embeddings+auto"
    last = max(snap.values)
    embeddings = [n for n in snap.values[last]
                  if block_of(n.removeprefix("opt/")) == "embeddings"]
    words = [n for n in embeddings if "word_embeddings" in n]
    rest = [n for n in embeddings if n not in words and not n.startswith("opt/")]
    assert words == [n for n in words if not n.startswith("opt/")]  # no slots for the matrix
    assert rest
    for name in words:
        assert np.array_equal(snap.values[0][name][0], snap.values[last][name][0])
    moved = [n for n in rest if not np.array_equal(snap.values[0][n][0], snap.values[4][n][0])]
    assert moved, "positions, token types and LayerNorm should train before step 4"
    for name in embeddings:
        for before, after in zip(snap.values[4][name], snap.values[last][name]):
            assert np.array_equal(before, after), f"{name} changed after it froze at step 4"


def test_retraced_train_step_watches_only_the_trainable_blocks(auto_run):
    result, snap, out, log = auto_run
    decided = {d.step: d.block for d in result.report.freeze_decisions}
    frozen: set[str] = set()
    steps = sorted(snap.trainable)
    for step in steps:
        if step - 1 in {d.step for d in result.report.freeze_decisions}:
            # a new train function from the step after a decision on
            assert snap.functions[step] is not snap.functions[step - 1]
        elif step > 1:
            assert snap.functions[step] is snap.functions[step - 1]
        frozen |= {b for s, b in decided.items() if s < step}
        assert not {block_of(n) for n in snap.trainable[step]} & frozen
    # the last trace holds fewer ops than the first: no backward pass below the frozen blocks
    sizes = [len(f._list_all_concrete_functions()[0].graph.get_operations())
             for f in (snap.functions[1], snap.functions[steps[-1]])]
    assert sizes[1] < sizes[0]


def test_decisions_reach_the_evaluation_report_and_the_model_card(auto_run, tiny6_encoder_dir,
                                                                  preprocessed_tiny):
    from components.evaluate.evaluator import run_evaluate
    from components.evaluate.report import markdown_summary, report_html
    from components.export.model_card import model_card

    result, snap, out, log = auto_run
    decisions = result.report.freeze_decisions
    evaluation = run_evaluate(out, preprocessed_tiny.output_dir)
    page = report_html(evaluation)
    for d in decisions:
        assert f"frozen@{d.step}" in page
        assert f"{d.block} at step {d.step}" in markdown_summary(evaluation)
    assert "froze these blocks during training" in page
    card = model_card(result.report, EncoderInfo.load(tiny6_encoder_dir),
                      PreparedExamples.load(preprocessed_tiny.output_dir), evaluation)
    assert [(d["step"], d["block"]) for d in card.training["freeze_decisions"]] == [
        (d.step, d.block) for d in decisions]


class Interrupt(Exception):
    """Stands for a kill: raised out of ``fit`` (no ``on_train_end``, the backup stays)."""


class InterruptAtFirstDecision(keras.callbacks.Callback):
    """Stops training at the step ``auto`` first freezes (its state file appears), after
    that step's backup; keeps every variable's value at that moment."""

    def __init__(self, state_file: str):
        super().__init__()
        self.state_file = state_file

    def on_train_batch_end(self, batch, logs=None):
        if tf.io.gfile.exists(self.state_file):
            self.values = {v.name: v.numpy().copy() for v in self.model.variables}
            raise Interrupt()


class ValuesAtBeginAndEnd(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):  # after BackupAndRestore restored the backup
        self.begin = {v.name: v.numpy().copy() for v in self.model.variables}

    def on_train_end(self, logs=None):
        self.end = {v.name: v.numpy().copy() for v in self.model.variables}


@pytest.mark.slow  # two runs (a kill and a resume): the slow tier, like tests/train/test_resume.py
def test_a_resumed_run_keeps_the_decisions_made_before_the_kill(tiny6_encoder_dir,
                                                               preprocessed_tiny, tmp_path,
                                                               capsys):
    out = tmp_path / "train"
    cfg = TrainConfig(freeze="auto", pooling="mean", epochs=2, batch_size=16,
                      max_train_examples=96, learning_rate=1e-3, warmup_fraction=0.0,
                      auto_freeze_interval=2, auto_freeze_percentile=100.0,
                      checkpoint_steps=2,
                      auto_freeze_min_progress=0.0, mixed_precision="float32")
    stop = InterruptAtFirstDecision(str(out / "backup" / "auto_freeze.json"))
    with pytest.raises(Interrupt):
        run_train(cfg, tiny6_encoder_dir, preprocessed_tiny.output_dir, str(out), verbose=0,
                  callbacks=[stop])
    first = capsys.readouterr().out
    before = [line.removeprefix("auto-freeze: ") for line in first.splitlines()
              if line.startswith("auto-freeze: step ")]
    assert before and not (out / "model").exists()

    seen = ValuesAtBeginAndEnd()
    result = run_train(cfg, tiny6_encoder_dir, preprocessed_tiny.output_dir, str(out),
                       verbose=0, callbacks=[seen])
    again = capsys.readouterr().out
    decisions = result.report.freeze_decisions
    # the decisions made before the kill come first, unchanged, and are not made again
    assert [d.describe() for d in decisions[:len(before)]] == before
    assert "auto-freeze: resumed at step" in again
    assert not any(line.removeprefix("auto-freeze: ") in before for line in again.splitlines())
    # the blocks frozen before the kill: as the backup had them, from the resume to the end
    frozen = {d.block for d in decisions[:len(before)]}
    names = [n for n in seen.begin if block_of(n) in frozen]
    assert names
    for name in names:
        assert np.array_equal(seen.begin[name], stop.values[name]), name
        assert np.array_equal(seen.begin[name], seen.end[name]), name
    status = {row["block"]: row["status"] for row in result.freeze_table}
    assert all(status[d.block] == f"frozen@{d.step}" for d in decisions)
    assert not (out / "backup" / "auto_freeze.json").exists()  # gone once training finished
