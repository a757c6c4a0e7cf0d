"""Publishing on ``gs://`` against an in-process GCS emulator (``tests/gcs_emulator.py``) that
enforces generation preconditions and injects faults: transient errors are retried until a
deadline, then fail in one line; ``blessed.json`` is replaced by compare-and-swap, so a
publisher that lost a race reads again and never erases a better model; the gate reads the
record through the same retrying client. Locally the same swap runs under a file lock."""

from __future__ import annotations

import fcntl
import threading
import time
from pathlib import Path

import pytest
import requests

from components import contracts, gcs
from components.contracts import BlessedModel, Blessing, Evaluation
from components.evaluate.blessing import decide
from components.export.publish import publish_blessed
from gcs_emulator import BUCKET, GcsEmulator

ROOT = f"gs://{BUCKET}/blessed"
RECORD = "blessed/blessed.json"
# Fast backoff for tests: 10 ms doubling up to 50 ms, for at most 10 s.
RETRY = gcs.RetryPolicy(initial=0.01, maximum=0.05, multiplier=2.0, deadline=10.0)
FILES = {"saved_model.pb": b"\x08\x01" * 3000,
         "variables/variables.index": bytes(range(256)) * 4,
         "variables/variables.data-00000-of-00001": bytes(range(256)) * 400,
         "assets/vocab.txt": b"[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\n",
         "model_card.json": b'{"task": "single-sentence classification"}'}
# Over the client's 8 MiB multipart limit: uploaded as a resumable upload.
BIG = {"variables/variables.data-00000-of-00001": bytes(range(256)) * 36_864}


@pytest.fixture()
def gcs_emulator(monkeypatch):
    """The emulator, the client pointed at it without credentials, and ``tf.io.gfile`` barred
    from ``gs://`` (it ignores the emulator and retries nothing)."""
    with GcsEmulator() as emulator:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.url)
        monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
        real_files = contracts._files

        def files(path: str):
            assert "://" not in path, f"{path} was read through tf.io.gfile"
            return real_files(path)

        monkeypatch.setattr(contracts, "_files", files)
        yield emulator


def _export(tmp_path: Path, files: dict[str, bytes] = FILES) -> str:
    export = tmp_path / "export"
    for name, data in files.items():
        (export / name).parent.mkdir(parents=True, exist_ok=True)
        (export / name).write_bytes(data)
    return str(export)


def _evaluation(accuracy: float, max_regression: float | None = None) -> Evaluation:
    blessing = None if max_regression is None else Blessing(
        True, "blessed", "accuracy", accuracy, 0.5, max_regression)
    return Evaluation(labels=["neg", "pos"], splits={"eval": {"accuracy": accuracy}}, slices={},
                      mistakes=[], history={}, training={}, data={}, blessing=blessing)


def _copy_of(emulator: GcsEmulator, version: str) -> dict[str, bytes]:
    prefix = f"blessed/{version}/"
    return {n[len(prefix):]: data for n, data in emulator.objects(prefix).items()}


def _record(emulator: GcsEmulator) -> BlessedModel:
    return BlessedModel.from_json(emulator.objects(RECORD)[RECORD], RECORD)


def _upload(emulator: GcsEmulator, kind: str, name: str, data: bytes, generation: int) -> int:
    """One write of ``name`` with ``ifGenerationMatch=generation``, as a media, multipart or
    resumable upload; the HTTP status."""
    from google.api_core.exceptions import PreconditionFailed

    if kind == "media":
        return requests.post(f"{emulator.url}/upload/storage/v1/b/{BUCKET}/o",
                             params={"uploadType": "media", "name": name,
                                     "ifGenerationMatch": generation}, data=data,
                             timeout=10).status_code
    blob = gcs.client().bucket(BUCKET).blob(name)
    if kind == "resumable":
        blob.chunk_size = 256 * 1024  # any chunk size makes the client upload resumably
    try:
        blob.upload_from_string(data, if_generation_match=generation)
    except PreconditionFailed:
        return 412
    return 200


@pytest.mark.parametrize("kind", ["media", "multipart", "resumable"])
def test_the_emulator_enforces_generation_match_on_every_upload_kind(gcs_emulator, kind):
    """The helper's precondition support is real, or the race tests below prove nothing."""
    data = b"x" * 300_000  # more than one 256 KiB chunk when resumable
    assert _upload(gcs_emulator, kind, "o", data, 0) == 200
    first = int(gcs_emulator.generation("o"))
    assert _upload(gcs_emulator, kind, "o", data, 0) == 412  # 0: must not exist
    assert _upload(gcs_emulator, kind, "o", data, first) == 200
    assert _upload(gcs_emulator, kind, "o", data, first) == 412  # stale generation
    assert int(gcs_emulator.generation("o")) > first
    writes = [r for r in gcs_emulator.requests if r.is_write and r.outcome in (200, 412)]
    assert [r.outcome for r in writes] == [200, 412, 200, 412]


