"""A scriptable test agent (tests and bench): a threaded HTTP server on 127.0.0.1 that records what it receives.

Usage::

    with AgentServer(secret=b"s3cret") as agent:          # ephemeral port
        agent.respond_with(503, 503, 200)                  # then the last answer repeats
        ... deliver to agent.url ...
        req = agent.wait_for(1)[0]
        assert req.signature_valid and req.json()["runId"] == "run-1"

Signatures are checked here with an independent HMAC implementation (not the code
under test). With a secret, a request whose signature is missing, wrong or outside the
replay window is recorded and answered 401, as a real agent would.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import queue
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SIGNATURE_TOLERANCE_S = 300


@dataclass(frozen=True)
class Response:
    """One scripted answer."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the agent received it."""

    method: str
    path: str
    headers: dict[str, str]  # keys lower-cased
    body: bytes
    received_at: float
    signature_valid: bool | None  # None when the server has no secret

    def header(self, name: str) -> str | None:
        """A request header by case-insensitive name."""
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


def check_signature(secret: bytes, header: str | None, body: bytes, now_s: float) -> bool:
    """Independent check of ``t=<t>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``."""
    if not header:
        return False
    fields = dict(part.strip().split("=", 1) for part in header.split(",") if "=" in part)
    if not fields.get("t", "").isdigit() or "v1" not in fields:
        return False
    if abs(now_s - int(fields["t"])) > SIGNATURE_TOLERANCE_S:
        return False
    expected = hmac.new(secret, fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


def unused_port() -> int:
    """A local port nothing listens on (for connection-refused tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AgentServer:
    """Threaded HTTP agent on 127.0.0.1; a context manager that starts and stops it."""

    def __init__(self, secret: bytes | None = None, path: str = "/jobs") -> None:
        self.secret = secret
        self.path = path
        self.requests: list[RecordedRequest] = []
        self._script: list[Response] = [Response()]
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self._server = _BurstServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        # A short poll interval keeps stop() (and so every test's teardown) fast.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        """The URL to configure as the agent's ``url``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.path}"

    def __enter__(self) -> AgentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop serving; delayed answers are abandoned at once."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def respond_with(
        self,
        *statuses: int,
        body: bytes | str = b"ok",
        retry_after: str | int | None = None,
        redirect_to: str | None = None,
        delay_s: float = 0.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next requests with ``statuses`` in order; the last one then repeats."""
        extra = dict(headers or {})
        if retry_after is not None:
            extra["Retry-After"] = str(retry_after)
        if redirect_to is not None:
            extra["Location"] = redirect_to
        data = body.encode() if isinstance(body, str) else body
        self.script(*(Response(s, data, extra, delay_s) for s in (statuses or (200,))))

    def script(self, *responses: Response) -> None:
        """Answer the next requests with ``responses`` in order; the last one then repeats."""
        with self._lock:
            self._script = list(responses) or [Response()]

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[RecordedRequest]:
        """Block until ``count`` requests arrived (AssertionError on timeout); return all so far."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.requests) >= count, timeout_s):
                raise AssertionError(f"agent got {len(self.requests)} requests, expected {count}")
            return list(self.requests)

    def _record(self, request: RecordedRequest) -> Response:
        """Store a request and pick the scripted answer for it."""
        with self._lock:
            self.requests.append(request)
            self._lock.notify_all()
            return self._script.pop(0) if len(self._script) > 1 else self._script[0]


class _BurstServer(ThreadingHTTPServer):
    """http.server's threaded server, with a real server's backlog and pre-started workers.

    http.server listens with a backlog of 5: the 6th of a burst of simultaneous deliveries
    had its SYN dropped and retried by the kernel a second later, which showed up as
    lateness that no real agent server would add (uvicorn and gunicorn listen with 2048).
    And it starts a thread per connection in its one accepting thread: ``Thread.start``
    waits for the new thread to run, which behind a burst's hundreds of busy threads took
    ~9 ms each, so 500 deliveries were accepted one after the other over ~4 s
    (bench.lateness, load (c)). Idle workers started with the server take connections
    first; when none is idle, a thread is started as before (a slow or silent answer
    never holds up the next request).
    """

    request_queue_size = 2048
    WORKERS = 64

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connections: queue.SimpleQueue[tuple[Any, Any] | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        for _ in range(self.WORKERS):
            threading.Thread(target=self._work, daemon=True).start()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Hand the connection to an idle worker, else to a new thread."""
        if self._idle.acquire(blocking=False):
            self._connections.put((request, client_address))
        else:
            super().process_request(request, client_address)

    def _work(self) -> None:
        while True:
            self._idle.release()
            taken = self._connections.get()
            if taken is None:
                return
            self.process_request_thread(*taken)  # ThreadingMixIn's: handles, then closes

    def server_close(self) -> None:
        """Close the socket and let the workers go."""
        super().server_close()
        for _ in range(self.WORKERS):
            self._connections.put(None)


def _handler_for(agent: AgentServer) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to ``agent``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self._handle()

        def do_GET(self) -> None:
            self._handle()

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            now = time.time()
            valid = None
            if agent.secret is not None:
                valid = check_signature(agent.secret, self.headers.get("X-AgentOS-Signature"), body, now)
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = agent._record(RecordedRequest(self.command, self.path, headers, body, now, valid))
            if valid is False:
                answer = Response(401, b"bad signature")
            if answer.delay_s and agent._stopping.wait(answer.delay_s):
                return
            self._answer(answer)

        def _answer(self, answer: Response) -> None:
            try:
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                if not any(name.lower() == "content-type" for name in answer.headers):
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test): nothing to answer

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler
