"""``gs://`` objects through the google-cloud-storage client, with retries and preconditions.

    policy = RetryPolicy()                                   # 1 s, x2, at most 32 s, 300 s
    upload_tree("/tmp/export", "gs://models/blessed/v7")     # each file, retried
    stored = read("gs://models/blessed/blessed.json")        # bytes + generation, or None
    write_if_generation("gs://models/blessed/blessed.json", data,
                        stored.generation if stored else 0)  # False: changed meanwhile (412)

Why not ``tf.io.gfile``: on ``gs://`` it neither retries a 503 nor sends a generation
precondition, and its rename is a copy plus a delete, so two writers can silently overwrite
each other. Here every request is retried on transient errors (HTTP 408, 429 and 5xx, a
connection reset or dropped without an answer, a timeout) with exponential backoff and jitter
until the policy's deadline, after which ``StorageError`` says in one line what failed, how
often and for how long. Other errors (403, a missing bucket) are not retried: one line too.

A write with ``write_if_generation`` replaces the object only if its generation is still the
one read (0: only if it does not exist), so a retried write is safe, and a writer that lost a
race learns it (HTTP 412) instead of erasing the other's object.

The client honours ``STORAGE_EMULATOR_HOST`` (the tests' in-process emulator); with it set and
no ``GOOGLE_APPLICATION_CREDENTIALS`` it is anonymous, else it uses the default credentials
(the pod's service account on a cluster).
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

from components.errors import ConfigError, StorageError  # noqa: F401 (callers catch gcs.StorageError)

SCHEME = "gs://"
# HTTP answers worth another try; any other 5xx is too.
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: the first wait ``initial`` seconds, each next one ``multiplier``
    times longer up to ``maximum`` (each drawn at random below that bound, so that runs
    failing together do not retry together), until ``deadline`` seconds after the first try.
    The defaults ride out a few minutes of a regional blip; tests pass short ones."""

    initial: float = 1.0
    maximum: float = 32.0
    multiplier: float = 2.0
    deadline: float = 300.0

    def retry(self, predicate: Callable[[BaseException], bool]) -> Any:
        """A ``google.api_core.retry.Retry`` with these values and ``predicate``."""
        from google.api_core.retry import Retry

        return Retry(predicate=predicate, initial=self.initial, maximum=self.maximum,
                     multiplier=self.multiplier, timeout=self.deadline)


@dataclasses.dataclass(frozen=True)
class Stored:
    """An object's bytes and the generation they belong to."""

    data: bytes
    generation: int


def is_gs(path: str) -> bool:
    return str(path).startswith(SCHEME)


def split(uri: str) -> tuple[str, str]:
    """``gs://bucket/some/path`` -> ``("bucket", "some/path")`` (the path may be '')."""
    if not is_gs(uri) or not uri[len(SCHEME):].split("/", 1)[0]:
        raise ConfigError(f"{uri!r} is not a gs://bucket/path URI")
    bucket, _, path = uri[len(SCHEME):].partition("/")
    return bucket, path.strip("/")


def client() -> Any:
    """A storage client: anonymous against an emulator without credentials, else with the
    default credentials. Operations on objects need no project."""
    from google.cloud import storage

    if os.environ.get("STORAGE_EMULATOR_HOST") and not os.environ.get(
            "GOOGLE_APPLICATION_CREDENTIALS"):
        return storage.Client.create_anonymous_client()
    return storage.Client(project=os.environ.get("GOOGLE_CLOUD_PROJECT") or None)


def _status(exc: BaseException) -> int | None:
    """The HTTP status behind a client exception, if it has one."""
    from google.api_core import exceptions as api_exceptions
    from google.cloud.storage.exceptions import InvalidResponse

    if isinstance(exc, api_exceptions.GoogleAPICallError):
        return exc.code
    if isinstance(exc, InvalidResponse):
        return exc.response.status_code
    return None


def is_transient(exc: BaseException) -> bool:
    """Worth another try: HTTP 408, 429, 5xx, or a connection reset, dropped or timed out."""
    import http.client

    import requests
    import urllib3
    from google.auth import exceptions as auth_exceptions

    if isinstance(exc, auth_exceptions.TransportError) and exc.args and isinstance(
            exc.args[0], BaseException):
        return is_transient(exc.args[0])
    status = _status(exc)
    if status is not None:
        return status in TRANSIENT_STATUS or 500 <= status < 600
    return isinstance(exc, (ConnectionError, TimeoutError, requests.ConnectionError,
                            requests.Timeout, requests.exceptions.ChunkedEncodingError,
                            http.client.HTTPException, urllib3.exceptions.ProtocolError,
                            urllib3.exceptions.TimeoutError, urllib3.exceptions.PoolError))


