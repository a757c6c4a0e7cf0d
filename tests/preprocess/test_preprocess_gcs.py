"""``gs://`` input and output through Beam's GCS filesystem, against a local GCS emulator.

The emulator (``gcp-storage-emulator``) runs on loopback; ``STORAGE_EMULATOR_HOST`` points the
google-cloud-storage client that Beam uses at it. TensorFlow's own GCS filesystem
(``tf.io.gfile``, used by the train step) does not honour that variable, so training from
``gs://`` is not covered here: on Kubeflow the artifacts are read through the ``/gcs`` mount.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from components.config import DataConfig
from components.preprocess.pipeline import run_preprocess
from fixtures import FIXTURE_DATA

BUCKET = "bertpipe-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def gcs(monkeypatch):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gcp_storage_emulator", "start", "--host",
                             "127.0.0.1", "--port", str(port), "--in-memory",
                             "--default-bucket", BUCKET],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    # No credentials exist here: tell Beam so up front (it would retry for ~30 s, then go
    # anonymous, which the emulator accepts).
    from apache_beam.internal.gcp import auth

    monkeypatch.setattr(auth._Credentials, "_credentials_init", True)
    monkeypatch.setattr(auth._Credentials, "_credentials", None)
    from google.cloud import storage

    client = storage.Client.create_anonymous_client()
    client.project = "bertpipe-test"
    deadline = time.monotonic() + 30
    while True:
        try:
            client.get_bucket(BUCKET)
            break
        except Exception:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("the GCS emulator did not start")
            time.sleep(0.2)
    yield client.bucket(BUCKET)
    proc.terminate()
    proc.wait(timeout=10)


def test_gs_input_and_output_match_local_run(gcs, tiny_encoder_dir, sentiment_csv,
                                             preprocessed_tiny):
    gcs.blob("data/sentiment.csv").upload_from_filename(str(sentiment_csv))
    data = DataConfig(data_path=f"gs://{BUCKET}/data/", **FIXTURE_DATA)
    result = run_preprocess(data, tiny_encoder_dir, f"gs://{BUCKET}/out")
    names = sorted(b.name for b in gcs.client.list_blobs(BUCKET, prefix="out/"))
    assert "out/metadata.json" in names and "out/dead_letter.jsonl" in names
    for split in ("train", "eval"):
        remote = [n for n in names if n.startswith(f"out/{split}/part-")]
        local = sorted(preprocessed_tiny.output_dir + f"/{split}/" + n.rsplit("/", 1)[-1]
                       for n in remote)
        assert remote and len(remote) == len(local)
        for name, path in zip(remote, local):
            assert gcs.blob(name).download_as_bytes() == open(path, "rb").read()
    assert result.metadata["splits"] == preprocessed_tiny.metadata["splits"]
    assert not [n for n in names if "/.beam-temp" in n]


@pytest.fixture()
def faulty_gcs(monkeypatch):
    """The in-process emulator that can fail requests (``tests/gcs_emulator.py``)."""
    from apache_beam.internal.gcp import auth

    from gcs_emulator import GcsEmulator

    with GcsEmulator(BUCKET) as emulator:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.url)
        monkeypatch.setattr(auth._Credentials, "_credentials_init", True)
        monkeypatch.setattr(auth._Credentials, "_credentials", None)
        yield emulator


def test_the_job_rides_out_transient_gcs_errors(faulty_gcs, tiny_encoder_dir, sentiment_csv,
                                                preprocessed_tiny):
    """503s and dropped connections on reads and writes: Beam's GCS client retries them (the
    job's own I/O has no retry layer of its own) and the output is what a clean run writes."""
    from google.cloud import storage

    client = storage.Client.create_anonymous_client()
    client.bucket(BUCKET).blob("data/sentiment.csv").upload_from_filename(str(sentiment_csv))
    faults = [faulty_gcs.fail_next(2, "503", method="GET", name=r"^data/"),
              faulty_gcs.fail_next(1, "drop", method="GET", name=r"^data/"),
              faulty_gcs.fail_next(2, "503", method="POST", name=r"^out/"),
              faulty_gcs.fail_next(1, "drop", method="POST", name=r"^out/")]
    data = DataConfig(data_path=f"gs://{BUCKET}/data/", **FIXTURE_DATA)
    result = run_preprocess(data, tiny_encoder_dir, f"gs://{BUCKET}/out")
    assert [f.hits for f in faults] == [2, 1, 2, 1]
    remote = faulty_gcs.objects("out/")
    for split in ("train", "eval"):
        shards = {n: b for n, b in remote.items() if n.startswith(f"out/{split}/part-")}
        local = {p.name: p.read_bytes() for p in
                 sorted((Path(preprocessed_tiny.output_dir) / split).glob("part-*"))}
        assert sorted(n.rsplit("/", 1)[-1] for n in shards) == sorted(local)
        assert all(local[n.rsplit("/", 1)[-1]] == b for n, b in shards.items())
    assert result.examples.splits == preprocessed_tiny.examples.splits
