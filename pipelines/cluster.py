"""Where and how the pipeline's pods run on a Kubernetes cluster: compile-time settings.

These are deployment settings, not pipeline parameters: they end up in the compiled YAML
(``deploymentSpec`` and its ``platforms: kubernetes`` document) and a run cannot change them.
``bertpipe compile/submit/schedule`` take them as flags or as the ``cluster:`` section of a
``--config`` file; the pipeline for ``kfp.local`` (``bertpipe run``) is built without them.

KFP's cache key for a step is its image, command and arguments, input parameter values, the
names of its input artifacts, output specs, PVC names and env (per pipeline name and
namespace). ``data_path`` is a string, so new file contents at the same path hit the cache:
pass a new ``data_version`` parameter (re-runs preprocess and everything after it) or compile
with ``caching: false`` (``--no-cache``; the default for ``bertpipe schedule``).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Mapping

from components.config import FieldDoc, docs_of, parse_bool, setting
from components.errors import ConfigError, require
from components.images import IMAGE

# The steps by their display names (what the Kubeflow UI shows).
STEPS = ("import-encoder", "preprocess", "train", "evaluate", "quality-gate", "export", "publish")
EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
GCS_SECRET_DIR = "/var/secrets/gcp"  # as in k8s/ and the TFJob workers

_CPU = re.compile(r"^\d+(\.\d+)?m?$")
_MEMORY = re.compile(r"^\d+(\.\d+)?([EPTGMK]i?|e\d+)?$")
_LABEL = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


@dataclasses.dataclass(frozen=True)
class Toleration:
    """A pod toleration; ``operator`` is ``Exists`` when no value is given."""

    key: str = ""
    value: str = ""
    effect: str = ""
    toleration_seconds: int | None = None

    @property
    def operator(self) -> str:
        return "Equal" if self.value else "Exists"

    @classmethod
    def parse(cls, spec: str | Mapping[str, Any]) -> "Toleration":
        """``key[=value][:Effect]`` (kubectl taint syntax) or a mapping with those keys."""
        if isinstance(spec, Mapping):
            unknown = sorted(set(spec) - {"key", "value", "effect", "operator",
                                          "toleration_seconds"})
            require(not unknown, f"toleration has unknown key(s): {', '.join(unknown)}")
            seconds = spec.get("toleration_seconds")
            return cls(key=str(spec.get("key", "")), value=str(spec.get("value", "")),
                       effect=str(spec.get("effect", "")),
                       toleration_seconds=None if seconds is None else int(seconds))
        text = str(spec).strip()
        key_value, _, effect = text.partition(":")
        key, _, value = key_value.partition("=")
        return cls(key=key.strip(), value=value.strip(), effect=effect.strip())

    def __post_init__(self) -> None:
        require(not self.effect or self.effect in EFFECTS,
                 f"toleration effect must be one of {EFFECTS}, got {self.effect!r}")
        require(not self.key or bool(_LABEL.match(self.key)),
                 f"toleration key {self.key!r} is not a valid label key")
        require(bool(self.key) or not self.value, "a toleration with a value needs a key")


def _pairs(value: str | Mapping[str, Any] | None, what: str) -> dict[str, str]:
    """``k=v,k2=v2`` or a mapping, as a dict of strings."""
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        return {str(k).strip(): str(v).strip() for k, v in value.items()}
    pairs: dict[str, str] = {}
    for item in str(value).split(","):
        if not item.strip():
            continue
        key, sep, val = item.partition("=")
        require(bool(sep) and bool(key.strip()),
                 f"{what} must be key=value[,key=value...], got {item.strip()!r}")
        pairs[key.strip()] = val.strip()
    return pairs


def _tolerations(value: Any) -> tuple[Toleration, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, Toleration):
        return (value,)
    if isinstance(value, (str, Mapping)):
        items = [value] if isinstance(value, Mapping) else [
            x for x in str(value).split(",") if x.strip()]
    else:
        items = list(value)
    return tuple(x if isinstance(x, Toleration) else Toleration.parse(x) for x in items)


def _steps(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(x.strip() for x in value.split(",") if x.strip())
    return tuple(str(x).strip() for x in value or ())


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be an integer, got {value!r}") from None


@dataclasses.dataclass(frozen=True)
class ClusterConfig:
    """Deployment settings applied to the pipeline's tasks at compile time (steps by their
    display names in ``STEPS``)."""

    image: str = setting(IMAGE, """
        the image every step runs in ($BERTPIPE_IMAGE or the release image when not
        given)""")
    image_pull_secret: str = setting("", """
        a Secret for pulling the image from a private registry""")
    train_gpus: int = setting(0, """
        GPUs of `gpu_type` for the train step (0: CPU); per worker with `tfjob_workers`""")
    gpu_type: str = setting("nvidia.com/gpu", "the accelerator's resource name")
    cpu_request: Mapping[str, str] = setting(help="STEP=CPU,... per step, e.g. "
                                                  "train=8,preprocess=2", factory=dict)
    cpu_limit: Mapping[str, str] = setting(help="STEP=CPU,... per step", factory=dict)
    memory_request: Mapping[str, str] = setting(help="STEP=QUANTITY,... per step, e.g. "
                                                     "train=32Gi", factory=dict)
    memory_limit: Mapping[str, str] = setting(help="STEP=QUANTITY,... per step", factory=dict)
    node_selector: Mapping[str, str] = setting(help="KEY=VALUE,... node labels for every step",
                                               factory=dict)
    tolerations: tuple[Toleration, ...] = setting((), """
        KEY[=VALUE][:EFFECT],... taints every step tolerates""")
    train_node_selector: Mapping[str, str] = setting(help="""
        KEY=VALUE,... node labels for the train step only (a GPU pool)""", factory=dict)
    train_tolerations: tuple[Toleration, ...] = setting((), """
        KEY[=VALUE][:EFFECT],... taints the train step only tolerates""")
    retries: int = setting(0, """
        retries of the steps that may run on preemptible/spot nodes (`retry_steps`)""")
    retry_backoff: str = setting("60s", "the first retry's delay, doubling after each")
    retry_steps: tuple[str, ...] = setting(("preprocess", "train"), """
        STEP,... the steps that may run on preemptible nodes (and are retried)""")
    gcs_secret: str = setting("", f"""
        a Secret holding a service-account key (`gcs_secret_key`), mounted in every step at
        {GCS_SECRET_DIR} with GOOGLE_APPLICATION_CREDENTIALS pointing at it (empty: no key:
        Workload Identity through `service_account`, or no GCS at all)""")
    gcs_secret_key: str = setting("key.json", "the key file's name inside `gcs_secret`")
    pvc_name: str = setting("", """
        an existing PersistentVolumeClaim mounted in every step at `pvc_mount_path` (shared
        data, TFRecords, blessed_root)""")
    pvc_mount_path: str = setting("/mnt/bertpipe", "where `pvc_name` is mounted")
    service_account: str = setting("", """
        the Kubernetes service account of the runs' pods (submit/schedule)""")
    caching: bool = setting(True, "KFP's execution cache for every step")
    tfjob_workers: int = setting(0, """
        0: train in the train pod; N >= 2: the train step launches a TFJob of N workers with
        `train_gpus` GPUs each (in `tfjob_namespace`, with the `image`, `service_account`
        and `gcs_secret`) and waits for it""")
    tfjob_namespace: str = setting("bertpipe", "the namespace of the TFJob")

    def __post_init__(self) -> None:
        require(bool(self.image.strip()) and not any(c.isspace() for c in self.image),
                 f"image must be an image reference without spaces, got {self.image!r}")
        require(self.train_gpus >= 0, f"train_gpus must be >= 0, got {self.train_gpus}")
        require(bool(_LABEL.match(self.gpu_type)),
                 f"gpu_type must be a resource name such as nvidia.com/gpu, got {self.gpu_type!r}")
        for name, pattern in (("cpu_request", _CPU), ("cpu_limit", _CPU),
                              ("memory_request", _MEMORY), ("memory_limit", _MEMORY)):
            for step, quantity in getattr(self, name).items():
                require(step in STEPS,
                         f"{name}: unknown step {step!r} (steps: {', '.join(STEPS)})")
                require(bool(pattern.match(quantity)),
                         f"{name}: {quantity!r} for {step} is not a Kubernetes quantity")
        for name in ("node_selector", "train_node_selector"):
            for key in getattr(self, name):
                require(bool(_LABEL.match(key)), f"{name}: {key!r} is not a valid label key")
        require(self.retries >= 0, f"retries must be >= 0, got {self.retries}")
        require(bool(re.match(r"^\d+s$", self.retry_backoff)),
                 f"retry_backoff must be seconds such as 60s, got {self.retry_backoff!r}")
        unknown = [s for s in self.retry_steps if s not in STEPS]
        require(not unknown, f"retry_steps: unknown step(s) {', '.join(unknown)} "
                              f"(steps: {', '.join(STEPS)})")
        for name in ("gcs_secret", "pvc_name", "image_pull_secret", "service_account",
                     "tfjob_namespace"):
            value = getattr(self, name)
            require(not value or bool(_DNS_NAME.match(value)),
                     f"{name} must be a Kubernetes name, got {value!r}")
        require(not self.gcs_secret or bool(self.gcs_secret_key.strip())
                 and "/" not in self.gcs_secret_key,
                 f"gcs_secret_key must be a key of the secret, got {self.gcs_secret_key!r}")
        require(self.pvc_mount_path.startswith("/"),
                 f"pvc_mount_path must be absolute, got {self.pvc_mount_path!r}")
        require(self.tfjob_workers == 0 or self.tfjob_workers >= 2,
                 f"tfjob_workers must be 0 (single pod) or >= 2, got {self.tfjob_workers}")
        require(not (self.tfjob_workers and (self.train_node_selector or self.train_tolerations)),
                 "train_node_selector/train_tolerations place the single train pod; TFJob "
                 "workers are placed by components/train/tfjob_template.yaml")
        require(not self.tfjob_workers or bool(self.tfjob_namespace),
                 "tfjob_namespace must not be empty with tfjob_workers")

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> "ClusterConfig":
        """From flags or a ``cluster:`` YAML section: strings (``k=v,...``, ``key=value:Effect``,
        ``a,b``) or structured values; unknown keys are an error, missing ones take defaults."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - names)
        require(not unknown, f"unknown cluster setting(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, value in raw.items():
            if name in ("cpu_request", "cpu_limit", "memory_request", "memory_limit",
                        "node_selector", "train_node_selector"):
                values[name] = _pairs(value, name)
            elif name in ("tolerations", "train_tolerations"):
                values[name] = _tolerations(value)
            elif name == "retry_steps":
                values[name] = _steps(value)
            elif name == "caching":
                values[name] = parse_bool(value, name)
            elif name in ("train_gpus", "retries", "tfjob_workers"):
                values[name] = _int(value, name)
            else:
                values[name] = "" if value is None else str(value).strip()
        return cls(**values)

    def is_default(self) -> bool:
        return self == ClusterConfig()


def cluster_docs() -> dict[str, FieldDoc]:
    """Name, type, default and meaning of every cluster setting, in field order."""
    return {doc.name: doc for doc in docs_of(ClusterConfig, "cluster")}


def replicas_of(cluster: ClusterConfig) -> int:
    """Training replicas the cluster settings give: GPUs per pod (or the pod's CPU as one)
    times the TFJob's workers (one pod without a TFJob)."""
    return max(cluster.train_gpus, 1) * max(cluster.tfjob_workers, 1)


def check_batch_split(batch_size: int, cluster: ClusterConfig) -> None:
    """The global batch must split evenly over the replicas (every replica of a step gets the
    same number of examples): checked at compile time, before a cluster sees the run."""
    replicas = replicas_of(cluster)
    require(batch_size % replicas == 0,
            f"batch_size {batch_size} does not split evenly over {replicas} training replicas "
            f"(tfjob_workers {max(cluster.tfjob_workers, 1)} x "
            f"{max(cluster.train_gpus, 1)} per worker): use a multiple of {replicas}")


def apply_cluster(cluster: ClusterConfig, tasks: Mapping[str, Any]) -> None:
    """Applies ``cluster`` to the pipeline's tasks (by display name); settings left at their
    defaults add nothing, so the default config compiles to the plain pipeline."""
    from kfp import kubernetes

    for step, task in tasks.items():
        if cluster.image != IMAGE:
            task.set_container_image(cluster.image)
        if cluster.image_pull_secret:
            kubernetes.set_image_pull_secrets(task, [cluster.image_pull_secret])
        if not cluster.caching:
            task.set_caching_options(False)
        if step in cluster.cpu_request:
            task.set_cpu_request(cluster.cpu_request[step])
        if step in cluster.cpu_limit:
            task.set_cpu_limit(cluster.cpu_limit[step])
        if step in cluster.memory_request:
            task.set_memory_request(cluster.memory_request[step])
        if step in cluster.memory_limit:
            task.set_memory_limit(cluster.memory_limit[step])
        selector = dict(cluster.node_selector)
        tolerations = list(cluster.tolerations)
        if step == "train":
            selector.update(cluster.train_node_selector)
            tolerations += cluster.train_tolerations
            if cluster.train_gpus and not cluster.tfjob_workers:
                task.set_accelerator_type(cluster.gpu_type)
                task.set_accelerator_limit(cluster.train_gpus)
        for key, value in selector.items():
            kubernetes.add_node_selector(task, key, value)
        for tol in tolerations:
            kubernetes.add_toleration(task, key=tol.key or None, operator=tol.operator,
                                      value=tol.value or None, effect=tol.effect or None,
                                      toleration_seconds=tol.toleration_seconds)
        if cluster.retries and step in cluster.retry_steps:
            task.set_retry(cluster.retries, backoff_duration=cluster.retry_backoff,
                           backoff_factor=2.0)
        if cluster.gcs_secret:
            kubernetes.use_secret_as_volume(task, secret_name=cluster.gcs_secret,
                                            mount_path=GCS_SECRET_DIR)
            task.set_env_variable("GOOGLE_APPLICATION_CREDENTIALS",
                                  f"{GCS_SECRET_DIR}/{cluster.gcs_secret_key}")
        if cluster.pvc_name:
            kubernetes.mount_pvc(task, pvc_name=cluster.pvc_name,
                                 mount_path=cluster.pvc_mount_path)
