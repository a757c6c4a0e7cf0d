"""The image a cluster runs, built from the Dockerfile and run here (`make test-image`).

`make test-image` builds it (k8s/image.sh) and passes its tag in ``BERTPIPE_TEST_IMAGE`` and
the engine's socket in ``DOCKER_HOST``; `make test` leaves this tier out (marker ``image``).
The pipeline runs with every step in a container of the image, network off and the root
filesystem read-only, through ``bertpipe run --runner docker`` (kfp.local's DockerRunner), and
is checked as the host run is, plus what only a container run can show: which image, user,
network and root filesystem each step had. Every layer of the image is scanned for baked-in
credentials (``secret_scan``; its own unit tests are in test_secret_scan.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from e2e_checks import RUN_ARGS, check_run, write_fixture
from fixtures import sentiment_rows, write_csv
from pipelines.container_run import TMPFS
from secret_scan import scan_image

pytestmark = pytest.mark.image
STEPS = {"import-encoder", "preprocess", "train", "evaluate", "gate", "export", "publish"}


@pytest.fixture(scope="module")
def image() -> str:
    tag = os.environ.get("BERTPIPE_TEST_IMAGE")
    if not tag:  # `make test-image` always sets it
        pytest.skip("BERTPIPE_TEST_IMAGE is not set: run `make test-image`")
    return tag


@pytest.fixture(scope="module")
def engine():
    import docker

    # ``docker save`` of the 3.5 GB image is assembled before its first byte: docker-py's
    # 60 s default read timeout ran out under load (podman, 2 busy cores).
    client = docker.from_env(timeout=900)
    yield client
    client.close()


def _in_image(engine, image: str, command: list[str], **options) -> tuple[int, str]:
    """Runs ``command`` in a fresh container of the image, network off; exit code, output."""
    container = engine.containers.run(image, command, detach=True, network_mode="none",
                                      **options)
    try:
        code = container.wait()["StatusCode"]
        return code, container.logs().decode("utf-8", errors="replace")
    finally:
        container.remove(force=True)


def test_image_runs_as_a_non_root_user(engine, image):
    assert engine.images.get(image).attrs["Config"]["User"] == "1000:1000"
    code, out = _in_image(engine, image, ["id", "-u"])
    assert (code, out.strip()) == (0, "1000")


def test_image_works_without_network(engine, image):
    code, out = _in_image(engine, image, [
        "python", "-c", "import tensorflow_text, kfp, apache_beam; print('imports ok')"])
    assert code == 0 and "imports ok" in out, out[-2000:]
    code, out = _in_image(engine, image, ["bertpipe", "--help"])
    assert code == 0 and "run" in out and "predict" in out, out[-2000:]
    # No ENTRYPOINT: a bare run shows the CLI's help (CMD), and a command replaces it.
    assert not engine.images.get(image).attrs["Config"].get("Entrypoint")


def test_builtin_encoder_and_data_are_baked_in_read_only(engine, image):
    """The defaults resolve from the image's cache with the network off, and the step user
    cannot change that cache."""
    code, out = _in_image(engine, image, ["python", "-c", """
