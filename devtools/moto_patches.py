"""Every change agentOS Jobs makes to moto, behind one guarded :func:`install`.

The tests (``tests/conftest.py``), the local stack's embedded AWS (``scripts/aws_server.py``)
and the bench (``bench/env.py``) call :func:`install`; nothing else patches moto.

Two kinds of patch:

* **Fidelity**, always installed, because without them moto answers differently from AWS or
  misses the engine's one-second budget:

  - DynamoDB actions run one at a time (:mod:`devtools.moto_atomic`): moto's conditional
    writes race under threads, DynamoDB's never do.
  - A waiting SQS ``ReceiveMessage`` wakes when the next delayed or in-flight message becomes
    visible; moto re-checks once a second, so a delayed message came up to 1 s late.
  - SQS receives, deletes and visibility changes run one at a time (the waiting of a long poll
    outside that): moto's receive walks the queue's in-flight set while a delete changes it,
    and under the local stack's eight pollers it failed with "Set changed size during
    iteration" (a 500 to the poller, the message left in flight for the visibility timeout).

* **Speed**, turned off with ``AGENTOS_MOTO_SPEED=0``: measured hot spots that change how fast
  moto answers, never what it answers (:mod:`devtools.moto_speed`, HTTP keep-alive included).
  ``tests/test_moto_patches.py`` runs the same DynamoDB and SQS calls with and without them
  and compares the answers.

Each patch reaches into moto's internals, so :func:`install` refuses any moto but the one
they were written and measured against (:data:`MOTO_VERSION`): upgrading moto means
re-reading every patch, then changing the pin here and in requirements-dev.txt.
"""
from __future__ import annotations

import functools
import os
import threading
import time
from importlib.metadata import version
from typing import Any

MOTO_VERSION = "5.2.5"
SPEED_SWITCH = "AGENTOS_MOTO_SPEED"

_installed: list[str] = []


class MotoVersionError(RuntimeError):
    """The installed moto is not the one the patches were written for."""


def check_version(found: str) -> None:
    """Raise :class:`MotoVersionError` unless ``found`` is :data:`MOTO_VERSION`."""
    if found != MOTO_VERSION:
        raise MotoVersionError(
            f"devtools.moto_patches was written for moto {MOTO_VERSION}, found {found}: re-check each patch "
            f"(devtools/moto_atomic.py, devtools/moto_speed.py, devtools/moto_speed_dynamo.py, "
            f"devtools/moto_patches.py) against it, "
            f"then set MOTO_VERSION and the pin in requirements-dev.txt")


def speed_wanted() -> bool:
    """False when ``AGENTOS_MOTO_SPEED`` is ``0`` (or ``false``/``no``/``off``)."""
    return os.environ.get(SPEED_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def install(speed: bool | None = None) -> list[str]:
    """Patch moto once per process; ``speed`` defaults to :func:`speed_wanted`.

    Returns the names of the patches in place. A second call changes nothing (patches
    cannot be taken back: run without them in a fresh process).
    """
    if _installed:
        return list(_installed)
    check_version(version("moto"))
    from devtools import moto_atomic, moto_speed

    moto_atomic.patch()
    _sqs_wakes_on_visibility()
    _sqs_one_change_at_a_time()
    _installed.extend(["dynamodb-serialized", "sqs-long-poll-wakeup", "sqs-serialized"])
    if speed_wanted() if speed is None else speed:
        moto_speed.patch()
        _installed.append("speed")
    return list(_installed)


def _sqs_wakes_on_visibility() -> None:
    """A waiting ReceiveMessage ends when the next message's delay or visibility timeout does."""
    from moto.sqs import models

    models.Queue.wait_for_messages = _wait_for_next_visible


def _sqs_one_change_at_a_time() -> None:
    """SQSBackend's receive, delete and visibility change under one lock; a long poll waits outside it."""
    from moto.sqs.models import SQSBackend

    lock = threading.RLock()  # the batch calls call the single ones
    receive = SQSBackend.receive_message

    def receive_message(self: Any, queue_name: str, count: int, wait_seconds_timeout: int,
                        *args: Any, **kwargs: Any) -> Any:
        deadline = time.time() + wait_seconds_timeout
        while True:
            with lock:  # one pass over the queue (moto's own loop with no wait)
                found = receive(self, queue_name, count, 0, *args, **kwargs)
            left = deadline - time.time()
            if found or left <= 0:
                return found
            self.get_queue(queue_name).wait_for_messages(min(left, 1))  # as moto's loop: then look again

    SQSBackend.receive_message = receive_message
    for name in ("delete_message", "delete_message_batch", "change_message_visibility",
                 "change_message_visibility_batch"):
        setattr(SQSBackend, name, _under(lock, getattr(SQSBackend, name)))


def _under(lock: Any, method: Any) -> Any:
    @functools.wraps(method)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return method(*args, **kwargs)
    return locked


def _wait_for_next_visible(self: Any, timeout: float) -> None:
    """moto's Queue.wait_for_messages, waking when the next message becomes visible."""
    with self._messages_lock:
        now = time.time() * 1000.0
        ends = [max(m.visible_at, m.delayed_until) for m in self._messages]
        soonest = min((end for end in ends if end > now), default=None)
        if soonest is not None:
            timeout = min(timeout, (soonest - now) / 1000 + 0.002)
        self._messages_lock.wait_for(lambda: self.messages, timeout=timeout)
