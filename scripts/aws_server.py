"""The embedded AWS's own process: moto's threaded server, tuned, on 127.0.0.1.

    python -m scripts.aws_server --port 4566 [--host 127.0.0.1] [--child]

:class:`scripts.local_aws.EmbeddedAws` starts this as a child process, so moto gets a
core of its own instead of sharing one interpreter lock with the API, the tick and the
executor (measured on the lateness benchmark: a 50-occurrence burst's p99 went from
~970 ms to ~540 ms). The child prints ``ready`` (or ``error <why>``) on stdout once.
With ``--child`` it ignores the terminal's signals (its parent takes the final snapshot
through it first, then kills it) and dies with its parent; without, Ctrl-C stops it.

Besides the AWS APIs it answers ``GET /_agentos/queue-bodies?QueueUrl=…&Region=…``: the
bodies of every message of a queue, visible, delayed or in flight, untouched. SQS has no
API for that, and the local stack's snapshot needs it.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, urlparse

log = logging.getLogger("agentos.local.aws")

PEEK_PATH = "/_agentos/queue-bodies"
_PR_SET_PDEATHSIG = 1


def queue_bodies(queue_url: str, region: str) -> list[str]:
    """The bodies of every message in a queue of this process's moto, untouched."""
    from moto.sqs.models import sqs_backends

    account, name = urlparse(queue_url).path.strip("/").split("/")[-2:]
    queue = sqs_backends[account][region].get_queue(name)
    return [message.body for message in list(queue._messages)]  # copy: receivers mutate it


def with_peek(app: Callable[..., Any]) -> Callable[..., Iterable[bytes]]:
    """``app`` (moto's WSGI application), plus the queue-bodies route."""
    def peek_or_aws(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PEEK_PATH:
            return app(environ, start_response)
        query = parse_qs(environ.get("QUERY_STRING", ""))
        answer: dict[str, Any]
        try:
            answer = {"bodies": queue_bodies(query["QueueUrl"][0], query.get("Region", ["us-east-1"])[0])}
            status = "200 OK"
        except Exception as exc:  # unknown queue, bad URL: say so, never crash the server thread
            answer, status = {"error": f"{type(exc).__name__}: {exc}"}, "404 Not Found"
        body = json.dumps(answer).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return peek_or_aws


def guarded_moto_server() -> type:
    """ThreadedMotoServer with the peek route, reporting a bind failure instead of waiting forever."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from moto.server import ThreadedMotoServer  # heavy import: only when we start
    from werkzeug.serving import make_server

    class GuardedMotoServer(ThreadedMotoServer):
        bind_error: OSError | None = None

        def _server_entry(self) -> None:
            try:
                app = with_peek(DomainDispatcherApplication(create_backend_app))
                self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
            except (OSError, SystemExit) as exc:  # werkzeug exits when the port is taken
                self.bind_error = OSError(f"cannot listen on {self._ip_address}:{self._port}: {exc!r}")
                self._server_ready_event.set()
                return
            self._server_ready_event.set()
            self._server.serve_forever()

    return GuardedMotoServer


def start_server(host: str, port: int) -> Any:
    """moto's server, patched (devtools.moto_patches), listening on ``host:port`` in this process;
    OSError if it cannot."""
    from devtools import moto_patches

    moto_patches.install()  # one winner per conditional write, prompt long polls; speed unless AGENTOS_MOTO_SPEED=0
    server = guarded_moto_server()(ip_address=host, port=port, verbose=False)
    server.start()
    if server.bind_error is not None:
        raise server.bind_error
    return server


def die_with_parent() -> None:
    """Exit when the parent does: the kernel's parent-death signal where there is one (Linux),
    and a watchdog on the parent's pid everywhere (a SIGKILLed parent runs no cleanup)."""
    parent = os.getppid()
    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    """Serve until the parent kills us or dies."""
    parser = argparse.ArgumentParser(prog="python -m scripts.aws_server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--child", action="store_true", help="started by the local stack: live and die with it")
    args = parser.parse_args(argv)
    if args.child:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # the parent saves through us first, then kills us
        die_with_parent()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for name in ("werkzeug", "moto", "botocore"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        start_server(args.host, args.port)
    except OSError as exc:
        print(f"error {exc}", flush=True)
        return 1
    print("ready", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
