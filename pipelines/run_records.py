"""Local runs to browse: ``run.json`` in each kfp.local run folder, ``bertpipe runs --local``
and ``bertpipe show RUN``.

kfp.local keeps no record of a run beyond its artifacts, so ``bertpipe run`` writes one
(``LocalRun``): when it started and ended, what it trained on, each step's status, time and log,
the headline metrics and the gate's verdict. It is rewritten as steps end, so a run killed
midway still says how far it got (status ``running`` with no end time: interrupted).

The evaluate step's HTML report is a KFP ``HTML`` artifact: a file named ``report`` with no
extension, which a browser opened by URL shows as source text. ``report_page`` puts a copy
named ``report.html`` beside it, and the run's summary points there.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import shutil
from pathlib import Path
from typing import Any, ClassVar

from components.contracts import Contract
from components.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class StepRecord:
    step: str
    status: str  # succeeded / failed
    seconds: float
    log: str
    facts: str = ""


@dataclasses.dataclass(frozen=True)
class LocalRun(Contract):
    """One ``bertpipe run``: what a person browsing runs wants without opening artifacts."""

    FILE: ClassVar[str] = "run.json"
    KIND: ClassVar[str] = "bertpipe.local_run"

    name: str
    started_utc: str
    status: str  # running / succeeded / failed
    data_path: str
    encoder: str
    freeze: str
    parameters: dict[str, Any]
    steps: list[StepRecord] = dataclasses.field(default_factory=list)
    finished_utc: str = ""
    accuracy: float | None = None
    macro_f1: float | None = None
    blessed: bool | None = None
    gate_reason: str = ""
    error: str = ""
    artifacts: dict[str, str] = dataclasses.field(default_factory=dict)
    # The largest step process's resident memory and its step (steps run on this machine;
    # with --runner docker they run in containers and are not counted).
    peak_memory_bytes: int = 0
    peak_memory_step: str = ""


def now_utc() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def report_page(run_dir: str | Path) -> Path | None:
    """``evaluate/report.html``, a copy of the report artifact a browser renders (made when
    missing); None when the run has no report."""
    artifact = Path(run_dir) / "evaluate" / "report"
    if not artifact.is_file():
        return None
    page = artifact.with_name("report.html")
    if not page.exists() or page.stat().st_mtime < artifact.stat().st_mtime:
        shutil.copyfile(artifact, page)
    return page


def summary_file(run_dir: str | Path) -> Path | None:
    path = Path(run_dir) / "evaluate" / "summary"
    return path if path.is_file() else None


def list_runs(root: str | Path) -> list[tuple[Path, LocalRun | None]]:
    """Run folders under ``root``, newest first, with their record (None for runs made
    before records existed, or unreadable ones)."""
    base = Path(root).resolve()
    if not base.is_dir():
        raise ConfigError(f"pipeline root {root} does not exist (bertpipe run --pipeline-root)")
    runs = []
    for folder in sorted((p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")),
                         key=lambda p: p.name, reverse=True):
        if not (LocalRun.exists(str(folder)) or (folder / "import-encoder").is_dir()):
            continue
        try:
            record = LocalRun.load(str(folder)) if LocalRun.exists(str(folder)) else None
        except ValueError:
            record = None
        runs.append((folder, record))
    return runs


def _short_time(utc: str) -> str:
    return utc.replace("T", " ").removesuffix("Z")[:16] if utc else "?"


def runs_table(runs: list[tuple[Path, LocalRun | None]]) -> list[str]:
    """One line per run: when, status, accuracy, blessed, freeze spec, data, name."""
    head = f"{'started (UTC)':<17} {'status':<10} {'accuracy':>8} {'blessed':<8} " \
           f"{'freeze':<10} {'data':<30} run"
    lines = [head]
    for folder, run in runs:
        if run is None:  # made before run records: kfp.local's name holds its start time
            stamp = re.match(r"^.*?(\d{4})-(\d\d)-(\d\d)-(\d\d)-(\d\d)", folder.name)
            when = "{}-{}-{} {}:{}".format(*stamp.groups()) if stamp else "?"
            lines.append(f"{when:<17} {'no record':<10} {'':>8} {'':<8} {'':<10} {'':<30} "
                         f"{folder.name}")
            continue
        status = run.status if run.status != "running" or run.finished_utc else "running?"
        accuracy = f"{run.accuracy:.3f}" if run.accuracy is not None else "-"
        blessed = {True: "yes", False: "no", None: "-"}[run.blessed]
        data = run.data_path if len(run.data_path) <= 30 else "…" + run.data_path[-29:]
        lines.append(f"{_short_time(run.started_utc):<17} {status:<10} {accuracy:>8} "
                     f"{blessed:<8} {run.freeze:<10} {data:<30} {folder.name}")
    return lines


def find_run(root: str | Path, name: str) -> Path:
    """A run folder by path, by name under ``root``, by unique prefix, or ``latest``."""
    if Path(name).is_dir() and (LocalRun.exists(name) or (Path(name) / "evaluate").is_dir()):
        return Path(name).resolve()
    runs = [folder for folder, _ in list_runs(root)]
    if name == "latest":
        if not runs:
            raise ConfigError(f"no runs in {root}")
        return runs[0]
    matches = [f for f in runs if f.name == name] or [f for f in runs if f.name.startswith(name)]
    if len(matches) != 1:
        which = "no run" if not matches else f"{len(matches)} runs"
        raise ConfigError(f"{which} named {name!r} in {root} (bertpipe runs --local lists them)")
    return matches[0]


def show_lines(run_dir: Path) -> list[str]:
    """A run's Markdown summary (or its record when it has none) and where its pages are."""
    record = LocalRun.load(str(run_dir)) if LocalRun.exists(str(run_dir)) else None
    lines = [f"run {run_dir.name}  ({run_dir})"]
    if record is not None:
        lines.append(f"started {_short_time(record.started_utc)} UTC, {record.status}"
                     + (f": {record.error}" if record.error else ""))
        for step in record.steps:
            lines.append(f"  {step.step:<15}{step.status:<10}{step.seconds:>7.0f}s  {step.log}")
    summary = summary_file(run_dir)
    lines.append("")
    lines += summary.read_text(encoding="utf-8").rstrip().splitlines() if summary else \
        ["(no evaluation summary: the run did not reach the evaluate step)"]
    page = report_page(run_dir)
    lines.append("")
    if page is not None:
        lines.append(f"report: {page.resolve().as_uri()}")
    exported = run_dir / "export" / "exported_model"
    if exported.is_dir():
        lines.append(f"export: {exported}")
    return lines
