"""Multi-worker training as a Kubeflow Training Operator TFJob.

    spec = TFJobSpec("bertpipe-train-1a2b", image, workers=4, gpus_per_worker=1,
                     encoder_dir=..., examples_dir=..., output_dir="gs://b/run/model",
                     train_args={"freeze": "last:2", "epochs": 3})
    launch_tfjob(spec.render(), "bertpipe", timeout_s=86400, poll_s=30)

The manifest comes from ``tfjob_template.yaml`` next to this file (``k8s/tfjob.yaml`` is the same
file, for reading and manual runs), filled in field by field rather than by text substitution,
so the result is always well-formed. Every worker runs ``bertpipe train``; the operator's
TF_CONFIG turns that into MultiWorkerMirroredStrategy with worker 0 as the chief. The workers
read and write shared storage only: gs:// or the bertpipe-shared PVC at ``SHARED_MOUNT``.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
import time
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping

from components.config import TrainConfig
from components.errors import ConfigError, api_error_line

TEMPLATE_PATH = Path(__file__).with_name("tfjob_template.yaml")
GROUP, VERSION, PLURAL = "kubeflow.org", "v1", "tfjobs"
SHARED_MOUNT = "/mnt/bertpipe"
DEFAULT_NAMESPACE = "bertpipe"
DEFAULT_SERVICE_ACCOUNT = "bertpipe-runner"
DEFAULT_GCP_SECRET = "bertpipe-gcp-credentials"
DEFAULT_GCP_KEY = "key.json"
DEFAULT_PVC = "bertpipe-shared"
CONTAINER = "tensorflow"  # the container the Training Operator gives TF_CONFIG to
JOB_NAME_LABEL = "training.kubeflow.org/job-name"
# Pods are "<name>-worker-<i>" and each gets a Service of that name: a DNS-1035 label (<= 63).
_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,48}[a-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$")
_TRANSIENT_HTTP = (429, 500, 502, 503, 504)

TrainArgs = Mapping[str, str | int | float | bool]


class TFJobError(RuntimeError):
    """The TFJob could not be created or watched; the message is one line."""


class TFJobFailed(TFJobError):
    """The TFJob ran and failed (its reason and message are in the text)."""


class TFJobTimeout(TFJobError, TimeoutError):
    """The TFJob did not finish in time; it has been deleted."""


def load_template() -> dict[str, Any]:
    """The TFJob template as shipped; a missing file names the packaging fault, not a YAML one."""
    import yaml

    if not TEMPLATE_PATH.is_file():
        raise TFJobError(f"{TEMPLATE_PATH} is missing: bertpipe was installed without its package "
                         "data (pyproject.toml [tool.setuptools.package-data])")
    return yaml.safe_load(TEMPLATE_PATH.read_text())


def _check(condition: bool, message: str) -> None:
    """Raises ConfigError(message) unless ``condition``: keeps each validation rule one line."""
    if not condition:
        raise ConfigError(message)


def _check_train_args(train_args: TrainArgs) -> None:
    """Checks ``train_args`` as a TrainConfig, so that a bad value fails here and not in every
    worker (each worker would parse the same flags and fail the same way, much later)."""
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(train_args) - set(fields))
    if unknown:
        raise ConfigError(f"unknown train argument(s): {', '.join(unknown)} "
                          f"(expected TrainConfig fields)")
    types = {"str": str, "int": int, "float": float, "bool": bool}
    for key, value in train_args.items():
        want = types[str(fields[key].type)]
        if want is bool:
            ok = isinstance(value, bool)
        elif want is float:  # an int is a fine float, a bool is not
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            ok = isinstance(value, want) and not isinstance(value, bool)
        if not ok:
            raise ConfigError(f"train argument {key} must be {want.__name__}, got {value!r}")
    TrainConfig(**train_args)


def _train_flags(train_args: TrainArgs) -> list[str]:
    """``--flag=value`` pairs for ``bertpipe train`` from checked ``train_args``, in TrainConfig's
    field order so that the same config always gives the same manifest."""
    flags: list[str] = []
    for key in (f.name for f in dataclasses.fields(TrainConfig)):
        if key in train_args:
            value = train_args[key]
            text = str(value).lower() if isinstance(value, bool) else str(value)
            flags.append(f"--{key.replace('_', '-')}={text}")  # "=": a value may start with -
    return flags


@dataclasses.dataclass(frozen=True)
class TFJobSpec:
    """What one training run's TFJob needs, checked once when it is made, so that rendering
    cannot fail on bad input and a spec that exists is always a valid one.

    ``gcp_credentials_secret=""`` leaves the key secret out (Workload Identity: the service
    account's own GCP identity); ``gcp_credentials_key`` is the key file's name in the secret.
    ``shared_pvc`` is mounted at ``shared_mount`` in every worker (``""``: none, gs:// only).
    ``active_deadline_s`` > 0 lets the operator stop the job even if nobody is watching it.
    ``owner`` (a Pod's ``name`` and ``uid``, same namespace) makes Kubernetes delete the TFJob
    with the pipeline pod that launched it.
    """

    name: str
    image: str
    workers: int
    gpus_per_worker: int
    encoder_dir: str
    examples_dir: str
    output_dir: str
    train_args: TrainArgs
    namespace: str = DEFAULT_NAMESPACE
    service_account: str = DEFAULT_SERVICE_ACCOUNT
    gcp_credentials_secret: str = DEFAULT_GCP_SECRET
    gcp_credentials_key: str = DEFAULT_GCP_KEY
    shared_pvc: str = DEFAULT_PVC
    shared_mount: str = SHARED_MOUNT
    image_pull_secret: str = ""
    backoff_limit: int = 3
    active_deadline_s: int = 0
    owner: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        """Rejects bad input with one clear line each, then keeps read-only copies of the
        mappings so that the caller's later edits cannot undo the checks."""
        self._check_names()
        self._check_counts()
        for label, value in (("encoder_dir", self.encoder_dir),
                             ("examples_dir", self.examples_dir), ("output_dir", self.output_dir)):
            _check(bool(value.strip()), f"{label} must not be empty")
        _check_train_args(self.train_args)
        object.__setattr__(self, "train_args", MappingProxyType(dict(self.train_args)))
        if self.owner is not None:
            object.__setattr__(self, "owner", MappingProxyType(dict(self.owner)))

    def _check_names(self) -> None:
        """Kubernetes names, the mount path and the image: what the API server or kubelet would
        otherwise reject only after the TFJob was created."""
        _check(bool(_NAME.match(self.name)), f"TFJob name must be lower-case letters, digits and "
                                             f"'-', start with a letter, at most 50 characters: "
                                             f"{self.name!r}")
        _check(bool(_DNS_LABEL.match(self.namespace)),
               f"namespace is not a valid name: {self.namespace!r}")
        _check(bool(_DNS_SUBDOMAIN.match(self.service_account)),
               f"service_account is not a valid name: {self.service_account!r}")
        _check(not self.gcp_credentials_secret
               or bool(_DNS_SUBDOMAIN.match(self.gcp_credentials_secret)),
               f"gcp_credentials_secret is not a valid name: {self.gcp_credentials_secret!r}")
        _check(bool(self.gcp_credentials_key.strip()) and "/" not in self.gcp_credentials_key,
               f"gcp_credentials_key must be a file name, got {self.gcp_credentials_key!r}")
        for label, value in (("shared_pvc", self.shared_pvc),
                             ("image_pull_secret", self.image_pull_secret)):
            _check(not value or bool(_DNS_SUBDOMAIN.match(value)),
                   f"{label} is not a valid name: {value!r}")
        _check(self.shared_mount.startswith("/") and self.shared_mount.rstrip("/") != "",
               f"shared_mount must be an absolute path other than /, got {self.shared_mount!r}")
        _check(bool(self.image.strip()) and not re.search(r"\s", self.image),
               f"image must be a non-empty image reference without spaces: {self.image!r}")

    def _check_counts(self) -> None:
        """Replica, GPU and retry counts: real integers (not bools or floats) in range."""
        counts = {"workers": self.workers, "gpus_per_worker": self.gpus_per_worker,
                  "backoff_limit": self.backoff_limit, "active_deadline_s": self.active_deadline_s}
        for label, value in counts.items():
            _check(isinstance(value, int) and not isinstance(value, bool),
                   f"{label} must be an integer, got {value!r}")
        _check(self.workers >= 1, f"workers must be >= 1, got {self.workers}")
        _check(self.gpus_per_worker >= 0,
               f"gpus_per_worker must be >= 0, got {self.gpus_per_worker}")
        _check(self.backoff_limit >= 0, f"backoff_limit must be >= 0, got {self.backoff_limit}")
        _check(self.active_deadline_s >= 0,
               f"active_deadline_s must be >= 0, got {self.active_deadline_s}")

    def render(self) -> dict[str, Any]:
        """This spec's TFJob manifest (see ``render_tfjob``)."""
        return render_tfjob(self)


def render_tfjob(spec: TFJobSpec) -> dict[str, Any]:
    """The TFJob manifest for ``spec``: a fresh copy of the template, filled in field by field.

    Only fills in: ``spec`` was checked when it was made, so this cannot reject anything, and
    the template on disk is never changed.
    """
    job = copy.deepcopy(load_template())
    meta = job["metadata"]
    meta["name"], meta["namespace"] = spec.name, spec.namespace
    if spec.owner:
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Pod", "name": spec.owner["name"],
                                    "uid": spec.owner["uid"]}]
    run_policy = job["spec"]["runPolicy"]
    run_policy["backoffLimit"] = spec.backoff_limit
    if spec.active_deadline_s:
        run_policy["activeDeadlineSeconds"] = spec.active_deadline_s
    worker = job["spec"]["tfReplicaSpecs"]["Worker"]
    worker["replicas"] = spec.workers
    _fill_pod(worker["template"]["spec"], spec)
    return job


def _fill_pod(pod: dict[str, Any], spec: TFJobSpec) -> None:
    """The worker pod: identity, image, the ``bertpipe train`` command line, GPUs, volumes."""
    pod["serviceAccountName"] = spec.service_account
    if spec.image_pull_secret:
        pod["imagePullSecrets"] = [{"name": spec.image_pull_secret}]
    (container,) = [c for c in pod["containers"] if c["name"] == CONTAINER]
    container["image"] = spec.image
    container["args"] = ["train", f"--encoder-dir={spec.encoder_dir}",
                         f"--examples-dir={spec.examples_dir}",
                         f"--output-dir={spec.output_dir}", *_train_flags(spec.train_args)]
    limits = container["resources"]["limits"]
    if spec.gpus_per_worker:
        limits["nvidia.com/gpu"] = spec.gpus_per_worker
    else:  # CPU workers: no GPU limit, and no toleration that would let them onto GPU nodes
        limits.pop("nvidia.com/gpu", None)
        pod["tolerations"] = [t for t in pod.get("tolerations", [])
                              if t.get("key") != "nvidia.com/gpu"]
        if not pod["tolerations"]:
            del pod["tolerations"]
    _fill_volumes(pod, container, spec)


def _fill_volumes(pod: dict[str, Any], container: dict[str, Any], spec: TFJobSpec) -> None:
    """Shared PVC and GCP key secret, or neither: a volume that is not wanted is dropped with
    its mount, since a missing claim or secret would keep the workers Pending."""
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    (pvc_volume,) = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    (secret_volume,) = [v for v in pod["volumes"] if "secret" in v]
    dropped = set()
    if spec.shared_pvc:
        pvc_volume["persistentVolumeClaim"]["claimName"] = spec.shared_pvc
        mounts[pvc_volume["name"]]["mountPath"] = spec.shared_mount.rstrip("/")
    else:  # gs:// only: a missing claim would keep the workers Pending
        dropped.add(pvc_volume["name"])
    credentials = [e for e in container["env"] if e["name"] == "GOOGLE_APPLICATION_CREDENTIALS"]
    if spec.gcp_credentials_secret:
        secret_volume["secret"]["secretName"] = spec.gcp_credentials_secret
        credentials[0]["value"] = f"{mounts[secret_volume['name']]['mountPath']}/" \
                                  f"{spec.gcp_credentials_key}"
    else:  # Workload Identity: a credentials path to a missing file would break Google auth
        dropped.add(secret_volume["name"])
        container["env"] = [e for e in container["env"] if e not in credentials]
    pod["volumes"] = [v for v in pod["volumes"] if v["name"] not in dropped]
    container["volumeMounts"] = [m for m in container["volumeMounts"] if m["name"] not in dropped]


def worker_location(uri: str, path: str, shared_mount: str = SHARED_MOUNT) -> str:
    """Where TFJob workers find an artifact that the launching pod sees at ``path``.

    On a gs:// pipeline root the workers use the URI itself (TensorFlow reads gs:// natively);
    a local artifact must lie on the shared PVC, which the workers mount at the same place
    (``shared_mount=""``: no shared volume). Anything else (minio://, s3://, a pod-local
    folder) is out of the workers' reach.
    """
    if uri.startswith("gs://"):
        return uri.rstrip("/")
    if "://" in uri:
        raise ConfigError(f"artifact {uri} is on {uri.split('://')[0]}://, which TFJob workers "
                          f"cannot read: use a gs:// pipeline root or one under {shared_mount}")
    local = os.path.abspath(path or uri)
    mount = shared_mount.rstrip("/")
    if not mount or (local != mount and not local.startswith(mount + "/")):
        shared = f" or one under {mount} (the shared PVC)" if mount else ""
        raise ConfigError(f"{local} is not on storage the TFJob workers share: use a gs:// "
                          f"pipeline root{shared}")
    return local


def owner_reference(namespace: str,
                    namespace_file: str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
                    ) -> dict[str, str] | None:
    """This KFP pod as the TFJob's owner, so a cancelled or deleted run takes its TFJob along.

    None outside KFP or when the TFJob goes to another namespace: Kubernetes treats an owner in
    another namespace as absent and would delete the TFJob at once.
    """
    name, uid = os.environ.get("KFP_POD_NAME"), os.environ.get("KFP_POD_UID")
    try:
        own_namespace = Path(namespace_file).read_text().strip()
    except OSError:
        return None
    if not (name and uid) or own_namespace != namespace:
        return None
    return {"name": name, "uid": uid}


def _one_line(text: str) -> str:
    """``text`` with all whitespace runs as one space: errors here are reported as one line."""
    return " ".join(str(text).split())


def _terminal_condition(job: Mapping[str, Any]) -> dict[str, Any] | None:
    """The job's true Succeeded or Failed condition, or None while it is still going."""
    for condition in job.get("status", {}).get("conditions") or []:
        if condition.get("type") in ("Succeeded", "Failed") and condition.get("status") == "True":
            return condition
    return None


def _latest_condition(job: Mapping[str, Any]) -> str:
    """The newest condition's type ("Pending" before the operator wrote any), for progress."""
    conditions = job.get("status", {}).get("conditions") or []
    return conditions[-1].get("type", "") if conditions else "Pending"


def _print_worker_logs(api_client, namespace: str, name: str, log: Callable[[str], None],
                       lines: int = 20, max_pods: int = 4) -> None:
    """The last lines of each worker's log, so the failure is readable in the KFP UI."""
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    try:
        pods = core.list_namespaced_pod(namespace, label_selector=f"{JOB_NAME_LABEL}={name}",
                                        _request_timeout=30).items
        for pod in sorted(pods, key=lambda p: p.metadata.name)[:max_pods]:
            text = core.read_namespaced_pod_log(pod.metadata.name, namespace,
                                                container=CONTAINER, tail_lines=lines,
                                                _request_timeout=30)
            for line in (text or "").splitlines():
                log(f"[{pod.metadata.name}] {line}")
    except Exception as err:  # best effort: the failure itself is reported by the caller
        log(f"(worker logs unavailable: {api_error_line(err)})")


def _default_api_client():
    """In a pod, its service account; elsewhere $KUBECONFIG or ~/.kube/config. No global
    client state is touched."""
    from kubernetes import client, config

    try:
        cfg = client.Configuration()
        config.load_incluster_config(client_configuration=cfg)
        return client.ApiClient(cfg)
    except config.ConfigException:
        pass
    try:  # KUBECONFIG is read now: the library's own default froze it at import time
        return config.new_client_from_config(config_file=os.environ.get("KUBECONFIG") or None)
    except (config.ConfigException, OSError) as err:
        raise TFJobError(f"no Kubernetes API: not in a cluster and no usable kubeconfig "
                         f"({_one_line(err)})") from None


def _launch_target(manifest: Mapping[str, Any], namespace: str | None, timeout_s: float,
                   poll_s: float) -> tuple[str, str]:
    """The TFJob's (name, namespace), after refusing a manifest or timing that could only fail
    on the cluster: nothing is sent before these checks pass."""
    name = manifest.get("metadata", {}).get("name", "")
    namespace = namespace or manifest.get("metadata", {}).get("namespace") or DEFAULT_NAMESPACE
    if manifest.get("apiVersion") != f"{GROUP}/{VERSION}" or manifest.get("kind") != "TFJob":
        raise ConfigError(f"not a {GROUP}/{VERSION} TFJob manifest: "
                          f"{manifest.get('apiVersion')} {manifest.get('kind')}")
    if not name:
        raise ConfigError("the TFJob manifest has no metadata.name")
    if manifest["metadata"].get("namespace", namespace) != namespace:
        raise ConfigError(f"the manifest's namespace {manifest['metadata']['namespace']!r} is "
                          f"not {namespace!r}")
    if timeout_s <= 0 or poll_s <= 0:
        raise ConfigError(f"timeout_s and poll_s must be > 0, got {timeout_s} and {poll_s}")
    return name, namespace


@dataclasses.dataclass(frozen=True)
class _Watch:
    """One launch's TFJob and the clock it runs against, shared by the create, poll and delete
    steps so that every API call keeps within the caller's ``timeout_s``."""

    api: Any  # kubernetes.client.CustomObjectsApi
    namespace: str
    name: str
    deadline: float  # time.monotonic() by which the job must have finished
    log: Callable[[str], None]

    @property
    def where(self) -> str:
        """How messages name the job."""
        return f"TFJob {self.namespace}/{self.name}"

    def request_timeout(self) -> float:
        """One API call's timeout: at most 30 s, never past the deadline (but at least 1 s)."""
        return max(1.0, min(30.0, self.deadline - time.monotonic()))


def _create(watch: _Watch, manifest: Mapping[str, Any]) -> None:
    """Creates the TFJob; a refusal is a one-line TFJobError with a hint for the usual causes
    (an existing job of that name is never touched: this launch did not create it)."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        watch.api.create_namespaced_custom_object(GROUP, VERSION, watch.namespace, PLURAL,
                                                  dict(manifest),
                                                  _request_timeout=watch.request_timeout())
    except ApiException as err:
        hint = {404: " (is the Kubeflow Training Operator installed?)",
                403: " (see the Role in k8s/rbac.yaml)",
                409: " (a job of that name exists; it was left alone)"}.get(err.status, "")
        raise TFJobError(f"could not create {watch.where}: {api_error_line(err)}{hint}") from None
    except (OSError, HTTPError) as err:
        raise TFJobError(f"could not create {watch.where}: API server unreachable: "
                         f"{_one_line(err)}") from None
    watch.log(f"created {watch.where}; logs: kubectl -n {watch.namespace} logs "
              f"-l {JOB_NAME_LABEL}={watch.name}")


def _poll(watch: _Watch) -> dict[str, Any] | None:
    """The TFJob as the API server has it now, or None after a transient error (busy or
    unreachable server: logged, the caller retries); any other error means the job is lost."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        return watch.api.get_namespaced_custom_object(GROUP, VERSION, watch.namespace, PLURAL,
                                                      watch.name,
                                                      _request_timeout=watch.request_timeout())
    except ApiException as err:
        if err.status not in _TRANSIENT_HTTP:
            raise TFJobError(f"lost {watch.where}: {api_error_line(err)}") from None
        watch.log(f"{watch.where}: API server busy ({api_error_line(err)}), retrying")
    except (OSError, HTTPError) as err:
        watch.log(f"{watch.where}: API server unreachable ({_one_line(err)}), retrying")
    return None


