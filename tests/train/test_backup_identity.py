"""A backup is resumed only by the run that wrote it: a killed run restarted in the same output
folder with other settings is refused in one line before any training (it used to continue
the other run's weights and schedule silently, training no step when that backup's epochs
were done), and the same run still resumes."""

from __future__ import annotations

import dataclasses
import json

import pytest

from components.config import TrainConfig
from components.errors import ConfigError
from components.keras import keras
from components.train.backup_identity import IDENTITY_FILE, check_backup, record_identity
from components.train.trainer import run_train


def fake_backup(folder, identity=None):
    (folder / "chief").mkdir(parents=True)
    (folder / "chief" / "checkpoint").write_text("model_checkpoint_path: \"ckpt-1\"\n")
    if identity is not None:
        (folder / IDENTITY_FILE).write_text(json.dumps(identity))


def test_the_identity_is_written_with_no_backup_and_checked_against_one(tmp_path):
    mine = {"config": {"epochs": 2, "seed": 7}, "steps_per_epoch": 10}
    check_backup(str(tmp_path / "fresh"), mine)  # checking writes nothing
    assert not (tmp_path / "fresh").exists()
    record_identity(str(tmp_path / "fresh"), mine)
    assert json.loads((tmp_path / "fresh" / IDENTITY_FILE).read_text()) == mine
    record_identity(str(tmp_path / "other-worker"), mine, owns_files=False)
    assert not (tmp_path / "other-worker").exists()

    fake_backup(tmp_path / "same", mine)
    check_backup(str(tmp_path / "same"), mine)  # the same run resumes
    record_identity(str(tmp_path / "same"), {"config": {}})  # a backup's identity is kept
    assert json.loads((tmp_path / "same" / IDENTITY_FILE).read_text()) == mine

    fake_backup(tmp_path / "other", {"config": {"epochs": 1, "seed": 7}, "steps_per_epoch": 20})
    with pytest.raises(ConfigError) as err:
        check_backup(str(tmp_path / "other"), mine)
    message = str(err.value)
    assert "\n" not in message and "holds the backup of another run" in message
    assert "config.epochs 1 -> 2" in message and "steps_per_epoch 20 -> 10" in message
    assert "seed" not in message

    fake_backup(tmp_path / "older")  # a backup from before identities: resumed as before
    check_backup(str(tmp_path / "older"), mine)


class Interrupt(Exception):
    """Stands for a kill: raised out of ``fit`` (no ``on_train_end``, the backup stays)."""


class InterruptAfterFirstBackup(keras.callbacks.Callback):
    def __init__(self, backup_dir):
        super().__init__()
        self.backup_dir = backup_dir

    def on_train_batch_end(self, batch, logs=None):
        if any(self.backup_dir.rglob("checkpoint")):
            raise Interrupt()


def test_a_killed_run_restarted_with_other_settings_is_refused(tiny6_encoder_dir,
                                                               preprocessed_tiny, tmp_path):
    out = tmp_path / "train"
    cfg = TrainConfig(freeze="last:2", epochs=2, batch_size=16, max_train_examples=64,
                      checkpoint_steps=2, mixed_precision="float32")
    with pytest.raises(Interrupt):
        run_train(cfg, tiny6_encoder_dir, preprocessed_tiny.output_dir, str(out), verbose=0,
                  callbacks=[InterruptAfterFirstBackup(out / "backup")])
    assert (out / "backup" / IDENTITY_FILE).exists() and not (out / "model").exists()

    changed = dataclasses.replace(cfg, epochs=1, checkpoint_steps=3)
    with pytest.raises(ConfigError, match=r"holds the backup of another run \(config\.epochs "
                                          r"2 -> 1\)"):
        run_train(changed, tiny6_encoder_dir, preprocessed_tiny.output_dir, str(out), verbose=0)
    assert not (out / "model").exists()

    # the run that wrote it resumes (a new backup interval is not a new run) and finishes
    same = dataclasses.replace(cfg, checkpoint_steps=3)
    result = run_train(same, tiny6_encoder_dir, preprocessed_tiny.output_dir, str(out),
                       verbose=0)
    assert (out / "model").exists() and result.report.history["loss"]
    assert not any(p.is_file() for p in (out / "backup").rglob("*"))  # all gone at the end
