"""The API of the local stack: ``chalice local``'s own server, in a thread, logging one line
per request.

It is built by Chalice's own ``create_local_server`` (API Gateway emulation, the
thread-local ``current_request`` a threaded server needs); only the request handler is
swapped for one that logs through :mod:`logging` with the status and the duration.
"""
from __future__ import annotations

import functools
import logging
import threading
import time
from typing import Any

from chalice.config import Config
from chalice.local import ChaliceRequestHandler, CustomLocalChalice, LocalDevServer, create_local_server

from devtools.chalice_local import AnyMethod

log = logging.getLogger("agentos.local.http")

API_TIMEOUT_S = 30  # the api_handler function's timeout (.chalice/config.json)


class LoggingRequestHandler(AnyMethod, ChaliceRequestHandler):
    """``chalice local``'s handler, with ``GET /api/jobs -> 200 (12 ms)`` lines; every method reaches
    the app, so ``TRACE`` is a 405 with ``Allow``, not http.server's 501."""

    _started = 0.0

    def parse_request(self) -> bool:
        """Start the clock when a request line arrives."""
        self._started = time.monotonic()
        return super().parse_request()

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        """One line per answered request."""
        took = (time.monotonic() - self._started) * 1000
        log.info("%s %s -> %s (%.0f ms)", self.command, self.path, int(code) if isinstance(code, int) else code, took)

    def log_error(self, format: str, *args: Any) -> None:
        """Malformed requests and the like."""
        log.warning("%s: %s", self.client_address[0], format % args)


def _local_server(app: Any, config: Config, host: str, port: int) -> LocalDevServer:
    """chalice's ``create_local_server``, once per app: it re-parents the app's class, and a second
    call in one process (several servers in one test run) would make that an inheritance cycle."""
    if isinstance(app, CustomLocalChalice):
        return LocalDevServer(app, config, host, port)
    return create_local_server(app, config, host, port)


class ApiServer:
    """The Chalice app served on ``host:port`` by a daemon thread."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        config = Config.create(chalice_stage="dev", app_name="agentos-jobs", lambda_timeout=API_TIMEOUT_S,
                               lambda_memory_size=512)
        self.server: LocalDevServer = _local_server(app, config, host, port)  # binds now
        self.server.server.RequestHandlerClass = functools.partial(
            LoggingRequestHandler, app_object=app, config=config)
        self.thread = threading.Thread(target=self.server.server.serve_forever, args=(0.2,),
                                       name="api", daemon=True)

    def start(self) -> None:
        """Serve requests (LocalDevServer.serve_forever would also print its own banner)."""
        self.thread.start()

    def stop(self) -> None:
        """Stop accepting requests and close the socket."""
        if self.thread.is_alive():
            self.server.shutdown()
        self.server.server.server_close()
