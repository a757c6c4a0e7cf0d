"""Cluster settings land in the compiled pipeline on the right tasks; defaults change nothing."""

import dataclasses

import pytest
import yaml
from kfp import components as kfp_components
from kfp import dsl

from components.config import ConfigError
from pipelines.cli import main
from pipelines.cluster import ClusterConfig, apply_cluster
from pipelines.pipeline import bertpipe_pipeline, compile_pipeline

ROOT_EXECUTORS = {"import-encoder": "exec-import-encoder", "preprocess": "exec-preprocess",
                  "train": "exec-train", "evaluate": "exec-evaluate", "gate": "exec-gate"}
ALL_EXECUTORS = set(ROOT_EXECUTORS.values()) | {"exec-export", "exec-publish"}
CLUSTER_FLAGS = [
    "--image", "registry.example.com/ml/bertpipe:1.2", "--image-pull-secret", "regcred",
    "--train-gpus", "2", "--cpu-request", "train=8,preprocess=2", "--memory-request",
    "train=32Gi", "--memory-limit", "train=40Gi", "--node-selector", "pool=ml",
    "--tolerations", "spot=true:NoSchedule",
    "--train-node-selector", "cloud.google.com/gke-accelerator=nvidia-l4",
    "--train-tolerations", "nvidia.com/gpu:NoSchedule", "--retries", "3",
    "--gcs-secret", "bertpipe-gcp-credentials", "--pvc-name", "bertpipe-shared"]


def load(path) -> tuple[dict, dict]:
    """The pipeline spec and its Kubernetes platform spec ({} when there is none)."""
    kfp_components.load_component_from_file(str(path))  # kfp's own loader accepts it
    docs = list(yaml.safe_load_all(path.read_text()))
    if len(docs) == 1:
        return docs[0], {}
    return docs[0], docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


def test_default_cluster_compiles_the_plain_pipeline(tmp_path):
    plain, default = tmp_path / "plain.yaml", tmp_path / "default.yaml"
    compile_pipeline(str(plain))
    compile_pipeline(str(default), ClusterConfig())
    assert plain.read_text() == default.read_text()
    spec, platform = load(plain)
    assert platform == {}
    executors = spec["deploymentSpec"]["executors"].values()
    assert not any("resources" in e["container"] for e in executors)
    assert all(t["cachingOptions"]["enableCache"] for n, t in spec["root"]["dag"]["tasks"].items()
               if n != "condition-1")


