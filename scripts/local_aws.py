"""The embedded AWS of the local stack: moto's server on 127.0.0.1, and the environment
that points boto3 and PynamoDB at it.

Nothing here imports ``chalicelib``: PynamoDB reads the endpoint when the models are
imported, so :func:`point_aws_at` must run before anything else touches the app.
"""
from __future__ import annotations

import errno
import logging
import os
import socket
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("agentos.local.aws")

DEFAULT_AWS_PORT = 4566  # LocalStack's customary port: tools and habits already expect it
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_SESSION_TOKEN": "testing"}
# Service-specific endpoints and profiles would send some calls elsewhere (real AWS included).
_FOREIGN_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS",
                "AWS_ENDPOINT_URL_CLOUDFORMATION", "AWS_ENDPOINT_URL_SSM", "AWS_LAMBDA_FUNCTION_NAME")


def port_is_free(host: str, port: int) -> bool:
    """True if nothing listens on ``host:port`` and we may bind it."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel says is unused right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def choose_aws_port(requested: int | None, host: str = "127.0.0.1") -> int:
    """The requested port, else 4566 when free, else any free port (two stacks can coexist)."""
    if requested:
        return requested
    return DEFAULT_AWS_PORT if port_is_free(host, DEFAULT_AWS_PORT) else free_port(host)


def point_aws_at(endpoint: str, region: str) -> None:
    """Send every AWS call of this process (and its children) to ``endpoint`` with fake keys."""
    for name in _FOREIGN_ENV:
        os.environ.pop(name, None)
    os.environ.update(FAKE_CREDENTIALS)
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    os.environ["AWS_DEFAULT_REGION"] = region
    os.environ["AWS_REGION"] = region


@dataclass
class EmbeddedAws:
    """moto's threaded server: every AWS service on one local port, state in this process."""

    host: str
    port: int
    _server: Any = None

    @property
    def endpoint(self) -> str:
        """The URL to give boto3 as ``AWS_ENDPOINT_URL``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Start serving (returns once the socket listens); OSError if the port is taken."""
        from devtools import moto_atomic, moto_speed

        moto_atomic.install()  # DynamoDB conditional writes must have one winner, as on AWS
        moto_speed.install()  # ReceiveMessage without its O(queue) retention check
        tune_moto_sqs()
        server = _guarded_moto_server()(ip_address=self.host, port=self.port, verbose=False)
        server.start()
        if server.bind_error is not None:
            raise server.bind_error
        self._server = server

    def stop(self) -> None:
        """Stop serving; moto's in-memory state dies with the process (snapshots keep it)."""
        if self._server is not None:
            self._server.stop()
            self._server = None


def _guarded_moto_server() -> type:
    """ThreadedMotoServer whose start() reports a bind failure instead of waiting forever."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from moto.server import ThreadedMotoServer  # heavy import: only when we start
    from werkzeug.serving import make_server

    class KeepAliveHandler(MotoRequestHandler):
        # werkzeug's default HTTP/1.0 closes the connection after every answer, so each
        # AWS call paid a TCP handshake and a new server thread (~1/3 of a GetItem here).
        protocol_version = "HTTP/1.1"

    class GuardedMotoServer(ThreadedMotoServer):
        bind_error: OSError | None = None

        def _server_entry(self) -> None:
            try:
                app = DomainDispatcherApplication(create_backend_app)
                self._server = make_server(self._ip_address, self._port, app, True, request_handler=KeepAliveHandler)
            except (OSError, SystemExit) as exc:  # werkzeug exits when the port is taken
                self.bind_error = OSError(f"cannot listen on {self._ip_address}:{self._port}: {exc!r}")
                self._server_ready_event.set()
                return
            self._server_ready_event.set()
            self._server.serve_forever()

    return GuardedMotoServer


def tune_moto_sqs() -> bool:
    """Make moto's SQS keep up with the engine; no change to what the API answers.

    - A waiting ReceiveMessage sees a delayed message the moment it becomes visible.
      moto re-checks a waiting long poll once a second, so a message whose delay ends
      during the wait comes up to 1 s late, which SQS does not do and which would eat
      the engine's whole one-second budget. The wait now ends when the next message's
      delay or visibility timeout does.
    - Its clock reads ``time.time()``. moto's builds two datetimes per call (~12 us),
      and SendMessage computes every queue attribute, i.e. checks every message's
      visibility: with the engine's 90 s lookahead keeping hundreds of messages
      queued, each send took tens of milliseconds.

    Returns False (and changes nothing) if this moto version is shaped differently.
    """
    import time as _time

    from moto.sqs import models

    if not all(hasattr(models, name) for name in ("unix_time", "unix_time_millis", "Queue")) \
            or not hasattr(models.Queue, "wait_for_messages"):
        log.warning("moto's SQS has changed shape: left as it is (slower, long polls 1 s coarse)")
        return False
    slow_time, slow_millis = models.unix_time, models.unix_time_millis
    models.unix_time = lambda dt=None: _time.time() if dt is None else slow_time(dt)
    models.unix_time_millis = lambda dt=None: _time.time() * 1000.0 if dt is None else slow_millis(dt)
    models.Queue.wait_for_messages = _wait_for_next_visible
    return True


def _wait_for_next_visible(self: Any, timeout: float) -> None:
    """moto Queue.wait_for_messages, waking when the next message becomes visible."""
    import time as _time

    with self._messages_lock:
        now = _time.time() * 1000.0
        ends = [max(m.visible_at, m.delayed_until) for m in self._messages]
        soonest = min((end for end in ends if end > now), default=None)
        if soonest is not None:
            timeout = min(timeout, (soonest - now) / 1000 + 0.002)
        self._messages_lock.wait_for(lambda: self.messages, timeout=timeout)
