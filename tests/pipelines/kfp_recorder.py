"""A loopback stand-in for the Kubeflow Pipelines v2beta1 REST API that records every call.

It answers each endpoint the real ``kfp.Client`` (kfp 2.17, ``kfp_server_api``) uses with the
minimal JSON the client needs and keeps a little state (pipelines, versions, experiments,
runs), so tests assert on the requests the real client sent, not on our own code's calls.
"""

from __future__ import annotations

import dataclasses
import email.parser
import email.policy
import itertools
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API = "/apis/v2beta1"


@dataclasses.dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: Any  # parsed JSON, {"file": bytes, ...} for uploads, or None
    headers: dict[str, str]  # lower-case names


def _multipart(content_type: str, raw: bytes) -> dict[str, bytes]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
    return {part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
            for part in message.iter_parts()}


def _filter_value(query: dict[str, str]) -> str | None:
    if "filter" not in query:
        return None
    predicates = json.loads(query["filter"]).get("predicates", [])
    return predicates[0].get("stringValue") if predicates else None


class KfpApiRecorder:
    """``with KfpApiRecorder() as api: ... api.url ... api.calls``."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.pipelines: dict[str, dict] = {}
        self.versions: dict[str, list[dict]] = {}
        self.uploads: dict[str, bytes] = {}  # version id -> uploaded package
        self.experiments: dict[str, dict] = {}
        self.runs: dict[str, dict] = {}
        self.recurring: dict[str, dict] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> "KfpApiRecorder":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def requests(self, method: str, path_regex: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and re.fullmatch(path_regex, c.path)]

    def add_run(self, name: str, state: str, **extra: Any) -> str:
        run_id = f"run-{next(self._ids)}"
        self.runs[run_id] = {"run_id": run_id, "display_name": name, "state": state,
                             "created_at": "2025-06-01T03:00:00Z", **extra}
        return run_id

    def _id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}"

    # -- routing -------------------------------------------------------------------------
    def _route(self, call: Call) -> tuple[int, Any]:
        m, p, q, body = call.method, call.path, call.query, call.body
        if (m, p) == ("GET", f"{API}/healthz"):
            return 200, {"multi_user": False}
        if (m, p) == ("GET", f"{API}/pipelines"):
            name = _filter_value(q)
            found = [x for x in self.pipelines.values() if name in (None, x["display_name"])]
            return 200, {"pipelines": found, "total_size": len(found)} if found else {}
        if (m, p) == ("POST", f"{API}/pipelines/upload"):
            pipeline_id, version_id = self._id("pipeline"), self._id("version")
            self.pipelines[pipeline_id] = {"pipeline_id": pipeline_id,
                                           "display_name": q["name"]}
            self.versions[pipeline_id] = [{"pipeline_id": pipeline_id,
                                           "pipeline_version_id": version_id,
                                           "display_name": q["name"]}]
            self.uploads[version_id] = body["uploadfile"]
            return 200, self.pipelines[pipeline_id]
        if (m, p) == ("POST", f"{API}/pipelines/upload_version"):
            pipeline_id, version_id = q["pipelineid"], self._id("version")
            if pipeline_id not in self.pipelines:
                return 404, {"message": f"pipeline {pipeline_id} not found"}
            version = {"pipeline_id": pipeline_id, "pipeline_version_id": version_id,
                       "display_name": q["name"]}
            self.versions[pipeline_id].insert(0, version)
            self.uploads[version_id] = body["uploadfile"]
            return 200, version
        match = re.fullmatch(f"{API}/pipelines/([^/]+)/versions", p)
        if m == "GET" and match:
            name = _filter_value(q)
            found = [v for v in self.versions.get(match.group(1), [])
                     if name in (None, v["display_name"])][: int(q.get("page_size", 10))]
            return 200, {"pipeline_versions": found} if found else {}
        if (m, p) == ("GET", f"{API}/experiments"):
            name = _filter_value(q)
            found = [x for x in self.experiments.values() if name in (None, x["display_name"])]
            return 200, {"experiments": found} if found else {}
        if (m, p) == ("POST", f"{API}/experiments"):
            experiment = {**body, "experiment_id": self._id("experiment")}
            self.experiments[experiment["experiment_id"]] = experiment
            return 200, experiment
        if (m, p) == ("POST", f"{API}/runs"):
            run = {**body, "run_id": self._id("run"), "state": "PENDING"}
            self.runs[run["run_id"]] = run
            return 200, run
        if (m, p) == ("GET", f"{API}/runs"):
            runs = [r for r in self.runs.values()
                    if q.get("experiment_id") in (None, r.get("experiment_id"))]
            return 200, {"runs": runs[: int(q.get("page_size", 10))], "total_size": len(runs)}
        match = re.fullmatch(f"{API}/runs/([^/:]+)", p)
        if m == "GET" and match:
            run = self.runs.get(match.group(1))
            return (200, run) if run else (404, {"message": f"run {match.group(1)} not found"})
        if (m, p) == ("POST", f"{API}/recurringruns"):
            job = {**body, "recurring_run_id": self._id("recurring")}
            self.recurring[job["recurring_run_id"]] = job
            return 200, job
        if (m, p) == ("GET", f"{API}/recurringruns"):
            return 200, {"recurringRuns": list(self.recurring.values())}
        match = re.fullmatch(f"{API}/recurringruns/([^/:]+)(:enable|:disable)?", p)
        if match and (m, bool(match.group(2))) in (("POST", True), ("DELETE", False)):
            if match.group(1) not in self.recurring:
                return 404, {"message": f"recurring run {match.group(1)} not found"}
            if m == "DELETE":
                del self.recurring[match.group(1)]
            else:
                self.recurring[match.group(1)]["mode"] = match.group(2)[1:].upper()
            return 200, {}
        return 404, {"message": f"no route for {m} {p}"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                ctype = self.headers.get("Content-Type", "")
                body: Any = None
                if raw and ctype.startswith("multipart/form-data"):
                    body = _multipart(ctype, raw)
                elif raw:
                    body = json.loads(raw)
                call = Call(self.command, parts.path, query, body,
                            {k.lower(): v for k, v in self.headers.items()})
                with recorder._lock:
                    recorder.calls.append(call)
                    status, answer = recorder._route(call)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _serve

        return Handler
