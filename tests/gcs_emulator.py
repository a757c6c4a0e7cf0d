"""An in-process GCS for tests: gcp-storage-emulator on 127.0.0.1, plus two things the real
service does that the emulator does not, added here by wrapping (its package is not edited):

* generation preconditions on writes: ``ifGenerationMatch`` on media, multipart and resumable
  uploads (and copies) answers 412 when the object's generation is another (0: the object must
  not exist), as GCS does; the emulator ignores the parameter;
* faults: the next N requests matching a method and an object-name pattern answer 503, or
  lose their connection without an answer, before the request takes effect (``drop``) or
  after (``drop-after``: the write happened, the client never hears so).

    with GcsEmulator() as gcs:          # STORAGE_EMULATOR_HOST=gcs.url for the client
        fault = gcs.fail_next(2, "503", method="POST", name=r"blessed\\.json$")
        ...
        assert fault.hits == 2
        assert gcs.requests_for("blessed.json")[-1].if_generation_match == "0"

Every request is recorded (``requests``) with the object it names and what it got.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import re
import socket
import threading
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from gcp_storage_emulator import server as emulator_server
from gcp_storage_emulator.exceptions import NotFound

BUCKET = "bertpipe-test"
KINDS = ("503", "drop", "drop-after")


@dataclasses.dataclass
class Fault:
    """``kind`` for the next ``remaining`` matching requests (None: every one)."""

    kind: str
    remaining: int | None
    method: str | None = None
    name: re.Pattern | None = None
    hits: int = 0

    def matches(self, method: str, name: str) -> bool:
        return ((self.remaining is None or self.remaining > 0)
                and (self.method is None or self.method == method)
                and (self.name is None or bool(self.name.search(name))))


@dataclasses.dataclass(frozen=True)
class Seen:
    """A request as the emulator got it, and its outcome: an HTTP status, or 'dropped'."""

    method: str
    path: str
    query: dict[str, list[str]]
    name: str
    outcome: int | str

    @property
    def if_generation_match(self) -> str | None:
        return self.query.get("ifGenerationMatch", [None])[0]

    @property
    def is_write(self) -> bool:
        return self.method in ("POST", "PUT") and "/upload/" in self.path


class _PreconditionFailed(Exception):
    pass


class _Handler(emulator_server.RequestHandler):
    """The emulator's handler, every request going through ``GcsEmulator._serve``."""

    emulator: "GcsEmulator"
    status: int | None = None

    def send_response(self, code, message=None):
        self.status = code
        super().send_response(code, message)

    def do_GET(self):
        self.emulator._serve(self, "GET")

    def do_POST(self):
        self.emulator._serve(self, "POST")

    def do_PUT(self):
        self.emulator._serve(self, "PUT")

    def do_DELETE(self):
        self.emulator._serve(self, "DELETE")

    def do_PATCH(self):
        self.emulator._serve(self, "PATCH")


