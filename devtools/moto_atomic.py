"""Make moto's DynamoDB linearizable, as DynamoDB itself is.

moto evaluates a condition and applies the write without a lock, so two threads
can both pass ``attribute_not_exists`` on one key (measured: 2-3 winners out of 8
in 4 of 20 trials). Real DynamoDB never does that, and the scheduler's
exactly-once guarantee rests on it. Serializing moto's DynamoDB actions (one at a
time, as the ~110 calls/s of the moto server already are in practice) makes the
local stack and the tests behave like the real service.

Installed by :func:`devtools.moto_patches.install` (never directly: it checks moto's version).
"""
from __future__ import annotations

import functools
import threading
from collections import deque
from typing import Any


class FifoLock:
    """A re-entrant lock that admits waiting threads in the order they came.

    ``threading.RLock`` lets any waiter win, so under load a call that arrived last can overtake
    hundreds queued before it; a service answers its calls roughly in the order they arrive, and
    the local stack's figures should not depend on the interpreter's thread switching. Each
    waiter waits on its own event, handed the lock by the thread before it (no thundering herd)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._waiters: deque[tuple[int, threading.Event]] = deque()
        self._owner: int | None = None
        self._depth = 0

    def __enter__(self) -> FifoLock:
        me = threading.get_ident()
        with self._guard:
            if self._owner == me:
                self._depth += 1
                return self
            turn = None
            if self._owner is not None or self._waiters:
                turn = threading.Event()
                self._waiters.append((me, turn))
            else:
                self._owner, self._depth = me, 1
        if turn is not None:
            turn.wait()  # the releasing thread made us the owner before setting it
        return self

    def __exit__(self, *exc: object) -> None:
        with self._guard:
            self._depth -= 1
            if self._depth:
                return
            self._owner = None
            if self._waiters:
                waiter, turn = self._waiters.popleft()
                self._owner, self._depth = waiter, 1
                turn.set()


_LOCK = FifoLock()


def patch() -> None:
    """Serialize every moto DynamoDB action (once: :mod:`devtools.moto_patches` sees to it)."""
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action

    @functools.wraps(original)
    def call_action(self: Any) -> Any:
        with _LOCK:
            return original(self)

    DynamoHandler.call_action = call_action
