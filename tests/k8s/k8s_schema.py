"""Offline schema checks for bertpipe's Kubernetes manifests (shared by the tests here).

Built-in kinds are checked by kubernetes-validate against the Kubernetes OpenAPI schemas in
strict mode (an unknown field is an error). It has no schemas for CRDs, so a TFJob is checked in
two parts: its pod templates as real ``v1`` PodTemplates (kubernetes-validate), and its own
structure (apiVersion, kind, replica types, counts, restart and clean-pod policies) here, after
the Training Operator's kubeflow.org/v1 TFJob API.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

import kubernetes_validate
import yaml

K8S_VERSION = "1.30.0"  # what current Kubeflow releases run on
ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = ROOT / "k8s"

_REPLICA_TYPES = {"Chief", "Master", "PS", "Worker", "Evaluator"}
_RUN_POLICY = {"cleanPodPolicy", "ttlSecondsAfterFinished", "activeDeadlineSeconds",
               "backoffLimit", "schedulingPolicy", "suspend", "managedBy"}
_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def load_documents(path: Path) -> list[dict[str, Any]]:
    """Every non-empty document of a (multi-document) YAML file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def validate_manifest(doc: dict[str, Any]) -> None:
    """Raises on any schema violation; a TFJob goes through ``validate_tfjob``."""
    if doc.get("kind") == "TFJob":
        validate_tfjob(doc)
    else:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def _fail_unless(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _only(keys: Iterable[str], allowed: set[str], where: str) -> None:
    unknown = sorted(set(keys) - allowed)
    _fail_unless(not unknown, f"{where}: unknown field(s) {unknown}")


def validate_tfjob(job: dict[str, Any]) -> None:
    """A kubeflow.org/v1 TFJob: top level by hand, each pod template by the v1 schema."""
    _fail_unless(job.get("apiVersion") == "kubeflow.org/v1", f"apiVersion {job.get('apiVersion')}")
    _fail_unless(job.get("kind") == "TFJob", f"kind {job.get('kind')}")
    _only(job, {"apiVersion", "kind", "metadata", "spec", "status"}, "TFJob")
    name = job.get("metadata", {}).get("name", "")
    _fail_unless(bool(_NAME.match(name)) and len(name) <= 50, f"metadata.name {name!r}")
    spec = job.get("spec", {})
    _only(spec, {"runPolicy", "tfReplicaSpecs", "successPolicy", "enableDynamicWorker"}, "spec")
    policy = spec.get("runPolicy", {})
    _only(policy, _RUN_POLICY, "spec.runPolicy")
    _fail_unless(policy.get("cleanPodPolicy", "None") in ("None", "Running", "All"),
                 f"cleanPodPolicy {policy.get('cleanPodPolicy')}")
    for key in ("backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"):
        value = policy.get(key, 0)
        _fail_unless(isinstance(value, int) and value >= 0, f"runPolicy.{key} {value!r}")
    replicas = spec.get("tfReplicaSpecs", {})
    _fail_unless(bool(replicas), "spec.tfReplicaSpecs is empty")
    _only(replicas, _REPLICA_TYPES, "spec.tfReplicaSpecs")
    for kind, replica in replicas.items():
        where = f"spec.tfReplicaSpecs.{kind}"
        _only(replica, {"replicas", "restartPolicy", "template"}, where)
        count = replica.get("replicas", 1)
        _fail_unless(isinstance(count, int) and not isinstance(count, bool) and count >= 1,
                     f"{where}.replicas {count!r}")
        _fail_unless(replica.get("restartPolicy", "Never") in
                     ("Always", "OnFailure", "Never", "ExitCode"),
                     f"{where}.restartPolicy {replica.get('restartPolicy')!r}")
        template = replica.get("template")
        _fail_unless(isinstance(template, dict), f"{where}.template missing")
        containers = template.get("spec", {}).get("containers", [])
        _fail_unless(any(c.get("name") == "tensorflow" for c in containers),
                     f"{where}: no container named 'tensorflow' (the operator's TF_CONFIG target)")
        kubernetes_validate.validate({"apiVersion": "v1", "kind": "PodTemplate",
                                      "metadata": {"name": f"{name}-{kind.lower()}"},
                                      "template": template}, K8S_VERSION, strict=True)
