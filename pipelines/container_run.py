"""Every step of a local run inside the project's image (``bertpipe run --runner docker``).

kfp.local's ``DockerRunner`` runs each component in its image, but kfp 2.17's task handler
starts the container with ``auto_remove`` and reads the exit code afterwards; when the container
is already gone (podman's Docker-compatible socket answers 404) it counts the step as a
success, so a failed step passes. ``ImageTaskHandler`` takes its place: it keeps the container
until its exit code is read, then removes it, and records what ran (step, container id, image
id, user, network, read-only root, exit code) in ``containers.jsonl`` in the run's folder, and
prints the step's whole output (which ``run_watch`` keeps as ``<step>.log``). Steps run with no
network, as a non-root user that can write the mounted pipeline root and ``blessed_root``; the
data and a local encoder are mounted read-only at their own paths, so the pipeline's
parameters mean the same inside. The image's root filesystem is read-only and ``/tmp`` is a
fresh tmpfs (what Kubernetes' ``readOnlyRootFilesystem`` with an ``emptyDir`` gives): a step
writes only its mounts and its temp dir, and nothing else it writes outlives its container.
Every step runs ``settings.image`` (``--image``), whatever tag the components were compiled
with.
Works with Docker's daemon and with podman's socket (``DOCKER_HOST``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import glob
import json
import os
from pathlib import Path
from typing import Any

from kfp.local import config as local_config
from kfp.local import docker_task_handler, status

from components import progress
from components.config import PipelineConfig
from components.errors import ConfigError
from pipelines.run_watch import error_line

# The image's own user (Dockerfile: USER 1000:1000).
IMAGE_USER = "1000:1000"


@dataclasses.dataclass(frozen=True)
class Mount:
    """A host path mounted at the same path inside every step's container."""
    path: str
    writable: bool


@dataclasses.dataclass(frozen=True)
class ContainerSettings:
    image: str
    mounts: tuple[Mount, ...]
    user: str
    network: str = "none"


# Every step's container has the image's root filesystem read-only and this fresh tmpfs at
# /tmp for its temp files and (HOME=/tmp in the Dockerfile) what its libraries keep under ~.
TMPFS = {"/tmp": "rw,nosuid,nodev,mode=1777"}


@dataclasses.dataclass(frozen=True)
class StepFailure:
    """A step whose container exited non-zero: its own last error line and its full log."""
    step: str
    exit_code: int | None
    line: str
    log: str

    def __str__(self) -> str:
        code = "unknown exit status" if self.exit_code is None else f"exit {self.exit_code}"
        return (f"step {self.step} failed in its container ({code}): {self.line} "
                f"(full log: {self.log})")


# Failures of this process's runs, newest last: kfp.local reports only the task's name.
FAILURES: list[StepFailure] = []


def container_user() -> str:
    """The image's non-root user when bertpipe runs as root (the mounts are handed to it);
    else the caller's own uid:gid, so the files it gets back are its own."""
    return IMAGE_USER if os.getuid() == 0 else f"{os.getuid()}:{os.getgid()}"


def _mount_path(data_path: str) -> str | None:
    """The local file or folder a data path (file, folder or glob) needs; None for gs://."""
    if "://" in data_path:
        return None
    if glob.has_magic(data_path):
        fixed = []
        for part in Path(data_path).parts:
            if glob.has_magic(part):
                break
            fixed.append(part)
        return str(Path(*fixed).resolve())
    return str(Path(data_path).resolve())


def plan_mounts(config: PipelineConfig, pipeline_root: str) -> tuple[Mount, ...]:
    """The pipeline root and a local ``blessed_root`` (writable), the data and a local encoder
    folder (read-only). A path inside an already mounted folder is not mounted again."""
    wanted = [Mount(str(Path(pipeline_root).resolve()), True)]
    if config.eval.blessed_root and "://" not in config.eval.blessed_root:
        wanted.append(Mount(str(Path(config.eval.blessed_root).resolve()), True))
    data = _mount_path(config.data.data_path) if not config.data.data_path.startswith(
        "builtin://") else None
    if data:
        wanted.append(Mount(data, False))
    if Path(config.encoder).is_dir():
        wanted.append(Mount(str(Path(config.encoder).resolve()), False))
    mounts: list[Mount] = []
    for mount in wanted:
        if not any(Path(mount.path).is_relative_to(m.path) for m in mounts):
            mounts.append(mount)
    return tuple(mounts)


