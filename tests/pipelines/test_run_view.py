"""What a person sees of `bertpipe run`: the run view on a real terminal (a pty) and in a pipe,
the step logs that keep everything else, `--verbose`, a failed step, and the local runs to
browse afterwards (`bertpipe runs --local`, `bertpipe show`)."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from components import progress
from fixtures import sentiment_rows, write_csv
from pipelines.run_records import LocalRun
from pipelines.run_view import RunView

STEP_NAMES = ("import-encoder", "preprocess", "train", "evaluate", "quality-gate", "export",
              "publish")
FAKE_SECRET = "-----BEGIN PRIVATE KEY-----bertpipe-fake-credential-7f3a9c"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def screen(raw: str) -> list[str]:
    """The lines a terminal shows after printing ``raw``: ``\\r`` goes back to column 0,
    ``ESC[K`` erases to the end of the line, ``\\n`` moves down. Any other control sequence
    fails the test (the view uses only these)."""
    lines, row, col, i = [""], 0, 0, 0
    while i < len(raw):
        if raw.startswith("\x1b[K", i):
            lines[row] = lines[row][:col]
            i += 3
            continue
        char = raw[i]
        if char == "\r":
            col = 0
        elif char == "\n":
            row, col = row + 1, 0
            if row == len(lines):
                lines.append("")
        else:
            assert not CONTROL.match(char) and char != "\x1b", f"control {char!r} at {i}"
            line = lines[row].ljust(col)
            lines[row] = line[:col] + char + line[col + 1:]
            col += 1
        i += 1
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def run_in_pty(args: list[str], columns: int = 150, rows: int = 50, timeout: int = 600,
               extra_env: dict[str, str] | None = None) -> tuple[int, str]:
    """Runs ``args`` with a pseudo-terminal as stdin, stdout and stderr (as in a person's
    shell); returns the exit status and everything the terminal received."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", **(extra_env or {})}
    env.pop("COLUMNS", None)
    proc = subprocess.Popen(args, stdin=child, stdout=child, stderr=child, env=env,
                            close_fds=True)
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    return proc.wait(timeout=timeout), b"".join(chunks).decode("utf-8", errors="replace")