def test_publishing_survives_503s_and_dropped_connections(gcs_emulator, tmp_path, capsys):
    export = _export(tmp_path, {**FILES, **BIG})
    publish_blessed(_export(tmp_path / "old"), _evaluation(0.7), ROOT, "accuracy", "v0",
                    retry=RETRY)
    e = gcs_emulator
    faults = [
        # the copy: multipart uploads, and the resumable upload's start and its data
        e.fail_next(2, "503", method="POST", name=r"/v1/saved_model\.pb$"),
        e.fail_next(1, "drop", method="POST", name=r"/v1/variables/variables\.index$"),
        e.fail_next(1, "drop-after", method="POST", name=r"/v1/assets/vocab\.txt$"),
        e.fail_next(1, "drop", method="POST", name=r"/v1/variables/variables\.data"),
        e.fail_next(1, "503", method="PUT", name=r"/v1/variables/variables\.data"),
        # blessed.json: its metadata and bytes, then the conditional write, whose second try
        # lands but loses its answer (the third then gets 412 and finds its own record)
        e.fail_next(1, "503", method="GET", name=r"blessed\.json$"),
        e.fail_next(2, "drop", method="GET", name=r"blessed\.json$"),
        e.fail_next(1, "503", method="POST", name=r"blessed\.json$"),
        e.fail_next(1, "drop-after", method="POST", name=r"blessed\.json$"),
    ]
    target = publish_blessed(export, _evaluation(0.8), ROOT, "accuracy", "v1", retry=RETRY)
    assert target == f"{ROOT}/v1"
    assert [f.hits for f in faults] == [2, 1, 1, 1, 1, 1, 2, 1, 1]
    assert all(f.remaining == 0 for f in faults)
    assert _copy_of(e, "v1") == {**FILES, **BIG}
    record = _record(e)
    assert (record.version, record.path, record.value) == ("v1", f"{ROOT}/v1", 0.8)
    writes = [r.outcome for r in e.requests_for(r"blessed\.json$") if r.is_write]
    assert writes[-3:] == [503, "dropped", 412]
    assert f"publish: {ROOT}/v1 is the blessed model (accuracy=0.8000)" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["503", "drop"])
def test_retries_give_up_after_the_deadline_with_one_line(gcs_emulator, tmp_path, kind):
    gcs_emulator.fail_next(None, kind)  # gs:// down for good
    start = time.monotonic()
    with pytest.raises(gcs.StorageError) as failure:
        publish_blessed(_export(tmp_path), _evaluation(0.8), ROOT, "accuracy", "v1",
                        retry=gcs.RetryPolicy(initial=0.01, maximum=0.05, deadline=0.5))
    assert time.monotonic() - start < 5
    line = str(failure.value)
    assert "\n" not in line and "Traceback" not in line
    assert line.startswith(f"{ROOT}/v1/")
    assert " upload gave up after " in line and "(retry deadline 0.5 s); last error: " in line
    assert ("503" in line) if kind == "503" else ("Connection aborted" in line)
    assert len(gcs_emulator.requests) > 3  # it did retry, with backoff, then stopped
    assert not gcs_emulator.objects(RECORD)


@pytest.mark.parametrize("a, b", [(0.9, 0.8), (0.8, 0.9)], ids=["a-better", "b-better"])
def test_a_publisher_that_lost_a_race_reads_again_and_keeps_the_better_model(
        gcs_emulator, tmp_path, monkeypatch, capsys, a, b):
    """Publisher B writes blessed.json between A's read and A's write: A's conditional write
    gets 412, A reads again and decides against B's record."""
    export = _export(tmp_path)
    publish_blessed(export, _evaluation(0.7), ROOT, "accuracy", "v0", retry=RETRY)
    real_read, read_by_a = gcs.read, []

    def read_then_b_publishes(uri, **kwargs):
        stored = real_read(uri, **kwargs)
        if not read_by_a:
            read_by_a.append(stored.generation)
            publish_blessed(export, _evaluation(b), ROOT, "accuracy", "b", retry=RETRY)
        return stored

    monkeypatch.setattr(gcs, "read", read_then_b_publishes)
    result = publish_blessed(export, _evaluation(a), ROOT, "accuracy", "a", retry=RETRY)
    better = "a" if a > b else "b"
    record = _record(gcs_emulator)  # whole: it parses
    assert (record.version, record.value) == (better, max(a, b))
    assert _copy_of(gcs_emulator, better) == FILES  # it points at a complete copy
    assert _copy_of(gcs_emulator, "a") == _copy_of(gcs_emulator, "b") == FILES  # both kept
    refused = [r for r in gcs_emulator.requests_for(r"blessed\.json$") if r.outcome == 412]
    assert [r.if_generation_match for r in refused] == [str(read_by_a[0])]
    out = capsys.readouterr().out
    assert f"publish: {ROOT}/blessed.json changed since it was read" in out
    if better == "a":
        assert result == f"{ROOT}/a"
    else:
        assert result == ""
        assert (f"publish: not replacing {ROOT}/blessed.json: it now points at b "
                f"(accuracy=0.9000") in out
        assert (f"which this run's 0.8000 does not reach (allowed regression 0.0000); this "
                f"export stays at {ROOT}/a, not the blessed model") in out


