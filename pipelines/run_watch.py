"""Watching a kfp.local run for ``bertpipe run``: each step's whole output goes to
``<step>.log`` in the run's folder, its progress events to the run view, its outcome to the
run's record (``run.json``).

kfp.local runs every task through ``task_dispatcher.run_single_task_implementation``, which
prints the task's streamed output and its own executor/artifact logging to ``sys.stdout``.
``Watch`` wraps that function: for the duration of a task, ``sys.stdout`` and ``sys.stderr``
are a ``StepSink`` that writes the log file and hands progress events to the view (and, with
``--verbose``, echoes everything to the terminal as kfp.local always did). What the
``bertpipe`` process itself prints between tasks (kfp.local's pipeline lines, TensorFlow's
start-up noise when it validates the encoder) is captured at the file-descriptor level
(``capture_process_output``) and kept as ``run.log``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import io
import os
import re
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator, TextIO

from kfp.local import executor_input_utils, status, task_dispatcher

from components import progress
from components.config import PipelineConfig
from pipelines import step_facts
from pipelines.run_records import LocalRun, StepRecord, now_utc
from pipelines.run_view import RunView

_ERROR_LINE = re.compile(r"^[\w.-]+: error: .+|^\w+(?:\.\w+)*(?:Error|Exception|Exit): .+")


def error_line(log: str) -> str:
    """The step's own last error line (``preprocess: error: ...`` or an exception's last
    line), else its last non-empty line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        if _ERROR_LINE.match(line):
            return line
    return lines[-1] if lines else "(no output)"


class StepSink(io.TextIOBase):
    """A text stream that writes one step's log, passes each complete line to ``on_line``
    and echoes to ``echo`` when given."""

    def __init__(self, log: TextIO, on_line: Callable[[str], None], echo: TextIO | None):
        super().__init__()
        self.log, self.on_line, self.echo = log, on_line, echo
        self._partial = ""

    @property
    def encoding(self) -> str:  # what print() and logging consult
        return "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        self.log.write(text)
        if self.echo is not None:
            self.echo.write(text)
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        for line in lines:
            self.on_line(line)
        return len(text)

    def flush(self) -> None:
        self.log.flush()
        if self.echo is not None:
            self.echo.flush()


@contextlib.contextmanager
def capture_process_output() -> Iterator[tuple[TextIO, Path]]:
    """Points this process's file descriptors 1 and 2 at a temporary file (so C++ and
    Python output alike land there) and yields (a stream to the real terminal, the file).
    Restored on exit, whatever happens."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    fd, name = tempfile.mkstemp(prefix="bertpipe-run-", suffix=".log")
    terminal = os.fdopen(os.dup(saved_out), "w", buffering=1, encoding="utf-8",
                         errors="replace")
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield terminal, Path(name)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        for handle in (saved_out, saved_err, fd):
            os.close(handle)
        terminal.close()
        Path(name).unlink(missing_ok=True)


class Watch:
    """Installs itself around kfp.local's task runner for one ``bertpipe run``."""

    def __init__(self, view: RunView, config: PipelineConfig, echo: TextIO | None = None):
        self.view, self.config, self.echo = view, config, echo
        self.run_dir: Path | None = None
        self.record: LocalRun | None = None
        self.failure: tuple[str, str, Path] | None = None  # step, its error line, its log
        self._original: Callable[..., Any] | None = None

    def __enter__(self) -> "Watch":
        self._original = task_dispatcher.run_single_task_implementation
        original = self._original
        signature = inspect.signature(original)

        def watched(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            return self._run_task(original, bound.arguments, args, kwargs)

        task_dispatcher.run_single_task_implementation = watched
        return self

    def __exit__(self, *exc: Any) -> None:
        task_dispatcher.run_single_task_implementation = self._original

    # -- the record ---------------------------------------------------------------------
    def _start_record(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        self.record = LocalRun(
            name=run_dir.name, started_utc=now_utc(), status="running",
            data_path=self.config.data.data_path, encoder=self.config.encoder,
            freeze=self.config.train.freeze, parameters=self.config.parameters())
        self.save()

    def update(self, **changes: Any) -> None:
        if self.record is not None:
            self.record = dataclasses.replace(self.record, **changes)
            self.save()

    def save(self) -> None:
        if self.record is not None and self.run_dir is not None:
            self.record.save(str(self.run_dir))

    # -- one task -----------------------------------------------------------------------
    def _run_task(self, original: Callable[..., Any], arguments: dict[str, Any],
                  args: tuple, kwargs: dict) -> Any:
        step = executor_input_utils.get_local_task_resource_name(arguments["component_name"])
        run_dir = Path(arguments["pipeline_root"]) / arguments["pipeline_resource_name"]
        if self.run_dir is None:
            self._start_record(run_dir)
        log_path = run_dir / f"{step}.log"
        self.view.step_started(step)
        started = time.monotonic()
        stdout, stderr = sys.stdout, sys.stderr
        with open(log_path, "w", encoding="utf-8", errors="replace") as log:
            sink = StepSink(log, lambda line: self._line(step, line), self.echo)
            sys.stdout = sys.stderr = sink
            try:
                outputs, task_status = original(*args, **kwargs)
            finally:
                sink.flush()
                sys.stdout, sys.stderr = stdout, stderr
        seconds = time.monotonic() - started
        self._note_peak(step)
        ok = task_status == status.Status.SUCCESS
        if ok:
            facts = step_facts.facts(step, outputs, self.config, run_dir)
        else:
            line = error_line(log_path.read_text(encoding="utf-8"))
            facts = f"{line} (full log: {log_path})"
            self.failure = (step, line, log_path)
        self.view.step_finished(step, ok, seconds, facts)
        steps = [*(self.record.steps if self.record else []),
                 StepRecord(step, "succeeded" if ok else "failed", round(seconds, 1),
                            str(log_path), facts)]
        self.update(steps=steps)
        return outputs, task_status

    def _note_peak(self, step: str) -> None:
        """The largest resident set of any step process so far (kfp.local runs each step as
        a child of this process; the kernel keeps the maximum over waited-for children), and
        the step that set it."""
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # KiB on Linux
        if self.record is not None and peak > self.record.peak_memory_bytes:
            self.update(peak_memory_bytes=peak, peak_memory_step=step)

    def _line(self, step: str, line: str) -> None:
        event = progress.parse(line)
        if event is not None:
            self.view.event(step, event)
