"""The AWS session: one botocore session per process, shared by PynamoDB and every client.

PynamoDB builds one botocore session per connection and per thread, and ``boto3.client``
uses boto3's default session: each session loads and parses the service models and the
endpoint rules again (~50-100 ms per session on a cold start). Here the process has one
session; PynamoDB takes it (:func:`share_with_pynamodb`) and the SQS and SSM clients come
from it (:func:`client`), so a model is parsed once and boto3 itself is never imported.
"""
from __future__ import annotations

import threading
from functools import wraps
from typing import Any

import botocore.session

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


def client(service: str) -> Any:
    """A low-level client of ``service`` (``sqs``, ``ssm``) from the shared session."""
    return session().create_client(service)


def share_with_pynamodb() -> None:
    """Make PynamoDB's connections use the shared session instead of one of their own each."""
    import pynamodb.connection.base as base

    base.get_session = session
