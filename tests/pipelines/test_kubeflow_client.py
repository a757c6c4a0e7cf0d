"""``bertpipe submit / schedule / runs`` against a loopback recorder of the KFP REST API.

The real ``kfp.Client`` makes the calls; ``KfpApiRecorder`` only answers and records them, so
these tests check what would reach a Kubeflow Pipelines server.
"""

from __future__ import annotations

import json

import pytest
import yaml
from kfp_recorder import API, KfpApiRecorder

from pipelines.cli import main

PIPE = f"{API}/pipelines"


@pytest.fixture()
def api(monkeypatch, tmp_path):
    import kfp

    for name in ("KF_PIPELINES_ENDPOINT", "KF_PIPELINES_SA_TOKEN_PATH",
                 "KF_PIPELINES_DEFAULT_EXPERIMENT_NAME", "KF_PIPELINES_OVERRIDE_EXPERIMENT_NAME",
                 "KF_PIPELINES_UI_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    # The client keeps a namespace in ~/.config/kfp/context.json; keep the user's out of it.
    monkeypatch.setattr(kfp.Client, "_LOCAL_KFP_CONTEXT", str(tmp_path / "kfp-context.json"))
    with KfpApiRecorder() as recorder:
        yield recorder


def bertpipe(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def uploaded_spec(api: KfpApiRecorder, version_id: str) -> list[dict]:
    return list(yaml.safe_load_all(api.uploads[version_id]))


def test_submit_uploads_the_pipeline_then_runs_that_version(api, capsys, tmp_path):
    token = tmp_path / "token"
    token.write_text("sa-token-123\n")
    code, out, err = bertpipe(
        capsys, "submit", "--host", api.url, "--token-file", str(token),
        "--experiment", "sentiment", "--run-name", "first", "--pipeline-root", "gs://b/root",
        "--epochs", "3", "--data-path", "gs://b/reviews/", "--data-version", "2025-06-01",
        "--train-gpus", "1", "--service-account", "bertpipe-runner")
    assert code == 0, err
    # Upload first (a new pipeline named bertpipe, with the compiled YAML as the file) ...
    assert [c.query["name"] for c in api.requests("POST", f"{PIPE}/upload")] == ["bertpipe"]
    [(pipeline_id, [version])] = api.versions.items()
    spec = uploaded_spec(api, version["pipeline_version_id"])[0]
    assert spec["pipelineInfo"]["name"] == "bertpipe"
    gpu = spec["deploymentSpec"]["executors"]["exec-train"]["container"]["resources"]
    assert gpu["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert gpu["accelerator"]["resourceCount"] == "1"
    # ... then the run, pointing at that version, in the experiment it created.
    [experiment] = api.requests("POST", f"{API}/experiments")
    assert experiment.body["display_name"] == "sentiment"
    [run] = api.requests("POST", f"{API}/runs")
    assert run.body["pipeline_version_reference"] == {
        "pipeline_id": pipeline_id, "pipeline_version_id": version["pipeline_version_id"]}
    assert "pipeline_spec" not in run.body
    assert run.body["display_name"] == "first"
    assert run.body["service_account"] == "bertpipe-runner"
    assert run.body["experiment_id"] == next(iter(api.experiments))
    runtime = run.body["runtime_config"]
    assert runtime["pipeline_root"] == "gs://b/root"
    assert runtime["parameters"]["epochs"] == 3
    assert runtime["parameters"]["data_path"] == "gs://b/reviews/"
    assert runtime["parameters"]["data_version"] == "2025-06-01"
    assert runtime["parameters"]["freeze"] == "last:2"
    assert all(c.headers.get("authorization") == "Bearer sa-token-123" for c in api.calls)
    assert f"submitted run {next(iter(api.runs))} (first) in experiment sentiment" in out


def test_resubmitting_adds_a_version_only_when_the_pipeline_changed(api, capsys):
    assert bertpipe(capsys, "submit", "--host", api.url)[0] == 0
    assert bertpipe(capsys, "submit", "--host", api.url, "--epochs", "5")[0] == 0
    # Same compiled pipeline (parameters are run inputs): one version upload named by its
    # digest, then reused.
    assert bertpipe(capsys, "submit", "--host", api.url)[0] == 0
    assert len(api.requests("POST", f"{PIPE}/upload")) == 1
    [again] = api.requests("POST", f"{PIPE}/upload_version")
    assert again.query["name"].startswith("bertpipe-")
    runs = api.requests("POST", f"{API}/runs")
    refs = [r.body["pipeline_version_reference"]["pipeline_version_id"] for r in runs]
    assert refs[1] == refs[2] != refs[0]
    assert runs[1].body["runtime_config"]["parameters"]["epochs"] == 5
    # The experiment is found, not created again.
    assert len(api.requests("POST", f"{API}/experiments")) == 1
    # A different cluster setting compiles a different pipeline: a new version.
    assert bertpipe(capsys, "submit", "--host", api.url, "--retries", "2")[0] == 0
    assert len(api.requests("POST", f"{PIPE}/upload_version")) == 2


def test_schedule_creates_a_recurring_run_without_catchup(api, capsys):
    code, out, err = bertpipe(
        capsys, "schedule", "--host", api.url, "--cron", "0 0 3 * * *",
        "--start-time", "2025-07-01T00:00:00+02:00", "--end-time", "2026-01-01T00:00:00Z",
        "--experiment", "nightly", "--name", "retrain", "--data-path", "gs://b/reviews/",
        "--blessed-root", "gs://b/blessed")
    assert code == 0, err
    [upload] = api.requests("POST", f"{PIPE}/upload")
    [job] = api.requests("POST", f"{API}/recurringruns")
    body = job.body
    assert body["trigger"] == {"cron_schedule": {"cron": "0 0 3 * * *",
                                                 "start_time": "2025-06-30T22:00:00Z",
                                                 "end_time": "2026-01-01T00:00:00Z"}}
    assert body["no_catchup"] is True
    assert int(body["max_concurrency"]) == 1
    assert body["mode"] == "ENABLE"
    assert body["display_name"] == "retrain"
    version_id = body["pipeline_version_reference"]["pipeline_version_id"]
    assert body["pipeline_version_reference"]["pipeline_id"] == next(iter(api.pipelines))
    assert body["runtime_config"]["parameters"]["blessed_root"] == "gs://b/blessed"
    # Scheduled runs re-read the same data_path: the uploaded version has caching off.
    spec, = uploaded_spec(api, version_id)
    tasks = spec["root"]["dag"]["tasks"]
    assert not any(t.get("cachingOptions", {}).get("enableCache") for t in tasks.values())
    # The schedule time still names the published model.
    publish = spec["components"]["comp-condition-1"]["dag"]["tasks"]["publish"]
    assert publish["inputs"]["parameters"]["schedule_time"]["runtimeValue"]["constant"] == (
        "{{$.pipeline_job_schedule_time_utc}}")
    assert "created recurring run" in out and "catch-up off, max concurrency 1" in out


def test_schedule_interval_paused_and_with_cache(api, capsys):
    code, _, err = bertpipe(capsys, "schedule", "--host", api.url, "--interval", "6h",
                            "--paused", "--cache", "--max-concurrency", "2")
    assert code == 0, err
    [job] = api.requests("POST", f"{API}/recurringruns")
    assert job.body["trigger"] == {"periodic_schedule": {"interval_second": 21600}}
    assert job.body["mode"] == "DISABLE" and int(job.body["max_concurrency"]) == 2
    spec, = uploaded_spec(api, job.body["pipeline_version_reference"]["pipeline_version_id"])
    tasks = spec["root"]["dag"]["tasks"]
    assert all(t["cachingOptions"]["enableCache"] for n, t in tasks.items() if n != "condition-1")


def test_enable_disable_delete_hit_their_endpoints(api, capsys):
    assert bertpipe(capsys, "schedule", "--host", api.url, "--cron", "0 30 2 * * 1")[0] == 0
    [job_id] = api.recurring
    for action in ("disable", "enable", "delete"):
        code, out, err = bertpipe(capsys, "schedule", "--host", api.url, f"--{action}", job_id)
        assert code == 0, err
        assert f"{action}d recurring run {job_id}" in out
    managed = [(c.method, c.path) for c in api.calls if "/recurringruns/" in c.path]
    assert managed == [
        ("POST", f"{API}/recurringruns/{job_id}:disable"),
        ("POST", f"{API}/recurringruns/{job_id}:enable"),
        ("DELETE", f"{API}/recurringruns/{job_id}")]
    # Management needs no compile or upload.
    assert len(api.requests("POST", f"{PIPE}/upload")) == 1
    code, _, err = bertpipe(capsys, "schedule", "--host", api.url, "--delete", job_id)
    assert code == 1
    assert err.strip() == (f"bertpipe: error: Kubeflow Pipelines API: 404 Not Found: "
                           f"recurring run {job_id} not found")


def test_runs_lists_recent_runs_and_shows_one(api, capsys):
    api.experiments["exp-1"] = {"experiment_id": "exp-1", "display_name": "nightly"}
    done = api.add_run("bertpipe 2025-06-01", "SUCCEEDED", experiment_id="exp-1",
                       finished_at="2025-06-01T03:41:07Z",
                       run_details={"task_details": [
                           {"display_name": "train", "state": "SUCCEEDED"},
                           {"display_name": "quality-gate", "state": "SUCCEEDED"}]})
    failed = api.add_run("bertpipe 2025-06-02", "FAILED", experiment_id="exp-1",
                         error={"message": "preprocess: 30 of 100 rows rejected"})
    api.add_run("other", "RUNNING", experiment_id="exp-2")

    code, out, err = bertpipe(capsys, "runs", "--host", api.url, "--experiment", "nightly",
                              "--limit", "5")
    assert code == 0, err
    [listed] = api.requests("GET", f"{API}/runs")
    assert listed.query == {"page_size": "5", "sort_by": "created_at desc",
                            "experiment_id": "exp-1"}
    lines = out.strip().splitlines()
    assert lines[0].split() == ["RUN", "ID", "STATE", "CREATED", "FINISHED", "NAME"]
    assert lines[1].split() == [done, "SUCCEEDED", "2025-06-01", "03:00:00Z", "2025-06-01",
                                "03:41:07Z", "bertpipe", "2025-06-01"]
    assert lines[2].split()[:2] == [failed, "FAILED"] and len(lines) == 3

    code, out, _ = bertpipe(capsys, "runs", "--host", api.url, "--run-id", failed)
    assert code == 0 and "state: FAILED" in out
    assert "error: preprocess: 30 of 100 rows rejected" in out
    code, out, _ = bertpipe(capsys, "runs", "--host", api.url, "--run-id", done)
    assert [line.split() for line in out.splitlines()[-2:]] == [["train", "SUCCEEDED"],
                                                                ["quality-gate", "SUCCEEDED"]]
    code, _, err = bertpipe(capsys, "runs", "--host", api.url, "--experiment", "nope")
    assert code == 2 and err.strip() == "bertpipe: error: no experiment named 'nope'"


def test_runs_lists_recurring_runs(api, capsys):
    assert bertpipe(capsys, "schedule", "--host", api.url, "--cron", "0 0 3 * * *")[0] == 0
    code, out, _ = bertpipe(capsys, "runs", "--host", api.url, "--recurring")
    assert code == 0
    [job_id] = api.recurring
    assert out.strip().splitlines()[1].split() == [job_id, "ENABLE", "cron", "0", "0", "3",
                                                   "*", "*", "*", "bertpipe-retrain"]


@pytest.mark.parametrize("args, message", [
    (["--cron", "0 3 * * *"], "cron needs 6 fields, seconds first"),
    (["--interval", "soon"], "interval must be a positive duration"),
    (["--cron", "0 0 3 * * *", "--start-time", "tomorrow"], "start_time must be an RFC 3339"),
    (["--cron", "0 0 3 * * *", "--max-concurrency", "0"], "max_concurrency must be >= 1"),
    (["--cron", "0 0 3 * * *", "--train-gpus", "-1"], "train_gpus must be >= 0"),
])
def test_bad_schedule_fails_with_one_line_before_any_call(api, capsys, args, message):
    code, _, err = bertpipe(capsys, "schedule", "--host", api.url, *args)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err
    assert api.calls == []


def test_unreachable_server_is_one_line(capsys, monkeypatch):
    monkeypatch.delenv("KF_PIPELINES_ENDPOINT", raising=False)
    code, _, err = bertpipe(capsys, "runs", "--host", "http://127.0.0.1:9")
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and err.startswith("bertpipe: error: ")


def test_the_run_body_is_what_the_server_api_models_accept(api, capsys):
    """The recorded run body deserializes into kfp_server_api's own V2beta1Run."""
    import kfp_server_api

    assert bertpipe(capsys, "submit", "--host", api.url)[0] == 0
    [run] = api.requests("POST", f"{API}/runs")
    client = kfp_server_api.ApiClient()

    class Response:
        data = json.dumps(run.body)

    model = client.deserialize(Response(), "V2beta1Run")
    assert model.pipeline_version_reference.pipeline_version_id
    assert model.runtime_config.parameters["encoder"] == "minilm-l6"


def test_profile_namespace_reaches_experiments_and_listings(api, capsys):
    """Multi-user Kubeflow: experiments and runs live in the user's profile namespace."""
    code, _, err = bertpipe(capsys, "submit", "--host", api.url, "--namespace", "team-a")
    assert code == 0, err
    [lookup] = api.requests("GET", f"{API}/experiments")
    assert lookup.query["namespace"] == "team-a"
    [created] = api.requests("POST", f"{API}/experiments")
    assert created.body["namespace"] == "team-a"
    assert bertpipe(capsys, "runs", "--host", api.url, "--namespace", "team-a")[0] == 0
    [listed] = api.requests("GET", f"{API}/runs")
    assert listed.query["namespace"] == "team-a"
    code, _, _ = bertpipe(capsys, "runs", "--host", api.url, "--namespace", "team-a",
                          "--recurring")
    assert code == 0
    [recurring] = api.requests("GET", f"{API}/recurringruns")
    assert recurring.query["namespace"] == "team-a"
