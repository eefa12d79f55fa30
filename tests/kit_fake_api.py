"""A scriptable stand-in for the agentOS Jobs API on 127.0.0.1, for the Python kit's own tests
(tests/test_kits_python.py): records every request; answers PUT by-name, heartbeat, complete and a
few client routes; ``fail_reports`` makes the next heartbeats/completes fail with those statuses."""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Recorded:
    """One request as the fake API received it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any


@dataclass
class FakeApi:
    """The fake API's state: what it received and what it will answer."""

    requests: list[Recorded] = field(default_factory=list)
    completes: list[Any] = field(default_factory=list)
    heartbeats: list[Any] = field(default_factory=list)
    fail_reports: list[int] = field(default_factory=list)
    fail_declares: list[int] = field(default_factory=list)
    cancel: bool = False
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        """The API's base URL."""
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/api"

    def route(self, record: Recorded) -> tuple[int, Any, dict[str, str]]:
        """The scripted answer to one request: status, JSON body, headers."""
        with self.lock:
            self.requests.append(record)
            path = urlsplit(record.path).path
            if record.method == "PUT" and (m := re.fullmatch(r"/api/jobs/by-name/(.+)", path)):
                return self._declare(unquote(m.group(1)), record.body)
            if record.method == "POST" and (m := re.fullmatch(r"/api/runs/([^/]+)/(heartbeat|complete)", path)):
                return self._report(m.group(1), m.group(2), record.body)
            return self._client_route(record.method, record.path)

    def _declare(self, name: str, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if self.fail_declares:
            status = self.fail_declares.pop(0)
            return status, {"Code": "Scripted", "Message": f"scripted {status}"}, {}
        known = self.jobs.get(name)
        job = {"id": known["id"] if known else f"job-{len(self.jobs) + 1}", **body, "name": name}
        self.jobs[name] = job
        return (200 if known else 201), job, {}

    def _report(self, run_id: str, action: str, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if self.fail_reports:
            status = self.fail_reports.pop(0)
            return status, {"Code": "Unavailable", "Message": f"scripted {status}"}, {}
        if action == "heartbeat":
            self.heartbeats.append(body)
            return 200, {"id": run_id, "status": "running", "cancelRequested": self.cancel}, {}
        self.completes.append(body)
        return 200, {"id": run_id, "status": body["status"]}, {}

    def _client_route(self, method: str, target: str) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(target)
        if method == "GET" and parts.path == "/api/jobs":
            if parse_qs(parts.query).get("cursor"):
                return 200, [{"id": "job-2"}], {}
            return 200, [{"id": "job-1"}], {"Link": '</api/jobs?limit=1&cursor=abc>; rel="next"'}
        if method == "POST" and (m := re.fullmatch(r"/api/jobs/([^/]+)/run", parts.path)):
            return 202, {"id": "run-9", "jobId": m.group(1), "payload": self.requests[-1].body["payload"]}, {}
        return 404, {"Code": "NotFoundError", "Message": f"no route {method} {parts.path}"}, {}


def start_fake_api(port: int = 0) -> FakeApi:
    """A fake API listening on 127.0.0.1 (``port`` 0: any free one); call ``.server.shutdown()``."""
    api = FakeApi()

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            record = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                              json.loads(raw) if raw else None)
            status, body, headers = api.route(record)
            data = json.dumps(body).encode()
            self.send_response(status)
            for key, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _any

        def log_message(self, *args: Any) -> None:
            pass

    api.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=api.server.serve_forever, args=(0.05,), daemon=True).start()
    return api
