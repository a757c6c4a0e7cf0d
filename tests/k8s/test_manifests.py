"""Every manifest in k8s/ passes the Kubernetes schemas offline, and they fit together.

Built-in kinds: kubernetes-validate, strict, against Kubernetes 1.30's OpenAPI schemas.
kubernetes-validate knows no CRDs, so the TFJob's pod templates are validated as v1
PodTemplates and its own structure is checked by ``k8s_schema.validate_tfjob``. The negative
tests prove both checks can fail.
"""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest
import yaml

from components.train import tfjob
from k8s_schema import K8S_DIR, ROOT, load_documents, validate_manifest, validate_tfjob

MANIFESTS = sorted(p for p in K8S_DIR.glob("*.yaml") if p.name != "kustomization.yaml")


def _by_kind() -> dict[str, dict]:
    docs = [doc for path in MANIFESTS for doc in load_documents(path)]
    return {doc["kind"]: doc for doc in docs}


def test_the_expected_manifests_exist():
    assert {p.name for p in MANIFESTS} == {"namespace.yaml", "rbac.yaml", "pvc.yaml",
                                           "gcp-credentials-secret.yaml", "tfjob.yaml"}
    assert set(_by_kind()) == {"Namespace", "ServiceAccount", "Role", "RoleBinding",
                               "PersistentVolumeClaim", "Secret", "TFJob"}


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_validates(path):
    docs = load_documents(path)
    assert docs, f"{path.name} is empty"
    for doc in docs:
        validate_manifest(doc)


def test_kustomization_applies_the_deployment_but_not_the_templates():
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    resources = kustomization["resources"]
    assert set(resources) == {"namespace.yaml", "rbac.yaml", "pvc.yaml"}
    assert "tfjob.yaml" not in resources and "gcp-credentials-secret.yaml" not in resources
    namespace = kustomization["namespace"]
    for name in resources:
        for doc in load_documents(K8S_DIR / name):
            if doc["kind"] == "Namespace":
                assert doc["metadata"]["name"] == namespace
            else:
                assert doc["metadata"]["namespace"] == namespace, (name, doc["kind"])


def test_manifests_refer_to_each_other():
    kinds = _by_kind()
    sa, role, binding = kinds["ServiceAccount"], kinds["Role"], kinds["RoleBinding"]
    pvc, secret, job = kinds["PersistentVolumeClaim"], kinds["Secret"], kinds["TFJob"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": role["metadata"]["name"]}
    assert {"kind": "ServiceAccount", "name": sa["metadata"]["name"],
            "namespace": sa["metadata"]["namespace"]} in binding["subjects"]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    pod = job["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]
    assert pod["serviceAccountName"] == sa["metadata"]["name"] == tfjob.DEFAULT_SERVICE_ACCOUNT
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert (volumes["shared"]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
            == tfjob.DEFAULT_PVC)
    assert list(secret["stringData"]) == [tfjob.DEFAULT_GCP_KEY]
    assert (volumes["gcp-credentials"]["secret"]["secretName"] == secret["metadata"]["name"]
            == tfjob.DEFAULT_GCP_SECRET)
    (container,) = pod["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["shared"] == tfjob.SHARED_MOUNT
    key = {e["name"]: e["value"] for e in container["env"]}["GOOGLE_APPLICATION_CREDENTIALS"]
    assert key == f"{mounts['gcp-credentials']}/{next(iter(secret['stringData']))}"
    assert job["metadata"]["namespace"] == tfjob.DEFAULT_NAMESPACE == sa["metadata"]["namespace"]


def test_role_is_least_privilege():
    rules = _by_kind()["Role"]["rules"]
    by_resource = {(g, r): rule for rule in rules for g in rule["apiGroups"]
                   for r in rule["resources"]}
    assert set(by_resource[("kubeflow.org", "tfjobs")]["verbs"]) == {"create", "get", "delete"}
    assert by_resource[("", "secrets")]["resourceNames"] == [tfjob.DEFAULT_GCP_SECRET]
    for rule in rules:
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], rule
        risky = {"update", "patch", "deletecollection", "escalate", "bind", "impersonate"}
        assert not risky & set(rule["verbs"]) or rule["resources"] == ["workflowtaskresults"]


def test_tfjob_template_is_non_root_with_gpus_and_a_restart_policy():
    job = _by_kind()["TFJob"]
    assert job["spec"]["runPolicy"]["backoffLimit"] >= 1
    assert job["spec"]["runPolicy"]["cleanPodPolicy"] in ("Running", "All")
    worker = job["spec"]["tfReplicaSpecs"]["Worker"]
    assert worker["restartPolicy"] == "OnFailure"
    pod = worker["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"]
    (container,) = pod["containers"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["resources"]["limits"]["nvidia.com/gpu"] >= 1
    assert container["command"] == ["bertpipe"] and container["args"][0] == "train"


def test_k8s_tfjob_is_the_packaged_template():
    """Single source: the component renders the packaged file; k8s/ holds the same bytes."""
    assert (K8S_DIR / "tfjob.yaml").read_bytes() == tfjob.TEMPLATE_PATH.read_bytes()
    assert tfjob.TEMPLATE_PATH.parent == ROOT / "components" / "train"


def test_validation_rejects_an_unknown_container_field():
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
           "spec": {"containers": [{"name": "c", "image": "busybox:1.36",
                                    "imagePullPolicyy": "Always"}]}}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_manifest(pod)
    del pod["spec"]["containers"][0]["imagePullPolicyy"]
    validate_manifest(pod)  # the same pod without the typo passes


def test_validation_rejects_a_broken_role_and_pvc():
    role = copy.deepcopy(_by_kind()["Role"])
    role["rules"][0]["verb"] = role["rules"][0].pop("verbs")
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_manifest(role)
    pvc = copy.deepcopy(_by_kind()["PersistentVolumeClaim"])
    pvc["spec"]["accessModes"] = "ReadWriteMany"  # a string, not a list
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_manifest(pvc)


@pytest.mark.parametrize("breakage", ["container_field", "replicas", "replica_type",
                                      "restart_policy", "container_name", "api_version"])
def test_tfjob_validation_can_fail(breakage):
    job = copy.deepcopy(_by_kind()["TFJob"])
    validate_tfjob(job)
    worker = job["spec"]["tfReplicaSpecs"]["Worker"]
    container = worker["template"]["spec"]["containers"][0]
    if breakage == "container_field":
        container["gpus"] = 1
    elif breakage == "replicas":
        worker["replicas"] = 0
    elif breakage == "replica_type":
        job["spec"]["tfReplicaSpecs"]["Workers"] = job["spec"]["tfReplicaSpecs"].pop("Worker")
    elif breakage == "restart_policy":
        worker["restartPolicy"] = "Sometimes"
    elif breakage == "container_name":
        container["name"] = "trainer"
    else:
        job["apiVersion"] = "kubeflow.org/v2"
    with pytest.raises((ValueError, kubernetes_validate.ValidationError)):
        validate_tfjob(job)
