"""A training process killed mid-epoch and restarted with the same command resumes from its
last backup and finishes.

Exact equality with an uninterrupted run does not hold, and is not expected: the restarted
process builds a new input pipeline (the shuffle starts again from the seed's first order and
the skipped steps are counted, not replayed) and a new dropout RNG stream. So the final eval
metrics are compared within a tolerance: accuracy within 0.05, log loss within 0.15.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from components.evaluate.evaluator import run_evaluate

ARGS = ["--freeze", "last:1", "--epochs", "3", "--batch-size", "8", "--max-train-examples",
        "320", "--checkpoint-steps", "15", "--learning-rate", "3e-4", "--seed", "7"]


def train_command(minilm_dir, preprocessed, out: Path) -> list[str]:
    return [sys.executable, "-m", "pipelines.cli", "train", "--encoder-dir", minilm_dir,
            "--examples-dir", preprocessed.output_dir, "--output-dir", str(out), *ARGS]


@pytest.mark.slow
def test_killed_run_resumes_from_backup(minilm_dir, preprocessed, tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    plain = subprocess.run(train_command(minilm_dir, preprocessed, tmp_path / "plain"),
                           capture_output=True, text=True, env=env, timeout=600)
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert "resumed from backup" not in plain.stdout

    out = tmp_path / "killed"
    proc = subprocess.Popen(train_command(minilm_dir, preprocessed, out), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    backup = out / "backup"
    deadline = time.monotonic() + 300
    while not (backup.exists() and any(backup.rglob("checkpoint"))):
        assert proc.poll() is None, "training ended before its first backup"
        assert time.monotonic() < deadline, "no backup appeared"
        time.sleep(0.2)
    time.sleep(1.5)  # a few more steps, then a hard kill mid-epoch
    assert proc.poll() is None, "training ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (out / "model").exists()

    again = subprocess.run(train_command(minilm_dir, preprocessed, out), capture_output=True,
                           text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    resumed = [line for line in again.stdout.splitlines() if line.startswith("resumed from")]
    assert resumed, again.stdout[-2000:]
    epoch, step = (int(x) for x in resumed[0].replace(",", "").split()[-3::2])
    assert (epoch, step) != (1, 0)
    assert not any(p.is_file() for p in backup.rglob("*"))  # deleted once training finished

    a = run_evaluate(str(tmp_path / "plain"), preprocessed.output_dir).eval_metrics
    b = run_evaluate(str(out), preprocessed.output_dir).eval_metrics
    assert abs(a["accuracy"] - b["accuracy"]) <= 0.05
    assert abs(a["log_loss"] - b["log_loss"]) <= 0.15