def test_every_write_of_the_record_carries_the_generation_it_read(gcs_emulator, tmp_path):
    export = _export(tmp_path)
    publish_blessed(export, _evaluation(0.8), ROOT, "accuracy", "v1", retry=RETRY)
    first = gcs_emulator.generation(RECORD)
    publish_blessed(export, _evaluation(0.9), ROOT, "accuracy", "v2", retry=RETRY)
    writes = [r for r in gcs_emulator.requests_for(r"blessed\.json$") if r.is_write]
    assert [(r.if_generation_match, r.outcome) for r in writes] == [("0", 200), (first, 200)]
    assert _record(gcs_emulator).version == "v2"


def test_an_unreadable_gs_record_fails_the_gate_with_a_clear_reason(gcs_emulator):
    gcs.client().bucket(BUCKET).blob(RECORD).upload_from_string(
        b'{"kind": "bertpipe.blessed_model", "vers')
    fault = gcs_emulator.fail_next(1, "503", method="GET", name=r"blessed\.json$")
    blessing = decide({"accuracy": 0.99}, "accuracy", 0.5, 0.01, ROOT)
    assert fault.hits == 1  # read through the retrying client
    assert not blessing.blessed
    assert blessing.reason.startswith("not blessed: the last blessed model's record is "
                                      f"unreadable ({ROOT}/blessed.json: not readable as JSON")
    assert blessing.reason.endswith("fix or remove it, then rerun")


def test_the_gate_compares_with_the_record_on_gs(gcs_emulator, tmp_path):
    publish_blessed(_export(tmp_path), _evaluation(0.9), ROOT, "accuracy", "v1", retry=RETRY)
    blessing = decide({"accuracy": 0.85}, "accuracy", 0.5, 0.01, ROOT)
    assert not blessing.blessed and blessing.baseline_version == "v1"


# -- locally: the same compare-and-swap, under a file lock ------------------------------------


@pytest.mark.parametrize("value, max_regression, replaced", [
    (0.80, None, True),     # a tie replaces (the gate blesses ties)
    (0.795, None, False),   # no verdict: no regression allowed
    (0.795, 0.01, True),    # the regression the gate allowed
    (0.785, 0.01, False),
])
def test_locally_the_decision_at_publish_time_is_the_gates_rule(tmp_path, capsys, value,
                                                                max_regression, replaced):
    root = str(tmp_path / "blessed")
    export = _export(tmp_path)
    publish_blessed(export, _evaluation(0.80), root, "accuracy", "current")
    result = publish_blessed(export, _evaluation(value, max_regression), root, "accuracy",
                             "candidate")
    assert BlessedModel.load(root).version == ("candidate" if replaced else "current")
    assert result == ("" if not replaced else f"{root}/candidate")
    assert (tmp_path / "blessed" / "candidate" / "model_card.json").exists()  # copy kept
    assert ("publish: not replacing" in capsys.readouterr().out) is not replaced


def test_locally_the_swap_waits_for_the_lock_then_keeps_a_better_model(tmp_path):
    """Another publisher holds blessed.json.lock and writes a better record meanwhile: this
    one waits, then reads that record and leaves it."""
    root = tmp_path / "blessed"
    root.mkdir()
    export = _export(tmp_path)
    results: list[str] = []
    with open(root / "blessed.json.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        publisher = threading.Thread(target=lambda: results.append(publish_blessed(
            export, _evaluation(0.8), str(root), "accuracy", "a")))
        publisher.start()
        deadline = time.monotonic() + 20
        while not all((root / "a" / n).exists() for n in FILES) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        assert not (root / BlessedModel.FILE).exists()  # waiting for the lock
        BlessedModel(version="b", path=str(root / "b"), main_metric="accuracy", value=0.9,
                     metrics={"accuracy": 0.9},
                     published_utc="2026-01-01T00:00:00+00:00").save(str(root))
    publisher.join(timeout=20)
    assert results == [""]
    assert BlessedModel.load(str(root)).version == "b"
