"""TFJobSpec / render_tfjob: the manifest a pipeline run creates, checked against the schemas
and against the real ``bertpipe train`` argument parser; bad input is one clear line."""

from __future__ import annotations

import dataclasses
import json

import pytest

from components.config import ConfigError, TrainConfig
from components.train import tfjob
from components.contracts import TrainingReport
from components.errors import ContractError
from components.train.kfp_outputs import train_outputs
from components.train.tfjob import (TFJobSpec, owner_reference,
                                    render_tfjob, worker_location)
from k8s_schema import validate_tfjob

IMAGE = "registry.example.com/team/bertpipe:0.1.0-gpu"
CFG = TrainConfig(freeze="first:4", epochs=3, learning_rate=1e-4, gradual_unfreeze=True,
                  mixed_precision="mixed_bfloat16", batch_size=64)


def _render(**overrides):
    args = dict(name="bertpipe-train-1a2b3c4d", image=IMAGE, workers=3, gpus_per_worker=2,
                encoder_dir="gs://bucket/run/encoder", examples_dir="gs://bucket/run/examples",
                output_dir="gs://bucket/run/model", train_args=dataclasses.asdict(CFG),
                namespace="team-a", service_account="trainer")
    args.update(overrides)
    return render_tfjob(TFJobSpec(**args))