def test_cluster_settings_land_on_the_right_tasks(tmp_path, capsys):
    out = tmp_path / "cluster.yaml"
    assert main(["compile", "-o", str(out), *CLUSTER_FLAGS]) == 0, capsys.readouterr().err
    spec, platform = load(out)
    executors = spec["deploymentSpec"]["executors"]
    assert set(executors) == ALL_EXECUTORS == set(platform)

    # GPU, CPU and memory: train has the GPUs; preprocess its CPU; nothing else.
    train = executors["exec-train"]["container"]["resources"]
    assert train["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert train["accelerator"]["resourceCount"] == "2"
    assert train["resourceCpuRequest"] == "8" and train["resourceMemoryRequest"] == "32Gi"
    assert train["resourceMemoryLimit"] == "40Gi"
    assert executors["exec-preprocess"]["container"]["resources"] == {
        "cpuRequest": 2.0, "resourceCpuRequest": "2"}
    assert [name for name, e in executors.items() if "accelerator" in e["container"].get(
        "resources", {})] == ["exec-train"]

    for name, executor in executors.items():
        container = executor["container"]
        assert container["image"] == "registry.example.com/ml/bertpipe:1.2"
        assert {"name": "GOOGLE_APPLICATION_CREDENTIALS",
                "value": "/var/secrets/gcp/key.json"} in container["env"]
        k8s = platform[name]
        assert k8s["secretAsVolume"][0]["secretName"] == "bertpipe-gcp-credentials"
        assert k8s["secretAsVolume"][0]["mountPath"] == "/var/secrets/gcp"
        assert k8s["pvcMount"][0]["constant"] == "bertpipe-shared"
        assert k8s["pvcMount"][0]["mountPath"] == "/mnt/bertpipe"
        assert k8s["imagePullSecret"][0]["secretName"] == "regcred"
        spot = {"key": "spot", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
        gpu = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        labels = k8s["nodeSelector"]["labels"]
        if name == "exec-train":  # the GPU pool's selector and taint: train only
            assert labels == {"pool": "ml", "cloud.google.com/gke-accelerator": "nvidia-l4"}
            assert k8s["tolerations"] == [spot, gpu]
        else:
            assert labels == {"pool": "ml"} and k8s["tolerations"] == [spot]

    # Retries on the preemptible steps (preprocess, train) only.
    tasks = spec["root"]["dag"]["tasks"]
    retried = {n for n, t in tasks.items() if "retryPolicy" in t}
    retried |= {n for n, t in spec["components"]["comp-condition-1"]["dag"]["tasks"].items()
                if "retryPolicy" in t}
    assert retried == {"preprocess", "train"}
    assert tasks["train"]["retryPolicy"] == {"maxRetryCount": 3, "backoffDuration": "60s",
                                             "backoffFactor": 2.0,
                                             "backoffMaxDuration": "3600s"}


def test_no_cache_turns_caching_off_for_every_task(tmp_path, capsys):
    out = tmp_path / "nocache.yaml"
    assert main(["compile", "-o", str(out), "--no-cache"]) == 0, capsys.readouterr().err
    spec, _ = load(out)
    tasks = {**spec["root"]["dag"]["tasks"],
             **spec["components"]["comp-condition-1"]["dag"]["tasks"]}
    assert not any(t.get("cachingOptions", {}).get("enableCache") for t in tasks.values())


def test_data_version_is_a_preprocess_input(tmp_path):
    """A new data_version changes preprocess's input parameters, hence its cache key."""
    out = tmp_path / "p.yaml"
    compile_pipeline(str(out))
    spec, _ = load(out)
    inputs = spec["root"]["dag"]["tasks"]["preprocess"]["inputs"]["parameters"]
    assert inputs["data_version"] == {"componentInputParameter": "data_version"}


def test_tfjob_workers_replace_the_train_step(tmp_path, capsys):
    pytest.importorskip("components.train.tfjob_component")
    out = tmp_path / "tfjob.yaml"
    assert main(["compile", "-o", str(out), "--tfjob-workers", "4", "--train-gpus", "1",
                 "--image", "reg.example.com/bertpipe:gpu", "--gcs-secret", "gcp-key",
                 "--pvc-name", "bertpipe-shared"]) == 0, capsys.readouterr().err
    spec, _ = load(out)
    tasks = spec["root"]["dag"]["tasks"]
    assert "train" not in tasks and tasks["train-tfjob"]["taskInfo"]["name"] == "train"
    constants = {k: v["runtimeValue"]["constant"]
                 for k, v in tasks["train-tfjob"]["inputs"]["parameters"].items()
                 if "runtimeValue" in v}
    assert constants == {"workers": 4, "gpus_per_worker": 1, "namespace": "bertpipe",
                         "worker_image": "reg.example.com/bertpipe:gpu",
                         "service_account": "bertpipe-runner",
                         "gcp_credentials_secret": "gcp-key", "gcp_credentials_key": "key.json",
                         "shared_pvc": "bertpipe-shared", "shared_mount": "/mnt/bertpipe",
                         "image_pull_secret": ""}
    # The launcher pod itself needs no GPU; evaluate and export read its model.
    launcher = spec["deploymentSpec"]["executors"]["exec-train-tfjob"]["container"]
    assert "accelerator" not in launcher.get("resources", {})
    assert tasks["evaluate"]["inputs"]["artifacts"]["model"]["taskOutputArtifact"][
        "producerTask"] == "train-tfjob"


@pytest.mark.parametrize("raw, message", [
    ({"cpu_request": "trian=2"}, "cpu_request: unknown step 'trian'"),
    ({"memory_limit": "train=lots"}, "memory_limit: 'lots' for train is not a Kubernetes quantity"),
    ({"tolerations": "spot=true:Sometimes"}, "toleration effect must be one of"),
    ({"node_selector": "pool"}, "node_selector must be key=value"),
    ({"retry_steps": "preprocess,deploy"}, "retry_steps: unknown step(s) deploy"),
    ({"tfjob_workers": 1}, "tfjob_workers must be 0 (single pod) or >= 2"),
    ({"tfjob_workers": 2, "train_node_selector": "a=b"}, "place the single train pod"),
    ({"train_gpus": "two"}, "train_gpus must be an integer"),
    ({"gcs_secret": "My_Secret"}, "gcs_secret must be a Kubernetes name"),
    ({"image": "has space:1"}, "image must be an image reference"),
    ({"gpus": 1}, "unknown cluster setting(s): gpus"),
])
def test_bad_cluster_settings_fail_with_one_line(raw, message):
    with pytest.raises(ConfigError) as err:
        ClusterConfig.from_mapping(raw)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_structured_and_string_forms_agree():
    from_strings = ClusterConfig.from_mapping({
        "node_selector": "a=b,c=d", "tolerations": "k=v:NoExecute,gpu:NoSchedule",
        "cpu_request": "train=4", "retry_steps": "train", "caching": "false"})
    from_yaml = ClusterConfig.from_mapping({
        "node_selector": {"a": "b", "c": "d"},
        "tolerations": [{"key": "k", "value": "v", "effect": "NoExecute"},
                        {"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "cpu_request": {"train": 4}, "retry_steps": ["train"], "caching": False})
    assert from_strings == from_yaml
    assert dataclasses.replace(from_yaml, caching=True) != from_yaml


@dsl.component(base_image="python:3.11")
def _double(x: int) -> int:
    return 2 * x


def test_kfp_local_ignores_cluster_settings(tmp_path):
    """Platform settings are for a cluster; kfp.local runs such a pipeline unchanged, and
    `bertpipe run`'s pipeline carries none."""
    from kfp import local

    assert not bertpipe_pipeline.platform_spec.platforms
    cluster = ClusterConfig(image="reg.example.com/x:1", train_gpus=1, retries=2,
                            node_selector={"pool": "ml"}, gcs_secret="key", pvc_name="shared",
                            caching=False, cpu_request={"train": "2"})

    @dsl.pipeline
    def tiny(x: int = 2) -> int:
        task = _double(x=x).set_display_name("train")
        apply_cluster(cluster, {"train": task})
        return task.output

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path),
               raise_on_error=True)
    assert tiny(x=3).output == 6


def test_a_batch_that_does_not_split_over_the_replicas_fails_at_compile(tmp_path, capsys):
    """Three TFJob workers with 2 GPUs each are 6 replicas: the default batch of 32 cannot
    be split evenly, so compile refuses with one line before writing anything."""
    out = tmp_path / "tfjob.yaml"
    assert main(["compile", "-o", str(out), "--tfjob-workers", "3", "--train-gpus", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("bertpipe: error: batch_size 32 does not split evenly over 6 training "
                   "replicas (tfjob_workers 3 x 2 per worker): use a multiple of 6")
    assert not out.exists()
    assert main(["compile", "-o", str(out), "--tfjob-workers", "3", "--train-gpus", "2",
                 "--batch-size", "36"]) == 0 and out.exists()


def test_credentials_in_the_environment_never_reach_the_compiled_yaml(tmp_path, monkeypatch,
                                                                      capsys):
    """The YAML names the Secret to mount; it never holds a key, a token or their paths,
    whatever the compiling machine's environment has."""
    secret = "-----BEGIN PRIVATE KEY-----bertpipe-fake-credential-1c2d"
    key = tmp_path / "gcp-key.json"
    key.write_text('{"type": "service_account", "private_key": "%s"}' % secret)
    token = tmp_path / "token"
    token.write_text(secret)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(token))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    out = tmp_path / "bertpipe.yaml"
    assert main(["compile", "-o", str(out), "--gcs-secret", "gcp-key",
                 "--tfjob-workers", "2"]) == 0, capsys.readouterr().err
    text = out.read_text()
    assert "gcp-key" in text  # the Secret's name, mounted by Kubernetes
    for leak in (secret, str(key), str(token)):
        assert leak not in text
    assert secret not in capsys.readouterr().out
