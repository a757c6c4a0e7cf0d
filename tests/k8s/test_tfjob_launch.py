"""launch_tfjob with the real ``kubernetes`` client against a recorder on 127.0.0.1.

The recorder answers like the Kubernetes API server (201 on create, then the TFJob with the
status conditions given to it, pod lists and logs, Status objects for errors) and keeps every
request the client sent, so the tests check the wire traffic, not our own calls.
"""

from __future__ import annotations

import json
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from kubernetes import client

from components.train.tfjob import (TFJobError, TFJobFailed, TFJobSpec, TFJobTimeout,
                                    launch_tfjob, render_tfjob)

NS = "team-a"
NAME = "bertpipe-train-5e6f"
JOBS = f"/apis/kubeflow.org/v1/namespaces/{NS}/tfjobs"
FAILED_MESSAGE = f"TFJob {NS}/{NAME} has failed because 1 Worker replica(s) failed."


def _conditions(*types: str) -> list[dict]:
    """The operator's style: earlier conditions stay, a terminal one flips Running off."""
    out = []
    for kind in types:
        for previous in out:
            previous["status"] = "False" if kind in ("Succeeded", "Failed") else previous["status"]
        out.append({"type": kind, "status": "True", "reason": f"TFJob{kind}",
                    "message": FAILED_MESSAGE if kind == "Failed" else f"TFJob {NAME} is {kind}."})
    return out


