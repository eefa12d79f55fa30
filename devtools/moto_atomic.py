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
from typing import Any

_LOCK = threading.RLock()


def patch() -> None:
    """Serialize every moto DynamoDB action (once: :mod:`devtools.moto_patches` sees to it)."""
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action

    @functools.wraps(original)
    def call_action(self: Any) -> Any:
        with _LOCK:
            return original(self)

    DynamoHandler.call_action = call_action