def _pod(job):
    return job["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]


def test_rendered_tfjob_validates_and_has_the_run_settings():
    job = _render()
    validate_tfjob(job)
    assert job["metadata"]["name"] == "bertpipe-train-1a2b3c4d"
    assert job["metadata"]["namespace"] == "team-a"
    worker = job["spec"]["tfReplicaSpecs"]["Worker"]
    assert worker["replicas"] == 3 and worker["restartPolicy"] == "OnFailure"
    pod = _pod(job)
    assert pod["serviceAccountName"] == "trainer"
    (container,) = pod["containers"]
    assert container["image"] == IMAGE
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert container["args"][:4] == ["train", "--encoder-dir=gs://bucket/run/encoder",
                                     "--examples-dir=gs://bucket/run/examples",
                                     "--output-dir=gs://bucket/run/model"]
    assert "--freeze=first:4" in container["args"]
    assert "--gradual-unfreeze=true" in container["args"]
    assert json.loads(json.dumps(job)) == job  # plain JSON types: the API client sends it as is


def test_rendered_args_parse_back_to_the_same_train_config():
    """The worker's command line, read by the real ``bertpipe train`` parser, is CFG."""
    from pipelines.cli import build_parser

    (container,) = _pod(_render())["containers"]
    args = build_parser().parse_args(container["args"])
    assert args.encoder_dir == "gs://bucket/run/encoder"
    assert args.output_dir == "gs://bucket/run/model"
    parsed = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
    assert parsed == CFG


def test_cpu_workers_have_no_gpu_limit_or_gpu_toleration():
    job = _render(gpus_per_worker=0, workers=1)
    validate_tfjob(job)
    pod = _pod(job)
    assert "nvidia.com/gpu" not in pod["containers"][0]["resources"]["limits"]
    assert "nvidia.com/gpu" not in json.dumps(pod.get("tolerations", []))


def test_workload_identity_drops_the_key_secret():
    job = _render(gcp_credentials_secret="")
    validate_tfjob(job)
    pod = _pod(job)
    (container,) = pod["containers"]
    assert not [v for v in pod["volumes"] if "secret" in v]
    assert "gcp-credentials" not in {m["name"] for m in container["volumeMounts"]}
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in {e["name"] for e in container["env"]}
    keyed = _pod(_render(gcp_credentials_secret="my-key"))
    assert [v["secret"]["secretName"] for v in keyed["volumes"] if "secret" in v] == ["my-key"]


def test_gs_only_workers_mount_no_claim_and_pull_secrets_pass_through():
    job = _render(shared_pvc="", image_pull_secret="regcred", gcp_credentials_key="sa.json")
    validate_tfjob(job)
    pod = _pod(job)
    (container,) = pod["containers"]
    assert not [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert "/mnt/bertpipe" not in {m["mountPath"] for m in container["volumeMounts"]}
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["GOOGLE_APPLICATION_CREDENTIALS"] == "/var/secrets/gcp/sa.json"
    other = _pod(_render(shared_pvc="data", shared_mount="/data/"))
    assert [v["persistentVolumeClaim"]["claimName"] for v in other["volumes"]
            if "persistentVolumeClaim" in v] == ["data"]
    assert "/data" in {m["mountPath"] for m in other["containers"][0]["volumeMounts"]}


def test_deadline_backoff_and_owner():
    job = _render(active_deadline_s=3600, backoff_limit=5,
                  owner={"name": "run-abc-train", "uid": "0d5a2d1e-0000-4000-8000-000000000001"})
    validate_tfjob(job)
    assert job["spec"]["runPolicy"]["activeDeadlineSeconds"] == 3600
    assert job["spec"]["runPolicy"]["backoffLimit"] == 5
    assert job["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Pod", "name": "run-abc-train",
         "uid": "0d5a2d1e-0000-4000-8000-000000000001"}]
    assert "ownerReferences" not in _render()["metadata"]


def test_rendering_leaves_the_template_alone():
    first = _render(workers=5)
    second = _render(workers=1, gpus_per_worker=0, gcp_credentials_secret="")
    assert first["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] == 5
    assert tfjob.load_template()["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] == 2
    assert second != first


@pytest.mark.parametrize("overrides, message", [
    ({"workers": 0}, "workers must be >= 1"),
    ({"workers": 2.0}, "workers must be an integer"),
    ({"gpus_per_worker": -1}, "gpus_per_worker must be >= 0"),
    ({"name": "Bertpipe_Train"}, "TFJob name must be"),
    ({"name": "x" * 51}, "TFJob name must be"),
    ({"namespace": "Team A"}, "namespace is not a valid name"),
    ({"image": ""}, "image must be"),
    ({"output_dir": " "}, "output_dir must not be empty"),
    ({"shared_mount": "data"}, "shared_mount must be an absolute path"),
    ({"gcp_credentials_key": "a/b"}, "gcp_credentials_key must be a file name"),
    ({"image_pull_secret": "Reg Cred"}, "image_pull_secret is not a valid name"),
    ({"train_args": {"epoch": 3}}, "unknown train argument(s): epoch"),
    ({"train_args": {"epochs": "3"}}, "train argument epochs must be int"),
    ({"train_args": {"xla": 1}}, "train argument xla must be bool"),
    ({"train_args": {"freeze": "last:x"}}, "freeze"),
    ({"train_args": {"epochs": 0}}, "epochs must be >= 1"),
])
def test_bad_input_is_one_clear_line(overrides, message):
    with pytest.raises(ConfigError) as info:
        _render(**overrides)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_spec_is_checked_when_made_and_cannot_change_after():
    """Bad input fails when the spec is made (before any template is read), and a made spec
    is frozen, its train_args a copy: rendering it later gives the manifest it was checked for."""
    args = dict(name="bertpipe-train-1a2b3c4d", image=IMAGE, workers=1, gpus_per_worker=0,
                encoder_dir="gs://b/enc", examples_dir="gs://b/ex", output_dir="gs://b/model",
                train_args={"epochs": 2})
    with pytest.raises(ConfigError, match="workers must be >= 1"):
        TFJobSpec(**{**args, "workers": 0})
    spec = TFJobSpec(**args)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.workers = 0
    args["train_args"]["epochs"] = 0
    with pytest.raises(TypeError):
        spec.train_args["epochs"] = 0
    assert spec.render() == render_tfjob(spec)
    assert "--epochs=2" in _pod(spec.render())["containers"][0]["args"]


def test_worker_location():
    assert worker_location("gs://b/run/model/", "/gcs/b/run/model") == "gs://b/run/model"
    assert worker_location("/mnt/bertpipe/runs/x/model", "/mnt/bertpipe/runs/x/model") == \
        "/mnt/bertpipe/runs/x/model"
    with pytest.raises(ConfigError, match="on minio://, .*gs:// pipeline root"):
        worker_location("minio://mlpipeline/v2/artifacts/x", "/minio/mlpipeline/v2/artifacts/x")
    with pytest.raises(ConfigError, match="not on storage the TFJob workers share"):
        worker_location("/tmp/kfp/x/model", "/tmp/kfp/x/model")
    with pytest.raises(ConfigError):
        worker_location("/mnt/bertpipe-other/x", "/mnt/bertpipe-other/x")
    with pytest.raises(ConfigError, match="use a gs:// pipeline root$"):
        worker_location("/mnt/bertpipe/x", "/mnt/bertpipe/x", shared_mount="")


def test_owner_reference_only_in_the_same_namespace(tmp_path, monkeypatch):
    ns_file = tmp_path / "namespace"
    ns_file.write_text("team-a\n")
    monkeypatch.setenv("KFP_POD_NAME", "run-abc-train")
    monkeypatch.setenv("KFP_POD_UID", "uid-1")
    assert owner_reference("team-a", str(ns_file)) == {"name": "run-abc-train", "uid": "uid-1"}
    assert owner_reference("other", str(ns_file)) is None
    assert owner_reference("team-a", str(tmp_path / "missing")) is None
    monkeypatch.delenv("KFP_POD_UID")
    assert owner_reference("team-a", str(ns_file)) is None


def test_train_outputs_from_the_chiefs_report(tmp_path):
    """What the TFJob step logs comes from the chief's TrainingReport, as in the single-pod
    step; a job that left no report fails with a line naming the file."""
    report = TrainingReport(
        freeze="last:2", trainable_variables=[], unused_blocks=[], table=[],
        trainable_params=770, total_params=1000, global_batch_size=32, replicas=4,
        max_seq_length=64, labels=["neg", "pos"], config={},
        history={"loss": [0.7, 0.4], "val_accuracy": [0.6, 0.8]})
    report.save(str(tmp_path))
    metrics, metadata = train_outputs(TrainingReport.load(str(tmp_path)))
    assert metrics == {"trainable_params": 770, "global_batch_size": 32, "final_loss": 0.4,
                       "final_val_accuracy": 0.8}
    assert metadata == {"trainable_params": 770, "replicas": 4, "framework": "tensorflow"}
    with pytest.raises(ContractError, match="empty/training_report.json: missing"):
        TrainingReport.load(str(tmp_path / "empty"))


def test_component_takes_the_train_inputs_plus_the_cluster_shape():
    from components.train.component import train
    from components.train.tfjob_component import train_tfjob

    single, multi = train.component_spec, train_tfjob.component_spec
    assert set(single.inputs) <= set(multi.inputs)
    assert {"workers", "gpus_per_worker", "namespace", "worker_image"} <= set(multi.inputs)
    assert set(multi.outputs) == set(single.outputs) == {"model", "train_metrics"}
