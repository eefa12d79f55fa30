"""The job manager behind :mod:`http.server`: no WSGI or ASGI framework needed."""
from __future__ import annotations

import logging
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .jobs import JobManager

log = logging.getLogger("agentos_agent")
MAX_BODY_BYTES = 1024 * 1024  # a delivery is at most the API's payload limit plus a few fields


def handler_class(manager: JobManager) -> type[BaseHTTPRequestHandler]:
    """A request handler class whose POSTs are answered by ``manager.handle``."""

    class DeliveryHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            """One delivery: read it whole, answer what the manager says."""
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY_BYTES:  # a negative length would read to the end of the stream
                self._write(413 if length > 0 else 400, {}, b"bad Content-Length")
                return
            answer = manager.handle(dict(self.headers.items()), self.rfile.read(length))
            self._write(answer.status, answer.headers, answer.body)

        def _write(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s " + format, self.address_string(), *args)

    return DeliveryHandler