def prepare_writable(mounts: tuple[Mount, ...], user: str) -> None:
    """Creates the writable folders and, when bertpipe runs as root, hands them to the
    container's user (only the folders and what a run wrote there, not older files)."""
    uid, gid = (int(x) for x in user.split(":"))
    for mount in mounts:
        if not mount.writable:
            continue
        Path(mount.path).mkdir(parents=True, exist_ok=True)
        if os.getuid() == 0:
            os.chown(mount.path, uid, gid)


def check_engine(image: str) -> None:
    """One line, before any step, when no engine answers or the image is not there."""
    try:
        import docker
    except ImportError:  # pragma: no cover - docker is a dependency
        raise ConfigError("--runner docker needs the 'docker' Python package") from None
    try:
        client = docker.from_env()
        client.ping()
    except Exception as err:  # noqa: BLE001 - every way of not reaching an engine
        raise ConfigError(f"--runner docker: no container engine answers "
                          f"(DOCKER_HOST={os.environ.get('DOCKER_HOST', 'unset')}): "
                          f"{str(err).splitlines()[0] if str(err) else type(err).__name__}"
                          ) from None
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        try:
            client.images.pull(image)
        except docker.errors.APIError as err:
            raise ConfigError(f"--runner docker: image {image!r} is neither here nor "
                              f"pullable ({err.explanation or err}): build it (make image "
                              f"IMAGE={image}) or pass --image") from None
    finally:
        client.close()


def _task_root(command: list[str]) -> Path:
    """The step's folder, read from the executor input kfp.local hands the container."""
    executor_input = json.loads(command[command.index("--executor_input") + 1])
    return Path(executor_input["outputs"]["outputFile"]).parent


class ImageTaskHandler(docker_task_handler.DockerTaskHandler):
    """Runs one step's container to its real exit code (see the module docstring)."""

    settings: ContainerSettings | None = None

    def run(self) -> status.Status:
        import docker

        settings = self.settings
        assert settings is not None, "install() sets the container settings"
        task_root = _task_root(self.full_command)
        step, run_dir = task_root.name, task_root.parent
        run_dir.mkdir(parents=True, exist_ok=True)
        prepare_writable((Mount(str(run_dir), True),), settings.user)
        client = docker.from_env()
        mode = "rw,z" if "name=selinux" in client.info().get("SecurityOptions", []) else "rw"
        volumes = {m.path: {"bind": m.path, "mode": mode if m.writable else mode.replace(
            "rw", "ro")} for m in settings.mounts}
        output: list[str] = []
        log_path = run_dir / f"{step}.log"  # written by run_watch from what is printed here
        record: dict[str, Any] = {"step": step, "image": settings.image,
                                  "started": dt.datetime.now(dt.timezone.utc).isoformat()}
        try:
            container = client.containers.run(
                image=settings.image, command=self.full_command, detach=True, stdout=True,
                stderr=True, volumes=volumes, user=settings.user, network_mode=settings.network,
                environment=_environment(self.env_vars), auto_remove=False,
                read_only=True, tmpfs=TMPFS)
            try:
                for chunk in container.logs(stream=True, follow=True):
                    text = chunk.decode("utf-8", errors="replace")
                    print(text, end="")
                    output.append(text)
                exit_code: int | None = container.wait()["StatusCode"]
                container.reload()
                attrs = container.attrs
                record.update(container_id=container.id, image_id=attrs.get("Image"),
                              user=attrs["Config"].get("User"),
                              network_mode=attrs["HostConfig"].get("NetworkMode"),
                              read_only=attrs["HostConfig"].get("ReadonlyRootfs"))
            except docker.errors.NotFound:
                exit_code = None  # gone before its status was read: never a success
            finally:
                try:
                    container.remove(force=True)
                except docker.errors.NotFound:
                    pass
        finally:
            client.close()
        record.update(exit_code=exit_code,
                      finished=dt.datetime.now(dt.timezone.utc).isoformat())
        with open(run_dir / "containers.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if exit_code == 0:
            return status.Status.SUCCESS
        FAILURES.append(StepFailure(step, exit_code, error_line("".join(output)),
                                    str(log_path)))
        return status.Status.FAILURE


def _environment(env_vars: dict[str, str] | None) -> dict[str, str] | None:
    """The step's own variables, plus the run view's request for progress events."""
    wanted = {progress.PROGRESS_ENV: "1"} if progress.progress_wanted() else {}
    return {**(env_vars or {}), **wanted} or None


def install(settings: ContainerSettings) -> local_config.DockerRunner:
    """Makes kfp.local run every container through ``ImageTaskHandler`` with ``settings``
    and returns the runner to pass to ``kfp.local.init``."""
    ImageTaskHandler.settings = settings
    docker_task_handler.DockerTaskHandler = ImageTaskHandler
    return local_config.DockerRunner()