def bertpipe(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


# -- the view on its own ------------------------------------------------------------------

def _play(view: RunView) -> None:
    view.header("bertpipe run: encoder tiny")
    view.step_started("train")
    view.event("train", progress.Table("freeze last:1", ["block  status", "layer_1  trainable"]))
    view.event("train", progress.EpochBegin(1, 2, 10))
    view.event("train", progress.Progress(1, 2, 4, 10, 2.0, {"loss": 0.7, "accuracy": 0.5}))
    view.event("train", progress.EpochEnd(1, 2, 5.0, {"loss": 0.6, "accuracy": 0.7,
                                                      "val_loss": 0.5, "val_accuracy": 0.8}))
    view.step_finished("train", True, 12.0, "100 of 1,000 parameters trained")
    view.step_started("gate")
    view.step_finished("gate", False, 1.0, "ValueError: no (full log: /x/gate.log)")
    view.line("accuracy=0.900 macro_f1=0.890")
    view.close()


def test_view_in_a_pipe_is_plain_lines():
    out = io.StringIO()
    _play(RunView(out, live=False))
    text = out.getvalue()
    assert not CONTROL.search(text)
    assert text.splitlines() == [
        "bertpipe run: encoder tiny",
        "  train          started",
        "    freeze last:1",
        "      block  status",
        "      layer_1  trainable",
        "    epoch 1/2  loss 0.6000 accuracy 0.7000 val_loss 0.5000 val_accuracy 0.8000  (5s)",
        "+ train              12s  100 of 1,000 parameters trained",
        "  quality-gate   started",
        "x quality-gate        1s  FAILED  ValueError: no (full log: /x/gate.log)",
        "accuracy=0.900 macro_f1=0.890"]


def test_view_on_a_terminal_redraws_one_live_line(monkeypatch):
    monkeypatch.setenv("COLUMNS", "150")  # the live line is cut to the terminal's width
    class Terminal(io.StringIO):
        encoding = "utf-8"

    out = Terminal()
    _play(RunView(out, live=True))
    raw = out.getvalue()
    # The live progress bar: 4 of 20 steps in 2 s, so 16 more take 8 s.
    assert "epoch 1/2 [########------------] 4/10  ETA 8s  loss 0.7000 accuracy 0.5000" in raw
    shown = screen(raw)
    assert shown[0] == "bertpipe run: encoder tiny"
    assert shown[-1] == "accuracy=0.900 macro_f1=0.890"
    assert "✓ train              12s  100 of 1,000 parameters trained" in shown
    assert not any("ETA" in line or "started" in line for line in shown)  # replaced in place
    assert len(shown) == 8


# -- whole runs ---------------------------------------------------------------------------

@pytest.fixture
def reviews(tmp_path) -> Path:
    return write_csv(tmp_path / "data" / "reviews.tsv", sentiment_rows(120, seed=3),
                     delimiter="\t")


def _run_args(tmp_path: Path, data: Path, encoder: str) -> list[str]:
    return ["--pipeline-root", str(tmp_path / "runs"), "--data-path", str(data),
            "--encoder", encoder, "--split-key-column", "group", "--max-seq-length", "32",
            "--epochs", "2", "--batch-size", "16", "--learning-rate", "1e-2",
            "--trainable-blocks", "1", "--blessed-root", str(tmp_path / "blessed")]


@pytest.mark.slow
def test_run_on_a_terminal_fits_a_screen_and_logs_keep_everything(tmp_path, reviews,
                                                                  tiny_encoder_dir):
    # A fake credential in the environment, as a scheduled run on a workstation might have:
    # it must never reach the screen, a log, the run record or an artifact.
    key = tmp_path / "secrets" / "gcp-key.json"
    key.parent.mkdir()
    key.write_text(json.dumps({"type": "service_account", "private_key": FAKE_SECRET}))
    status, raw = run_in_pty([sys.executable, "-m", "pipelines.cli", "run",
                              *_run_args(tmp_path, reviews, tiny_encoder_dir)],
                             extra_env={"GOOGLE_APPLICATION_CREDENTIALS": str(key),
                                        "BERTPIPE_TEST_TOKEN": FAKE_SECRET})
    shown = screen(raw)
    assert status == 0, "\n".join(shown[-30:])
    assert len(shown) <= 40, "\n".join(shown)
    for name in STEP_NAMES:  # each step's final line: its status, time and facts
        assert any(re.match(rf"✓ {name}\s+\d+s\s+\S", line) for line in shown), (name, shown)
    assert any(line.startswith("    freeze last:1") for line in shown)
    assert [line.split()[1] for line in shown if line.startswith("    epoch ")] == ["1/2", "2/2"]
    assert re.search(r"epoch 1/2 \[#*-*\] \d+/\d+  ETA \d+[hms]", raw)  # the live bar
    assert any(line.startswith("quality gate: blessed") for line in shown)
    (report,) = [line.split()[1] for line in shown if line.startswith("  report ")]
    assert report.startswith("file://") and report.endswith("/report.html")
    assert re.fullmatch(r"accuracy=\d\.\d{3} macro_f1=\d\.\d{3}", shown[-1])
    (memory,) = [line for line in shown if line.startswith("  memory ")]
    assert re.fullmatch(r"  memory   peak \d+\.\d [MG]B resident \([\w-]+ step\)", memory)
    noise = ("oneDNN", "pkg_resources", "Executing task", "may result in incorrect", "WARNING")
    assert not [line for line in shown if any(n in line for n in noise)]

    (run_dir,) = (tmp_path / "runs").iterdir()
    record = LocalRun.load(str(run_dir))
    assert record.status == "succeeded" and [s.status for s in record.steps] == ["succeeded"] * 7
    assert record.peak_memory_bytes > 200_000_000  # a step that imports TensorFlow
    train_log = (run_dir / "train.log").read_text()
    # The full output is in the logs: kfp.local's executor lines, Keras' epoch lines, the
    # progress events the view drew from, TensorFlow's own start-up lines.
    assert "Executing task" in train_log and "Epoch 2/2" in train_log
    assert progress.MARKER in train_log and "trainable parameters:" in train_log
    assert re.search(r"tensorflow|oneDNN|cpu_feature_guard", train_log)
    assert "Streamed logs" in (run_dir / "preprocess.log").read_text()
    assert (run_dir / "run.log").exists()
    assert FAKE_SECRET not in raw
    leaked = [p for p in (tmp_path / "runs").rglob("*") if p.is_file()
              and (FAKE_SECRET.encode() in p.read_bytes() or str(key).encode() in p.read_bytes())]
    assert not leaked, leaked

    listed = bertpipe("runs", "--pipeline-root", str(tmp_path / "runs"))
    assert listed.returncode == 0, listed.stderr
    head, row = listed.stdout.strip().splitlines()
    assert head.split()[:3] == ["started", "(UTC)", "status"]
    assert row.split()[2:6] == ["succeeded", f"{record.accuracy:.3f}", "yes", "last:1"], row
    assert row.endswith(run_dir.name)

    shown_run = bertpipe("show", run_dir.name[:20], "--pipeline-root", str(tmp_path / "runs"))
    assert shown_run.returncode == 0, shown_run.stderr
    text = shown_run.stdout
    assert "# bertpipe evaluation" in text and "succeeded" in text
    url = re.search(r"^report: (file://\S+)$", text, flags=re.M).group(1)
    assert url == (run_dir / "evaluate" / "report.html").as_uri()
    assert "<svg" in (run_dir / "evaluate" / "report.html").read_text()


@pytest.fixture
def rejected(tmp_path) -> Path:
    rows = sentiment_rows(40, seed=5)
    rows[7]["label"] = ""  # one dead letter, where none may be
    return write_csv(tmp_path / "data" / "bad.csv", rows)


@pytest.mark.slow
@pytest.mark.parametrize("verbose", [False, True])
def test_a_failed_step_says_its_own_line_and_where_its_log_is(tmp_path, rejected, verbose,
                                                             tiny_encoder_dir):
    proc = bertpipe("run", *(["--verbose"] if verbose else []), "--pipeline-root",
                    str(tmp_path / "runs"), "--data-path", str(rejected), "--encoder",
                    tiny_encoder_dir, "--split-key-column", "group",
                    "--max-rejected-fraction", "0")
    assert proc.returncode == 1
    (run_dir,) = (tmp_path / "runs").iterdir()
    log = run_dir / "preprocess.log"
    error = (f"bertpipe: error: step preprocess failed: preprocess: error: 1 of 40 rows "
             f"rejected (2.5% > max_rejected_fraction 0%); see ")
    assert proc.stderr.strip().splitlines()[-1].startswith(error), proc.stderr[-2000:]
    assert proc.stderr.strip().endswith(f"(full log: {log})")
    assert "preprocess: error: 1 of 40 rows rejected" in log.read_text()
    record = LocalRun.load(str(run_dir))
    assert record.status == "failed" and record.error.startswith("step preprocess failed")
    assert [(s.step, s.status) for s in record.steps] == [("import-encoder", "succeeded"),
                                                         ("preprocess", "failed")]
    assert "accuracy=" not in proc.stdout
    if verbose:  # everything, as kfp.local prints it
        assert "Executing task" in proc.stdout and "Streamed logs" in proc.stdout
        assert "preprocess: error: 1 of 40 rows rejected" in proc.stdout
    else:  # one line per step; no kfp frames, no traceback
        assert "Executing task" not in proc.stdout + proc.stderr
        assert "Traceback" not in proc.stdout + proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
        failed = [line for line in proc.stdout.splitlines() if line.startswith("✗ preprocess")]
        assert len(failed) == 1 and "FAILED  preprocess: error: 1 of 40" in failed[0]
        assert not CONTROL.search(proc.stdout)
    runs = json.loads((run_dir / "run.json").read_text())
    assert runs["kind"] == "bertpipe.local_run"