def _one_line(exc: BaseException) -> str:
    """``503 Service Unavailable: <the server's message>``, or the connection error."""
    from google.cloud.storage.exceptions import InvalidResponse

    if isinstance(exc, InvalidResponse):  # an upload's or download's answer
        response = exc.response
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError, AttributeError):
            message = ""
        text = f"{response.status_code} {getattr(response, 'reason', '') or ''}".strip()
        text += f": {message}" if message else ""
    else:
        text = str(exc) or type(exc).__name__
        status = _status(exc)
        if status is not None and not text.startswith(str(status)):
            text = f"{status} {text}"
    return " ".join(text.split())[:300]


def _call(uri: str, what: str, action: Callable[[Any], T], policy: RetryPolicy | None,
          passthrough: tuple[type[BaseException], ...] = ()) -> T:
    """``action(retry)``: one client call made with a retry of ``policy``. What fails for good
    becomes a one-line ``StorageError``, except the ``passthrough`` answers the caller
    handles (HTTP 412 to a conditional write, say)."""
    from google.api_core import exceptions as api_exceptions

    policy = policy or RetryPolicy()
    failures: list[BaseException] = []

    def predicate(exc: BaseException) -> bool:
        failures.append(exc)
        return is_transient(exc)

    start = time.monotonic()
    try:
        return action(policy.retry(predicate))
    except passthrough:
        raise
    except api_exceptions.RetryError as err:
        last = err.cause or (failures[-1] if failures else err)
        raise StorageError(
            f"{uri}: {what} gave up after {len(failures)} tries in "
            f"{time.monotonic() - start:.1f} s (retry deadline {policy.deadline:g} s); last "
            f"error: {_one_line(last)}") from None
    except Exception as err:  # noqa: BLE001 - every client failure becomes one line
        tries = f" (after {len(failures)} tries)" if len(failures) > 1 else ""
        raise StorageError(f"{uri}: {what} failed{tries}: {_one_line(err)}") from None


def upload_tree(local_dir: str, uri: str, *, policy: RetryPolicy | None = None,
                storage_client: Any = None) -> int:
    """Uploads every file under ``local_dir`` to ``uri/<relative path>`` (overwriting: a
    retried upload of the same bytes is harmless), each with retries. Returns the count."""
    source = Path(local_dir)
    if not source.is_dir():
        raise ConfigError(f"{local_dir}: not a local folder to upload to {uri}")
    bucket_name, prefix = split(uri)
    bucket = (storage_client or client()).bucket(bucket_name)
    files = sorted(p for p in source.rglob("*") if p.is_file())
    for path in files:
        name = "/".join(filter(None, (prefix, path.relative_to(source).as_posix())))
        blob = bucket.blob(name)
        _call(f"{SCHEME}{bucket_name}/{name}", "upload",
              lambda retry, blob=blob, path=path: blob.upload_from_filename(str(path),
                                                                            retry=retry),
              policy)
    return len(files)


def read(uri: str, *, policy: RetryPolicy | None = None,
         storage_client: Any = None) -> Stored | None:
    """The object's bytes and generation, None when it does not exist. The download asks for
    the generation just read, so bytes and generation always belong together."""
    from google.api_core import exceptions as api_exceptions

    bucket_name, name = split(uri)
    bucket = (storage_client or client()).bucket(bucket_name)
    for _ in range(5):  # replaced or deleted between the two requests: read again
        blob = _call(uri, "read", lambda retry: bucket.get_blob(name, retry=retry), policy)
        if blob is None:
            return None
        generation = int(blob.generation)
        try:
            data = _call(uri, "read", lambda retry, blob=blob: blob.download_as_bytes(
                if_generation_match=generation, retry=retry), policy,
                passthrough=(api_exceptions.PreconditionFailed, api_exceptions.NotFound))
        except (api_exceptions.PreconditionFailed, api_exceptions.NotFound):
            continue
        return Stored(data=data, generation=generation)
    raise StorageError(f"{uri}: read failed: the object changed on every one of 5 reads")


def write_if_generation(uri: str, data: bytes, generation: int, *,
                        policy: RetryPolicy | None = None, storage_client: Any = None,
                        content_type: str = "application/json") -> bool:
    """Writes ``data`` only if the object's generation is still ``generation`` (0: only if it
    does not exist). True when written; False when the object changed since that generation
    was read (HTTP 412, precondition failed): nothing was written, read it again and decide.
    A write that landed but whose answer was lost is retried and then also answers False; a
    caller that reads again finds its own bytes."""
    from google.api_core import exceptions as api_exceptions

    bucket_name, name = split(uri)
    blob = (storage_client or client()).bucket(bucket_name).blob(name)
    try:
        _call(uri, "write", lambda retry: blob.upload_from_string(
            data, content_type=content_type, if_generation_match=generation, retry=retry),
            policy, passthrough=(api_exceptions.PreconditionFailed,))
    except api_exceptions.PreconditionFailed:
        return False
    return True
