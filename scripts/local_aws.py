"""The embedded AWS of the local stack: moto's server on 127.0.0.1 (in a child process,
:mod:`scripts.aws_server`), and the environment that points boto3 and PynamoDB at it.

Nothing here imports ``chalicelib``: PynamoDB reads the endpoint when the models are
imported, so :func:`point_aws_at` must run before anything else touches the app.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import select
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import urlopen

from scripts.aws_server import PEEK_PATH

log = logging.getLogger("agentos.local.aws")

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 60.0  # moto's imports alone take seconds on a busy 2-core machine
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


# HTTP connections each AWS client keeps (chalicelib.store.aws.max_connections): this process runs
# up to local_workers.CONCURRENCY (128) invocations at once, plus the tick's and the API's calls.
LOCAL_CONNECTIONS = 160


def point_aws_at(endpoint: str, region: str) -> None:
    """Send every AWS call of this process (and its children) to ``endpoint`` with fake keys,
    each client keeping a connection per invocation that may run at once."""
    for name in _FOREIGN_ENV:
        os.environ.pop(name, None)
    os.environ.update(FAKE_CREDENTIALS)
    os.environ.setdefault("AGENTOS_AWS_CONNECTIONS", str(LOCAL_CONNECTIONS))
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    os.environ["AWS_DEFAULT_REGION"] = region
    os.environ["AWS_REGION"] = region


@dataclass
class EmbeddedAws:
    """moto's threaded server, every AWS service on one local port, in a child process of its
    own (``python -m scripts.aws_server``): a core for moto, and one for the rest of the stack."""

    host: str
    port: int
    _child: subprocess.Popen[str] | None = None

    @property
    def endpoint(self) -> str:
        """The URL to give boto3 as ``AWS_ENDPOINT_URL``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Start serving (returns once the socket listens); OSError if it cannot."""
        command = [sys.executable, "-m", "scripts.aws_server", "--host", self.host, "--port", str(self.port), "--child"]
        child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        first = _first_line(child, READY_TIMEOUT_S)
        if first != "ready":
            child.kill()
            child.wait()
            raise OSError(first.removeprefix("error ") or f"the embedded AWS exited ({child.returncode})")
        self._child = child

    def stop(self) -> None:
        """Stop serving; moto's in-memory state dies with the child (snapshots keep it)."""
        if self._child is not None:
            self._child.kill()  # it ignores SIGINT/SIGTERM, so a Ctrl-C cannot kill it before the snapshot
            self._child.wait()
            self._child = None


def queue_bodies(endpoint: str, queue_url: str, region: str) -> list[str]:
    """The bodies of every message in a queue of the embedded AWS at ``endpoint``, visible,
    delayed or in flight, untouched (its peek route: SQS has no API for that)."""
    query = urlencode({"QueueUrl": queue_url, "Region": region})
    with urlopen(f"{endpoint}{PEEK_PATH}?{query}", timeout=30) as answer:
        return list(json.load(answer)["bodies"])


def _first_line(child: subprocess.Popen[str], timeout_s: float) -> str:
    """The child's first line on stdout ("" if it exits or stays silent for ``timeout_s``)."""
    assert child.stdout is not None
    ready, _, _ = select.select([child.stdout], [], [], timeout_s)
    return child.stdout.readline().strip() if ready else ""
