"""A backup belongs to the run that wrote it.

Keras' ``BackupAndRestore`` resumes whatever backup it finds in the output folder. Restarted
with other settings or other examples, a run would continue another run's weights, optimizer
and schedule, silently: a backup whose last epoch is done trains no step at all (seen when an
output folder was reused with a 1-epoch setting after a killed 2-epoch run). So the run's
identity is written beside its backup, and a backup of another run is refused before any
training, with one line naming what differs.
"""

from __future__ import annotations

import dataclasses
import json

import tensorflow as tf

from components.config import TrainConfig
from components.contracts import PreparedExamples
from components.errors import ConfigError

IDENTITY_FILE = "run.json"
# Settings a resumed run may change: how often it backs up changes nothing it computes.
MAY_CHANGE = ("checkpoint_steps",)


def run_identity(cfg: TrainConfig, encoder_dir: str, preprocess_dir: str,
                 examples: PreparedExamples, steps_per_epoch: int) -> dict:
    """What a backup must match to be resumed: the settings, the encoder, the examples."""
    config = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in MAY_CHANGE}
    return {"config": config, "encoder_dir": encoder_dir.rstrip("/"),
            "examples_dir": preprocess_dir.rstrip("/"),
            "examples": {s: examples.count(s) for s in sorted(examples.splits)},
            "labels": list(examples.labels), "max_seq_length": examples.max_seq_length,
            "steps_per_epoch": steps_per_epoch}


def _has_backup(backup_dir: str) -> bool:
    if not tf.io.gfile.isdir(backup_dir):
        return False
    return any("checkpoint" in files for _, _, files in tf.io.gfile.walk(backup_dir))


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key} {a!r} -> {b!r}")
    return out


def check_backup(backup_dir: str, identity: dict) -> None:
    """Before any work: refuses another run's backup (``ConfigError``). A backup without an
    identity (written before bertpipe kept one) is resumed as before."""
    path = f"{backup_dir}/{IDENTITY_FILE}"
    if not _has_backup(backup_dir) or not tf.io.gfile.exists(path):
        return
    with tf.io.gfile.GFile(path) as f:
        recorded = json.load(f)
    differ = _differences(recorded, identity)
    if differ:
        shown = "; ".join(differ[:3]) + (f"; {len(differ) - 3} more" if len(differ) > 3
                                         else "")
        raise ConfigError(
            f"{backup_dir} holds the backup of another run ({shown}): resume it with its "
            f"own settings and examples, or delete that folder to start afresh")


def record_identity(backup_dir: str, identity: dict, owns_files: bool = True) -> None:
    """Just before ``fit`` (every check passed): with no backup yet, writes this run's
    identity where its backup will be (when this worker ``owns_files``)."""
    if owns_files and not _has_backup(backup_dir):
        tf.io.gfile.makedirs(backup_dir)
        with tf.io.gfile.GFile(f"{backup_dir}/{IDENTITY_FILE}", "w") as f:
            json.dump(identity, f, indent=1)


def forget_identity(backup_dir: str, owns_files: bool = True) -> None:
    """After a finished ``fit``: the backup is gone (Keras deletes it), so is its identity."""
    path = f"{backup_dir}/{IDENTITY_FILE}"
    if owns_files and tf.io.gfile.exists(path):
        tf.io.gfile.remove(path)