def _wait(watch: _Watch, timeout_s: float, poll_s: float) -> dict[str, Any]:
    """Polls every ``poll_s`` until the job is Succeeded or Failed and returns that condition,
    logging each change of state; TFJobTimeout once the deadline has passed."""
    last = ""
    while True:
        job = _poll(watch)
        if job is not None:
            state = _latest_condition(job)
            if state != last:
                watch.log(f"{watch.where}: {state}")
                last = state
            terminal = _terminal_condition(job)
            if terminal is not None:
                return terminal
        remaining = watch.deadline - time.monotonic()
        if remaining <= 0:
            raise TFJobTimeout(f"{watch.where} did not finish within {timeout_s:g} s; deleting it")
        time.sleep(min(poll_s, remaining))


def _failure(watch: _Watch, terminal: Mapping[str, Any]) -> TFJobFailed:
    """The error for a Failed job, after logging the workers' last lines: the operator's reason
    alone rarely says what went wrong inside the training code."""
    _print_worker_logs(watch.api.api_client, watch.namespace, watch.name, watch.log)
    return TFJobFailed(_one_line(f"{watch.where} failed: {terminal.get('reason', '')}: "
                                 f"{terminal.get('message', '')}"))


def _delete(watch: _Watch) -> None:
    """Deletes the job with its pods (best effort, logged) so that no worker keeps holding GPUs
    after a timeout, a cancelled run or a lost watch."""
    try:
        watch.api.delete_namespaced_custom_object(GROUP, VERSION, watch.namespace, PLURAL,
                                                  watch.name, propagation_policy="Background",
                                                  _request_timeout=30)
        watch.log(f"deleted {watch.where}")
    except Exception as err:
        watch.log(f"could not delete {watch.where}: {api_error_line(err)}")