class Recorder:
    """A loopback Kubernetes API: ``states`` are what successive GETs of the TFJob return
    (the last repeats); an int state answers with that HTTP status instead."""

    def __init__(self, states, create_status=201):
        self.states, self.create_status = list(states), create_status
        self.requests: list[dict] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, status, body, content_type="application/json"):
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _record(self):
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                entry = {"method": self.command, "path": url.path, "query": parse_qs(url.query),
                         "body": json.loads(raw) if raw else None}
                recorder.requests.append(entry)
                return entry

            def do_POST(self):
                entry = self._record()
                if entry["path"] != JOBS:
                    return self._reply(404, _status(404, "NotFound", "no such path"))
                if recorder.create_status != 201:
                    return self._reply(recorder.create_status, _status(
                        recorder.create_status, "AlreadyExists",
                        f'tfjobs.kubeflow.org "{NAME}" already exists'))
                created = dict(entry["body"])
                created["metadata"] = {**created["metadata"], "uid": "u-1",
                                       "creationTimestamp": "2025-01-01T00:00:00Z"}
                self._reply(201, created)

            def do_GET(self):
                entry = self._record()
                if entry["path"].startswith(f"{JOBS}/"):
                    state = recorder.states.pop(0) if len(recorder.states) > 1 else \
                        recorder.states[0]
                    if isinstance(state, int):
                        return self._reply(state, _status(state, "ServiceUnavailable", "busy"))
                    return self._reply(200, {"apiVersion": "kubeflow.org/v1", "kind": "TFJob",
                                             "metadata": {"name": NAME, "namespace": NS},
                                             "status": {"conditions": state}})
                if entry["path"] == f"/api/v1/namespaces/{NS}/pods":
                    return self._reply(200, {"apiVersion": "v1", "kind": "PodList",
                                             "metadata": {}, "items": [
                                                 {"metadata": {"name": f"{NAME}-worker-1"}},
                                                 {"metadata": {"name": f"{NAME}-worker-0"}}]})
                if entry["path"].endswith("/log"):
                    pod = entry["path"].split("/")[-2]
                    return self._reply(200, f"epoch 1\nValueError: boom in {pod}\n", "text/plain")
                self._reply(404, _status(404, "NotFound", "no such path"))

            def do_DELETE(self):
                self._record()
                self._reply(200, {"apiVersion": "v1", "kind": "Status", "status": "Success"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        host, port = self.server.server_address[:2]
        self.api_client = client.ApiClient(client.Configuration(host=f"http://{host}:{port}"))
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.api_client.close()

    def calls(self, method):
        return [r for r in self.requests if r["method"] == method]


def _status(code, reason, message):
    return {"apiVersion": "v1", "kind": "Status", "status": "Failure", "code": code,
            "reason": reason, "message": message}


@pytest.fixture()
def manifest():
    return render_tfjob(TFJobSpec(NAME, "registry.example.com/bertpipe:0.1.0-gpu", 2, 1,
                                  "gs://b/enc", "gs://b/ex", "gs://b/model", {"epochs": 1},
                                  namespace=NS))


def _launch(recorder, manifest, timeout_s=10.0, lines=None):
    return launch_tfjob(manifest, NS, timeout_s=timeout_s, poll_s=0.01,
                        api_client=recorder.api_client,
                        log=(lines.append if lines is not None else lambda _: None))


def test_creates_the_rendered_tfjob_and_waits_for_success(manifest):
    lines: list[str] = []
    states = [_conditions("Created"), 503, _conditions("Created", "Running"),
              _conditions("Created", "Running", "Succeeded")]
    with Recorder(states) as recorder:
        assert _launch(recorder, manifest, lines=lines) == NAME
    (post,) = recorder.calls("POST")
    assert post["path"] == JOBS
    assert post["body"] == manifest
    gets = recorder.calls("GET")
    assert {g["path"] for g in gets} == {f"{JOBS}/{NAME}"} and len(gets) == 4
    assert not recorder.calls("DELETE")  # a finished job is kept for its logs
    assert any(line.endswith(": Running") for line in lines)
    assert any(line.endswith(": Succeeded") for line in lines)
    assert any("busy" in line and "retrying" in line for line in lines)


def test_failed_job_raises_with_its_message_and_shows_worker_logs(manifest):
    lines: list[str] = []
    with Recorder([_conditions("Created", "Running"),
                   _conditions("Created", "Running", "Failed")]) as recorder:
        with pytest.raises(TFJobFailed) as info:
            _launch(recorder, manifest, lines=lines)
    message = str(info.value)
    assert FAILED_MESSAGE in message and "TFJobFailed" in message and "\n" not in message
    assert not recorder.calls("DELETE")
    (pods,) = [r for r in recorder.calls("GET") if r["path"].endswith("/pods")]
    assert pods["query"]["labelSelector"] == [f"training.kubeflow.org/job-name={NAME}"]
    assert f"[{NAME}-worker-0] ValueError: boom in {NAME}-worker-0" in lines
    logs = [r for r in recorder.calls("GET") if r["path"].endswith("/log")]
    assert {r["query"]["container"][0] for r in logs} == {"tensorflow"}


def test_timeout_deletes_the_job_it_created(manifest):
    with Recorder([_conditions("Created", "Running")]) as recorder:
        with pytest.raises(TFJobTimeout, match="did not finish within 0.3 s"):
            _launch(recorder, manifest, timeout_s=0.3)
    (delete,) = recorder.calls("DELETE")
    assert delete["path"] == f"{JOBS}/{NAME}"
    assert delete["query"]["propagationPolicy"] == ["Background"]  # its pods go too


def test_existing_job_is_an_error_and_left_alone(manifest):
    with Recorder([_conditions("Running")], create_status=409) as recorder:
        with pytest.raises(TFJobError, match="already exists.*left alone"):
            _launch(recorder, manifest)
    assert [r["method"] for r in recorder.requests] == ["POST"]


def test_unreachable_api_server_is_one_line(manifest):
    with Recorder([]) as recorder:
        port = recorder.server.server_address[1]
    api_client = client.ApiClient(client.Configuration(host=f"http://127.0.0.1:{port}"))
    api_client.configuration.retries = 0
    with pytest.raises(TFJobError, match="API server unreachable") as info:
        launch_tfjob(manifest, NS, timeout_s=2, poll_s=0.01, api_client=api_client,
                     log=lambda _: None)
    assert "\n" not in str(info.value)


def test_manifest_for_another_namespace_is_refused(manifest):
    with pytest.raises(ValueError, match="namespace"):
        launch_tfjob(manifest, "elsewhere", timeout_s=1, poll_s=0.01,
                     api_client=client.ApiClient(client.Configuration(host="http://127.0.0.1:9")))


def test_component_launches_the_tfjob_and_logs_the_chief_outputs(tmp_path, monkeypatch):
    """The KFP component's body end to end: kubeconfig -> recorder, TFJob succeeds, metrics
    come from the files the chief wrote. Only ``worker_location`` is replaced: the test's
    artifacts lie in tmp_path, not on the PVC the workers would mount."""
    from kfp import dsl

    from components.config import TrainConfig
    from components.train import tfjob
    from components.train.tfjob_component import train_tfjob

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    from components.contracts import TrainingReport

    TrainingReport(freeze="all", trainable_variables=[], unused_blocks=[], table=[],
                   trainable_params=770, total_params=1000, global_batch_size=32, replicas=2,
                   max_seq_length=64, labels=["neg", "pos"], config={},
                   history={"accuracy": [0.5, 0.75]}).save(str(model_dir))
    monkeypatch.setattr(tfjob, "worker_location", lambda uri, path, mount: path)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    sigterm = signal.getsignal(signal.SIGTERM)
    with Recorder([_conditions("Created", "Running", "Succeeded")]) as recorder:
        host, port = recorder.server.server_address[:2]
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "rec",
            "clusters": [{"name": "rec", "cluster": {"server": f"http://{host}:{port}"}}],
            "users": [{"name": "u", "user": {}}],
            "contexts": [{"name": "rec", "context": {"cluster": "rec", "user": "u"}}]}))
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        model, metrics = dsl.Model(uri=str(model_dir)), dsl.Metrics(uri=str(tmp_path / "m"))
        cfg = TrainConfig(epochs=1)
        try:
            train_tfjob.python_func(
                encoder_model=dsl.Model(uri=str(tmp_path / "enc")),
                examples=dsl.Dataset(uri=str(tmp_path / "ex")), **vars(cfg),
                workers=2, gpus_per_worker=1, namespace=NS, worker_image="img:1",
                model=model, train_metrics=metrics)
        finally:
            signal.signal(signal.SIGTERM, sigterm)
    (post,) = recorder.calls("POST")
    (container,) = post["body"]["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"][
        "containers"]
    assert container["image"] == "img:1" and f"--output-dir={model_dir}" in container["args"]
    assert post["body"]["spec"]["runPolicy"]["activeDeadlineSeconds"] == 24 * 3600
    assert metrics.metadata["final_accuracy"] == 0.75
    assert model.metadata == {"trainable_params": 770, "replicas": 2, "framework": "tensorflow",
                              "workers": 2}


def test_no_cluster_and_no_kubeconfig_is_one_line(manifest, tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    with pytest.raises(TFJobError, match="no Kubernetes API") as info:
        launch_tfjob(manifest, NS, timeout_s=1, poll_s=0.01, log=lambda _: None)
    assert "\n" not in str(info.value)
