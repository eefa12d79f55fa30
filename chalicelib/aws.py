"""The AWS session: one botocore session per process, shared by PynamoDB and every client.

PynamoDB builds one botocore session per connection and per thread, and ``boto3.client``
uses boto3's default session: each session loads and parses the service models and the
endpoint rules again (~50-100 ms per session on a cold start). Here the process has one
session; PynamoDB takes it (:func:`share_with_pynamodb`) and the SQS and SSM clients come
from it (:func:`client`), so a model is parsed once and boto3 itself is never imported.
"""
from __future__ import annotations

import os
import threading
from functools import wraps
from typing import Any

import botocore.session
from botocore.config import Config

CONNECTIONS_VAR = "AGENTOS_AWS_CONNECTIONS"

_session: botocore.session.Session | None = None
_lock = threading.RLock()


def session() -> botocore.session.Session:
    """The process's botocore session, built on first use.

    A botocore session is not thread-safe while it builds clients, so its ``create_client``
    is serialized (clients themselves are thread-safe and are built once per connection)."""
    global _session
    with _lock:
        if _session is None:
            built = botocore.session.get_session()
            create = built.create_client

            @wraps(create)
            def create_client(*args: Any, **kwargs: Any) -> Any:
                with _lock:
                    return create(*args, **kwargs)

            built.create_client = create_client
            _session = built
        return _session


def max_connections() -> int:
    """HTTP connections each client keeps open (``AGENTOS_AWS_CONNECTIONS``; botocore's 10).

    A Lambda works one batch at a time, at most ten calls at once. The local stack runs up to
    128 invocations in one process: there, a call beyond the pool opened a TCP connection of its
    own (and the embedded AWS a thread for it) and closed it after one answer."""
    return int(os.environ.get(CONNECTIONS_VAR) or 10)


def client(service: str) -> Any:
    """A low-level client of ``service`` (``sqs``, ``ssm``) from the shared session."""
    return session().create_client(service, config=Config(max_pool_connections=max_connections()))


def share_with_pynamodb() -> None:
    """Make PynamoDB's connections use the shared session instead of one of their own each."""
    import pynamodb.connection.base as base

    base.get_session = session
