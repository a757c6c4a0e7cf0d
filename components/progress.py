"""Progress events: what a step tells the local run view (``pipelines/run_view.py``) while it
runs, beyond the files it hands the next step.

A step prints each event as one stdout line, ``@@bertpipe {"kind": ..., ...}``: it travels
the same way as the step's other output (kfp.local's pipe, a container's log stream, a pod's
log), so no side channel is needed, and a reader that does not know the marker sees an
ordinary log line. Per-batch ``Progress`` events are printed only when the run view asks for
them (``BERTPIPE_PROGRESS=1``): a pod's log on a cluster keeps one line per epoch.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, ClassVar

MARKER = "@@bertpipe "
PROGRESS_ENV = "BERTPIPE_PROGRESS"


@dataclasses.dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = ""


@dataclasses.dataclass(frozen=True)
class Table(Event):
    """A block of text the view shows once, as is (the freeze table)."""
    kind: ClassVar[str] = "table"
    title: str
    lines: list[str]


@dataclasses.dataclass(frozen=True)
class EpochBegin(Event):
    kind: ClassVar[str] = "epoch_begin"
    epoch: int  # 1-based
    epochs: int
    steps: int


@dataclasses.dataclass(frozen=True)
class Progress(Event):
    """Where training is inside an epoch (throttled by the emitter)."""
    kind: ClassVar[str] = "progress"
    epoch: int
    epochs: int
    step: int
    steps: int
    seconds: float  # since the epoch began
    metrics: dict[str, float]


@dataclasses.dataclass(frozen=True)
class EpochEnd(Event):
    kind: ClassVar[str] = "epoch_end"
    epoch: int
    epochs: int
    seconds: float
    metrics: dict[str, float]


EVENTS: dict[str, type[Event]] = {e.kind: e for e in (Table, EpochBegin, Progress, EpochEnd)}


def line_of(event: Event) -> str:
    return MARKER + json.dumps({"kind": event.kind, **dataclasses.asdict(event)})


def emit(event: Event) -> None:
    print(line_of(event), flush=True)


def parse(line: str) -> Event | None:
    """The event on ``line`` (None for any other line, or a malformed event)."""
    start = line.find(MARKER)
    if start < 0:
        return None
    try:
        data: dict[str, Any] = json.loads(line[start + len(MARKER):])
        klass = EVENTS[data.pop("kind")]
        return klass(**data)
    except (ValueError, KeyError, TypeError):
        return None


def progress_wanted() -> bool:
    return os.environ.get(PROGRESS_ENV, "") == "1"