def launch_tfjob(manifest: Mapping[str, Any], namespace: str | None = None,
                 timeout_s: float = 86400.0, poll_s: float = 30.0, api_client: Any = None,
                 log: Callable[[str], None] = print) -> str:
    """Creates the TFJob and waits for it; returns its name once it has Succeeded.

    Raises TFJobFailed (with the operator's reason and message) when it Failed, TFJobTimeout
    after ``timeout_s``, TFJobError when it cannot be created or watched. Only a job this call
    created is ever deleted: on timeout, interruption (SIGTERM/Ctrl-C) or a lost watch, so no
    workers keep holding GPUs; a finished job is kept for its logs (the operator's
    ttlSecondsAfterFinished removes it). ``api_client`` defaults to the in-cluster config, else
    the local kubeconfig.
    """
    from kubernetes import client

    name, namespace = _launch_target(manifest, namespace, timeout_s, poll_s)
    api = client.CustomObjectsApi(api_client or _default_api_client())
    watch = _Watch(api, namespace, name, time.monotonic() + timeout_s, log)
    _create(watch, manifest)
    finished = False
    try:
        terminal = _wait(watch, timeout_s, poll_s)
        finished = True
        if terminal["type"] == "Succeeded":
            return name
        raise _failure(watch, terminal)
    finally:
        if not finished:
            _delete(watch)