class GcsEmulator:
    """gcp-storage-emulator in this process, in memory, with ``bucket`` created."""

    def __init__(self, bucket: str = BUCKET):
        self.bucket = bucket
        self._seen: list[Seen] = []
        self._serving = 0  # requests being answered now
        self._idle = threading.Condition()
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._precondition: str | None = None
        self._rejecting = False  # a 412 is on its way: the emulator's error log is noise
        self._quiet = lambda record: not self._rejecting
        emulator_server.logger.addFilter(self._quiet)
        self._server = emulator_server.create_server("127.0.0.1", 0, in_memory=True,
                                                     default_bucket=bucket)
        self._storage = self._server._storage
        self._wrap_create_file()
        self.url = ""

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> "GcsEmulator":
        self._server.start()
        httpd = self._server._api._httpd
        handler = type("Handler", (_Handler,), {"emulator": self})
        httpd.RequestHandlerClass = functools.partial(handler, self._storage)
        self.url = f"http://127.0.0.1:{httpd.server_address[1]}"
        return self

    def stop(self) -> None:
        """Stops the server; connecting wakes its loop, which else notices only every 0.5 s."""
        stopping = threading.Thread(target=self._server.stop)
        stopping.start()
        port = int(self.url.rsplit(":", 1)[1])
        while stopping.is_alive():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                break
            stopping.join(0.02)
        stopping.join()
        emulator_server.logger.removeFilter(self._quiet)

    def __enter__(self) -> "GcsEmulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what tests use ---------------------------------------------------------------------

    def fail_next(self, count: int | None, kind: str = "503", *, method: str | None = None,
                  name: str | None = None) -> Fault:
        """The next ``count`` requests (None: all) with ``method`` on an object whose name
        matches the regex ``name`` fail as ``kind``: '503', 'drop' (no answer, nothing done)
        or 'drop-after' (done, no answer)."""
        assert kind in KINDS, kind
        fault = Fault(kind, count, method, re.compile(name) if name else None)
        with self._lock:
            self._faults.append(fault)
        return fault

    @property
    def requests(self) -> list[Seen]:
        """Every request so far. A client has its answer a moment before the request is
        recorded here, so this waits for the server to finish the one it is on."""
        with self._idle:
            self._idle.wait_for(lambda: self._serving == 0, timeout=10)
            return list(self._seen)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def requests_for(self, name: str) -> list[Seen]:
        """The requests on objects whose name matches the regex ``name``."""
        return [r for r in self.requests if re.search(name, r.name)]

    def objects(self, prefix: str = "") -> dict[str, bytes]:
        """Every object under ``prefix`` and its bytes, read from the store directly."""
        names = self._storage.objects.get(self.bucket, {})
        return {n: self._storage.get_file(self.bucket, n) for n in sorted(names)
                if n.startswith(prefix)}

    def generation(self, name: str) -> str:
        return str(self._storage.get_file_obj(self.bucket, name)["generation"])

    # -- inside the server thread -----------------------------------------------------------

    def _wrap_create_file(self) -> None:
        """Every write of an object (media, multipart, a resumable upload's last chunk,
        copies) checks the request's ``ifGenerationMatch`` against the stored generation."""
        storage, real = self._storage, self._storage.create_file

        def create_file(bucket_name, file_name, content, file_obj, file_id=None):
            expected = self._precondition
            if expected is not None:
                try:
                    current = str(storage.get_file_obj(bucket_name, file_name)["generation"])
                except NotFound:
                    current = "0"
                if current != str(expected):
                    self._rejecting = True
                    raise _PreconditionFailed(f"{file_name}: generation {current}, "
                                              f"ifGenerationMatch {expected}")
            return real(bucket_name, file_name, content, file_obj, file_id)

        storage.create_file = create_file

    def _take_fault(self, method: str, name: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, name):
                    fault.hits += 1
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    return fault
        return None

    def _serve(self, handler: _Handler, method: str) -> None:
        with self._idle:
            self._serving += 1
        try:
            self._serve_one(handler, method)
        finally:
            with self._idle:
                self._serving -= 1
                self._idle.notify_all()

    def _serve_one(self, handler: _Handler, method: str) -> None:
        method = handler.headers.get("x-http-method-override") or method
        url = urlparse(handler.path)
        query = parse_qs(url.query)
        socket_file = handler.rfile
        body = _buffer_body(handler)
        name = self._object_name(url.path, query, handler.headers, body)
        fault = self._take_fault(method, name)
        outcome: int | str
        if fault is not None and fault.kind == "503":
            _answer(handler, 503, "backendError", "injected: service unavailable")
            outcome = 503
        elif fault is not None and fault.kind == "drop":
            outcome = "dropped"
        else:
            lost = fault is not None  # drop-after: the request takes effect, the answer is lost
            real_wfile = handler.wfile
            if lost:
                handler.wfile = io.BytesIO()
            self._precondition = query.get("ifGenerationMatch", [None])[0]
            try:
                emulator_server.Router(handler).handle(method)
                outcome = handler.status or 0
            except _PreconditionFailed as err:
                _answer(handler, 412, "conditionNotMet", f"Precondition Failed: {err}")
                outcome = 412
            finally:
                self._precondition = None
                self._rejecting = False
                handler.wfile = real_wfile
            if lost:
                outcome = "dropped"
        handler.rfile = socket_file
        handler.close_connection = True
        self._seen.append(Seen(method, url.path, query, name, outcome))

    def _object_name(self, path: str, query: dict[str, list[str]], headers: Any,
                     body: bytes) -> str:
        if "name" in query:
            return query["name"][0]
        if "upload_id" in query:
            try:
                return self._storage.get_resumable_file_obj(query["upload_id"][0])["name"]
            except (NotFound, KeyError):
                return ""
        found = re.search(r"/b/[^/]+/o/(.+)$", path)
        if found:
            return unquote(found.group(1))
        content_type = headers.get("Content-Type", "")
        try:
            if content_type.startswith("multipart/related"):
                message = BytesParser().parsebytes(
                    f"Content-Type: {content_type}\r\n\r\n".encode() + body)
                return json.loads(message.get_payload()[0].get_payload()).get("name", "")
            if content_type.startswith("application/json") and body:
                return json.loads(body).get("name", "")
        except (ValueError, AttributeError, IndexError):
            pass
        return ""


def _buffer_body(handler: _Handler) -> bytes:
    """Reads the request's body and puts it back as a buffer the emulator reads again."""
    headers = handler.headers
    length = headers.get("Content-Length")
    if length:
        body = handler.rfile.read(int(length))
    elif (headers.get("Transfer-Encoding") or "").lower() == "chunked":
        body = emulator_server._read_raw_data(handler) or b""
        del headers["Transfer-Encoding"]
        headers["Content-Length"] = str(len(body))
    else:
        body = b""
    handler.rfile = io.BytesIO(body)
    return body


def _answer(handler: _Handler, status: int, reason: str, message: str) -> None:
    body = json.dumps({"error": {"code": status, "message": message, "errors": [
        {"domain": "global", "reason": reason, "message": message}]}}).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json; charset=UTF-8")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
