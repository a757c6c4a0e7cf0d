"""The blessed model under concurrency: two runs publishing to one ``blessed_root`` at once
never leave a half-written ``blessed.json``, nor one pointing at a half-copied export; a
``blessed.json`` that cannot be read fails the gate with a clear reason instead of blessing
blindly."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

from components.contracts import BlessedModel, Evaluation
from components.evaluate.blessing import decide

FILES = {**{f"part-{i}.bin": bytes([i]) * 20_000 for i in range(12)},
         "model_card.json": b'{"written": "last"}'}


def _evaluation(accuracy: float) -> Evaluation:
    return Evaluation(labels=["neg", "pos"], splits={"eval": {"accuracy": accuracy}}, slices={},
                      mistakes=[], history={}, training={}, data={})


def _publisher(export: str, root: str, name: str, rounds: int, start: float) -> None:
    from components.export.publish import publish_blessed

    while time.time() < start:
        time.sleep(0.001)
    for i in range(rounds):
        publish_blessed(export, _evaluation(0.8), root, "accuracy", f"{name}-{i:03d}")


def test_two_runs_publishing_at_once_never_leave_a_broken_record(tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    for name, data in FILES.items():
        (export / name).write_bytes(data)
    root = tmp_path / "blessed"
    ctx = multiprocessing.get_context("spawn")
    start = time.time() + 8  # both past their imports, then publishing at the same moment
    writers = [ctx.Process(target=_publisher, args=(str(export), str(root), name, 80, start))
               for name in ("scheduled", "manual")]
    for writer in writers:
        writer.start()
    reads = 0
    while any(w.is_alive() for w in writers):
        if not (root / BlessedModel.FILE).exists():
            continue
        record = BlessedModel.latest(str(root))  # raises on a half-written file
        # Written last: the folder it names is complete.
        assert {p.name: p.read_bytes() for p in Path(record.path).iterdir()} == FILES
        reads += 1
    assert all(w.exitcode == 0 for w in writers)
    assert reads > 20
    final = BlessedModel.latest(str(root))
    assert final.version in {"scheduled-079", "manual-079"}
    assert not list(root.glob("*.tmp*"))  # every temporary file was renamed into place


def test_an_unreadable_record_fails_the_gate_with_a_clear_reason(tmp_path):
    (tmp_path / BlessedModel.FILE).write_text('{"kind": "bertpipe.blessed_model", "vers')
    blessing = decide({"accuracy": 0.99}, "accuracy", 0.5, 0.01, str(tmp_path))
    assert not blessing.blessed
    assert blessing.reason.startswith("not blessed: the last blessed model's record is "
                                      f"unreadable ({tmp_path}/blessed.json: not readable as "
                                      "JSON")
    assert blessing.reason.endswith("fix or remove it, then rerun")


def test_two_writers_interleaved_byte_by_byte_still_leave_one_whole_record(tmp_path,
                                                                          monkeypatch):
    """Deterministic: both writers open their temporary file, write half, wait for each
    other, write the rest and rename. Each has its own temporary name, so both renames
    succeed and the record is one writer's whole file."""
    import threading

    from components import contracts

    barrier = threading.Barrier(2)
    real_open = contracts._LocalFiles.GFile

    class HalfThenWait:
        def __init__(self, path, mode="r"):
            self.file = real_open(path, mode)

        def write(self, text):
            half = len(text) // 2
            self.file.write(text[:half])
            self.file.flush()
            barrier.wait(timeout=10)
            self.file.write(text[half:])

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

    monkeypatch.setattr(contracts._LocalFiles, "GFile", staticmethod(HalfThenWait))
    records = [BlessedModel(version=f"v{i}", path=f"/models/v{i}", main_metric="accuracy",
                            value=0.8 + i / 100, metrics={"accuracy": 0.8 + i / 100},
                            published_utc="2026-01-01T00:00:00+00:00") for i in (1, 2)]
    errors = []

    def save(record):
        try:
            record.save(str(tmp_path))
        except Exception as err:  # noqa: BLE001 - recorded for the assertion
            errors.append(err)

    threads = [threading.Thread(target=save, args=(r,)) for r in records]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    monkeypatch.undo()
    assert not errors
    assert BlessedModel.load(str(tmp_path)) in records
    assert not list(tmp_path.glob("*.tmp*"))