import os
from components.encoders.sources import resolve_hf_folder
from components.preprocess.datasets import resolve_data_path
folder = resolve_hf_folder('minilm-l6')
rows = sum(1 for _ in open(resolve_data_path('builtin://rotten_tomatoes'))) - 1
print(sorted(os.listdir(folder)), rows, os.access(os.environ['BERTPIPE_CACHE'], os.W_OK))
"""])
    assert code == 0, out[-2000:]
    assert "'model.safetensors'" in out and "'vocab.txt'" in out
    assert out.strip().endswith("False"), out
    rows = int(out.split()[-2])
    assert rows >= 12_000  # 12,808 fresh + rotten rows (the CSV's quoted newlines add some)


def test_image_holds_no_secrets(engine, image):
    """No private key, token or credentials file in any layer (a file a later layer deletes
    included), and no credential-looking variable in its config or build arguments."""
    findings = scan_image(engine, image)
    assert not findings, "\n".join(map(str, findings))


def test_a_step_writes_only_its_mounts_and_tmp(engine, image):
    """A step's container as ``bertpipe run --runner docker`` starts it (read-only root, a
    tmpfs /tmp): the root filesystem refuses writes, HOME and the temp dir are /tmp, and a
    library that keeps files under ~ (matplotlib) finds it writable, for the image's user and
    for any other uid (the caller's own, when bertpipe does not run as root)."""
    probe = """
import os, tempfile, matplotlib
refused = []
for folder in ("/", "/home/bertpipe", "/opt/venv", os.environ["BERTPIPE_CACHE"], "/var"):
    try:
        open(os.path.join(folder, "probe"), "w").close()
    except OSError as err:
        refused.append(err.errno == 30)  # EROFS
open(os.path.join(tempfile.gettempdir(), "probe"), "w").close()
print(os.environ["HOME"], tempfile.gettempdir(), matplotlib.get_configdir(), refused)
"""
    for user in ("1000:1000", "4321:4321"):
        code, out = _in_image(engine, image, ["python", "-c", probe], user=user,
                              read_only=True, tmpfs=TMPFS)
        assert code == 0, out[-2000:]
        assert "Read-only file system" not in out and "Permission denied" not in out, out
        last = out.strip().splitlines()[-1]
        assert last == "/tmp /tmp /tmp/.config/matplotlib [True, True, True, True, True]", out


def _run(tmp_path: Path, image: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", "--runner", "docker", "--image", image,
         "--pipeline-root", str(tmp_path / "runs"), *args],
        capture_output=True, text=True, timeout=1500)


def _containers(runs: Path) -> list[dict]:
    (record,) = runs.glob("*/containers.jsonl")
    return [json.loads(line) for line in record.read_text().splitlines()]


def test_whole_pipeline_runs_in_the_image(tmp_path, engine, image):
    """Every step in its container with the root filesystem read-only: the run is what the
    host run is (e2e_checks), and no step wrote outside its mounts and /tmp, not even a write
    a library caught and worked around (its Errno 30 would be in the step's log)."""
    data = write_fixture(tmp_path)
    proc = _run(tmp_path, image, "--data-path", str(data), *RUN_ARGS,
                "--blessed-root", str(tmp_path / "blessed"))
    artifacts = check_run(proc, tmp_path / "blessed")

    # Every step ran in a container of this image, as uid 1000, with no network and a
    # read-only root filesystem, exit 0.
    image_id = engine.images.get(image).id
    ran = _containers(tmp_path / "runs")
    assert {r["step"] for r in ran} == STEPS, ran
    for record in ran:
        assert record["exit_code"] == 0, record
        assert record["image_id"].removeprefix("sha256:") == image_id.removeprefix("sha256:")
        assert record["user"] == "1000:1000" and record["network_mode"] == "none", record
        assert record["read_only"] is True, record
        log = (artifacts["model"].parents[1] / f"{record['step']}.log").read_text()
        assert log and "Read-only file system" not in log, (record["step"], log[-3000:])
    # What the steps wrote was written inside, by the image's user.
    assert (artifacts["exported_model"] / "frozen_graph.pb").stat().st_uid == 1000
    assert (tmp_path / "blessed" / "blessed.json").stat().st_uid == 1000


def test_a_step_failing_in_its_container_fails_the_run(tmp_path, image):
    """Preprocess rejects a row it may not (max_rejected_fraction 0): its container exits 1,
    and the run fails with that step's own line, whatever the engine's wait says."""
    rows = sentiment_rows(40, seed=5)
    rows[7]["label"] = ""  # a dead letter
    data = write_csv(tmp_path / "data" / "bad.csv", rows)
    proc = _run(tmp_path, image, "--data-path", str(data), "--split-key-column", "group",
                "--max-rejected-fraction", "0")
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("bertpipe: error: step preprocess failed in its container (exit 1): "
                           "preprocess: error: "), last
    ran = {r["step"]: r["exit_code"] for r in _containers(tmp_path / "runs")}
    assert ran == {"import-encoder": 0, "preprocess": 1}, ran
    assert "accuracy=" not in proc.stdout
