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
