"""What ``bertpipe run`` shows a person: one line per step as it starts and ends, the freeze
table once, one line per epoch, then a summary; the steps' full output goes to their log files
(``pipelines/run_watch.py``).

On a terminal the running step is one live line, redrawn in place: elapsed time and, while
training, a progress bar with the epoch's loss and accuracy and an ETA for the step; it is
replaced by the step's final line. Anywhere else (a pipe, CI) every line is plain text
written once: no carriage returns, no escape sequences.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from typing import TextIO

from components import progress

DISPLAY = {"gate": "quality-gate"}  # task folder -> the name the README and the UI use
NAME_WIDTH = 15
SPINNER = "|/-\\"


def duration(seconds: float) -> str:
    """``7s``, ``1m43s``, ``1h02m``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def metric_text(metrics: dict[str, float]) -> str:
    """``loss 0.4210 accuracy 0.8050 val_loss … val_accuracy …`` (what an epoch is judged by)."""
    keys = [k for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in metrics]
    return " ".join(f"{k} {metrics[k]:.4f}" for k in keys)


def bar(fraction: float, width: int = 20) -> str:
    filled = int(round(max(0.0, min(1.0, fraction)) * width))
    return "[" + "#" * filled + "-" * (width - filled) + "]"


class RunView:
    """Renders a run on ``out``; every method is safe to call from the ticker thread's
    neighbours (one lock)."""

    def __init__(self, out: TextIO, live: bool, show_steps: bool = True):
        self.out, self.live, self.show_steps = out, live, show_steps
        self._lock = threading.Lock()
        self._step: str | None = None
        self._started = 0.0
        self._progress: progress.Progress | None = None
        self._progress_at = 0.0
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._ok = "✓" if (getattr(out, "encoding", "") or "").lower().startswith("utf") else "+"
        self._fail = "✗" if self._ok == "✓" else "x"

    # -- output -------------------------------------------------------------------------
    def _write_line(self, text: str) -> None:
        """A permanent line (the live line, if any, is cleared first and redrawn after)."""
        with self._lock:
            if self.live:
                self.out.write("\r\033[K")
            self.out.write(text + "\n")
            if self.live and self._step is not None:
                self.out.write(self._live_text())
            self.out.flush()

    def line(self, text: str = "") -> None:
        self._write_line(text)

    def _live_text(self) -> str:
        elapsed = time.monotonic() - self._started
        spin = SPINNER[int(elapsed * 2) % len(SPINNER)]
        text = f"{spin} {self._name(self._step):<{NAME_WIDTH}}{duration(elapsed):>7}  "
        p = self._progress
        if p is not None:
            done = (p.epoch - 1) * p.steps + p.step
            total = p.epochs * p.steps
            since = p.seconds + (time.monotonic() - self._progress_at)
            per_step = p.seconds / max(p.step, 1)
            eta = max(per_step * (total - done) - (since - p.seconds), 0.0)
            text += (f"epoch {p.epoch}/{p.epochs} {bar(p.step / max(p.steps, 1))} "
                     f"{p.step}/{p.steps}  ETA {duration(eta)}  {metric_text(p.metrics)}")
        else:
            text += "running"
        width = shutil.get_terminal_size((100, 24)).columns
        return text[:max(width - 1, 20)]

    def _redraw(self) -> None:
        with self._lock:
            if self._step is not None:
                self.out.write("\r\033[K" + self._live_text())
                self.out.flush()

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            self._redraw()

    @staticmethod
    def _name(step: str | None) -> str:
        return DISPLAY.get(step or "", step or "")

    # -- events -------------------------------------------------------------------------
    def header(self, text: str) -> None:
        self.line(text)

    def step_started(self, step: str) -> None:
        self._step, self._started, self._progress = step, time.monotonic(), None
        if not self.show_steps:
            return
        if self.live:
            self._redraw()
            if self._ticker is None:
                self._ticker = threading.Thread(target=self._tick, daemon=True)
                self._ticker.start()
        else:
            self.line(f"  {self._name(step):<{NAME_WIDTH}}started")

    def event(self, step: str, event: progress.Event) -> None:
        if not self.show_steps:
            return
        if isinstance(event, progress.Table):
            self.line(f"    {event.title}")
            for row in event.lines:
                self.line(f"      {row}")
        elif isinstance(event, progress.Progress):
            self._progress, self._progress_at = event, time.monotonic()
            if self.live:
                self._redraw()
        elif isinstance(event, progress.EpochEnd):
            self._progress = None
            self.line(f"    epoch {event.epoch}/{event.epochs}  {metric_text(event.metrics)}"
                      f"  ({duration(event.seconds)})")

    def step_finished(self, step: str, ok: bool, seconds: float, facts: str) -> None:
        self._step = None
        if not self.show_steps:
            return
        mark = self._ok if ok else self._fail
        status = "" if ok else "FAILED  "
        self.line(f"{mark} {self._name(step):<{NAME_WIDTH}}{duration(seconds):>7}  "
                  f"{status}{facts}".rstrip())

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
        with self._lock:
            if self.live:
                self.out.write("\r\033[K")
            self.out.flush()


def stream_is_live(stream: TextIO) -> bool:
    """A terminal that understands ``\\r`` and erase-line (not ``TERM=dumb``)."""
    try:
        return stream.isatty() and os.environ.get("TERM", "") != "dumb"
    except (AttributeError, ValueError):
        return False

