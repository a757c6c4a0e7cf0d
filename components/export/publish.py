"""Publishing a blessed export: copy it under ``blessed_root`` and make it the baseline.

The copy goes first (``blessed_root/<version>/``); ``blessed.json`` (``BlessedModel``) is
replaced last, so it never points at a half-copied export. Replacing it is a compare-and-swap,
because the gate compared this run with the blessed model of *its* time and another run (a
manual one beside the nightly schedule) may have published since:

1. read ``blessed.json`` as it is now (on ``gs://``: with its generation);
2. decide again with the gate's rule (``components/evaluate/blessing.py``): this run replaces
   it if its main metric is at least the current value minus the allowed regression the gate
   used (0 when the evaluation has no verdict: at least equal). The outcome is the one the
   gate would have given had it run just before this publish;
3. write the new record only if ``blessed.json`` is still what was read: on ``gs://`` with
   ``if_generation_match=<generation read>`` (0: must not exist yet); locally under an
   exclusive ``fcntl.flock`` on ``blessed_root/blessed.json.lock``, through a temporary file
   renamed into place. On ``gs://`` a 412 (another writer got in between) means: read again
   and decide again, up to ``CAS_ATTEMPTS`` times.

When another run published a model this one does not match, ``blessed.json`` is left alone:
the step prints one line saying which model stays and why, and succeeds (returning ''), since
the pipeline did its job and the better model is in place. The copy under
``blessed_root/<version>/`` is kept: it is a complete, gate-approved export, useful to
compare with or roll back to, and deleting objects other readers may list is riskier than an
unreferenced folder (clean old versions with a lifecycle rule). A ``blessed.json`` that cannot
be read is not replaced: ``ContractError``, one line.

On ``gs://`` every request goes through ``components.gcs`` (retries with exponential backoff
on 408/429/5xx and dropped connections, up to a deadline; then ``StorageError``, one line).
Other URI schemes go through ``tf.io.gfile`` with the same decision but no lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import re
from collections.abc import Iterator

from components import gcs
from components.contracts import BlessedModel, Evaluation, ModelCard
from components.errors import ContractError
from components.storage import copy_tree

# Times ``blessed.json`` may change under a gs:// publisher before it gives up.
CAS_ATTEMPTS = 5


def version_name(schedule_time: str, job_name: str) -> str:
    """A folder name for a published model: the scheduled time of a recurring run (so that
    outputs are named by the schedule), else the run's job name, else the current UTC time."""
    for candidate in (schedule_time, job_name):
        if candidate and "{{" not in candidate:
            return re.sub(r"[^A-Za-z0-9._-]+", "-", candidate).strip("-")
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _require_complete(export_dir: str) -> None:
    """The export step writes ``model_card.json`` last: an export folder without it was cut
    short (a killed step) and must never become the blessed model."""
    import tensorflow as tf

    card = ModelCard.path_in(export_dir.rstrip("/"))
    if not tf.io.gfile.exists(card):
        raise ContractError(f"{card}: missing: the export step did not finish; rerun it")


def publish_blessed(export_dir: str, evaluation: Evaluation, blessed_root: str,
                    main_metric: str, version: str, *,
                    retry: gcs.RetryPolicy | None = None) -> str:
    """Copies the export to ``blessed_root/version`` and then, if it still matches the blessed
    model there (see the module docstring), points ``blessed.json`` at it. Returns the
    published folder; '' when no root is set or a better model was published meanwhile.
    ``retry``: the ``gs://`` retry policy (``gcs.RetryPolicy()`` by default)."""
    if not blessed_root:
        print("publish: no blessed_root set; the blessed export stays in the run's artifacts")
        return ""
    _require_complete(export_dir)
    root = blessed_root.rstrip("/")
    target = f"{root}/{version}"
    metrics = evaluation.eval_metrics
    record = BlessedModel(
        version=version, path=target, main_metric=main_metric, value=metrics[main_metric],
        metrics={k: v for k, v in metrics.items()
                 if isinstance(v, (int, float)) and not isinstance(v, bool)},
        published_utc=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    blessing = evaluation.blessing
    max_regression = blessing.max_regression if blessing is not None else 0.0
    if gcs.is_gs(root):
        client = gcs.client()
        gcs.upload_tree(export_dir, target, policy=retry, storage_client=client)
        kept = _swap_on_gcs(record, root, max_regression, retry, client)
    else:
        copy_tree(export_dir.rstrip("/"), target)
        with _exclusive(root):
            kept = _current(root)
            if _replaces(record, kept, max_regression):
                record.save(root)
                kept = None
    if kept is not None:
        baseline = kept.metrics.get(main_metric)
        print(f"publish: not replacing {BlessedModel.path_in(root)}: it now points at "
              f"{kept.version} ({main_metric}={baseline:.4f}, published {kept.published_utc}), "
              f"which this run's {record.value:.4f} does not reach (allowed regression "
              f"{max_regression:.4f}); this export stays at {target}, not the blessed model")
        return ""
    print(f"publish: {target} is the blessed model ({main_metric}={record.value:.4f})")
    return target


def _replaces(record: BlessedModel, current: BlessedModel | None,
              max_regression: float) -> bool:
    """The gate's rule against the record there now: no record, or none for this metric, or
    ``value >= current - max_regression``."""
    baseline = current.metrics.get(record.main_metric) if current is not None else None
    return baseline is None or record.value >= baseline - max_regression


def _unreadable(err: ContractError) -> ContractError:
    return ContractError(f"{err}: publish does not replace a record it cannot read; fix or "
                         f"remove it, then rerun")


def _current(root: str) -> BlessedModel | None:
    try:
        return BlessedModel.latest(root)
    except ContractError as err:
        raise _unreadable(err) from None


@contextlib.contextmanager
def _exclusive(root: str) -> Iterator[None]:
    """Holds ``root/blessed.json.lock`` exclusively (local roots; other schemes: no lock)."""
    if "://" in root:
        yield
        return
    os.makedirs(root, exist_ok=True)
    with open(f"{root}/{BlessedModel.FILE}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def _swap_on_gcs(record: BlessedModel, root: str, max_regression: float,
                 retry: gcs.RetryPolicy | None, client) -> BlessedModel | None:
    """The compare-and-swap on ``gs://``: None when ``record`` is in place, else the better
    record that stays."""
    uri = BlessedModel.path_in(root)
    payload = record.to_json().encode()
    refused = False
    for _ in range(CAS_ATTEMPTS):
        stored = gcs.read(uri, policy=retry, storage_client=client)
        if stored is not None and stored.data == payload:
            return None  # this run's own write, whose answer was lost and then retried
        if refused:
            print(f"publish: {uri} changed since it was read: another run published; "
                  f"deciding again against its record")
        try:
            current = BlessedModel.from_json(stored.data, uri) if stored else None
        except ContractError as err:
            raise _unreadable(err) from None
        if not _replaces(record, current, max_regression):
            return current
        if gcs.write_if_generation(uri, payload, stored.generation if stored else 0,
                                   policy=retry, storage_client=client):
            return None
        refused = True
    raise gcs.StorageError(f"{uri}: changed {CAS_ATTEMPTS} times while this run tried to "
                           f"replace it: another publisher keeps writing; rerun the publish "
                           f"step")
