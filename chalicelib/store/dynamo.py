"""DynamoDB plumbing shared by the stores: the transactions' connection, paging cursors, the
"table unavailable" error, cancellation reasons and conflict retries.

A transaction that DynamoDB cancels with ``TransactionConflict`` wrote nothing: another
transaction was touching one of its items at that moment. botocore does not retry it, and it
is not an outage: jobs that run every second conflict in normal operation (every claim writes
the job item that every finish updates). Writes whose conditions make them idempotent are
simply tried again after a short jittered pause.
"""
from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, NamedTuple, TypeVar, cast

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.models import Model

from ..errors import StoreUnavailable, ValidationFailed

T = TypeVar("T")
CONFLICT = "TransactionConflict"
CONDITION_FAILED = "ConditionalCheckFailed"
CONFLICT_TRIES = 5
_BASE_PAUSE_S = 0.01


@cache
def connection(region: str, host: str | None) -> Connection:
    """One low-level PynamoDB connection per endpoint, built on first use (for transactions)."""
    return Connection(region=region, host=host)


def model_connection(model: type[Model]) -> Connection:
    """The connection of ``model``'s table, for its transactions: the same client its own
    reads and writes use (a client of its own would be one more to build on a cold start)."""
    return model._get_connection().connection


def unavailable(table: str, action: str) -> StoreUnavailable:
    """The 503 for a DynamoDB call on ``table`` ("jobs", "runs") that failed for want of the table."""
    return StoreUnavailable(f"{table} table unavailable while trying to {action}; retry later")


def encode_cursor(key: dict[str, Any] | None) -> str | None:
    """An opaque paging cursor from a DynamoDB LastEvaluatedKey."""
    if not key:
        return None
    raw = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, expected_keys: Sequence[str]) -> dict[str, Any] | None:
    """The LastEvaluatedKey inside ``cursor``; a forged or damaged cursor is a 400."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
        valid = isinstance(key, dict) and sorted(key) == sorted(expected_keys)
        valid = valid and all(isinstance(v, dict) and len(v) == 1 for v in key.values())
    except (ValueError, TypeError):
        valid = False
    if not valid:
        raise ValidationFailed("cursor", "is not a cursor this API returned")
    return cast(dict[str, Any], key)


class Reason(NamedTuple):
    """One item's cancellation reason: its code and, when asked for, the item as it was."""

    code: str | None
    item: dict[str, Any] | None


def reasons(exc: TransactWriteError) -> list[Reason]:
    """The per-item cancellation reasons of a failed transaction (in request order)."""
    return [Reason(r.code if r else None, (r.raw_item if r else None) or None)
            for r in (exc.cancellation_reasons or [])]


def codes(exc: TransactWriteError) -> list[str | None]:
    """Only the codes of :func:`reasons`."""
    return [r.code for r in reasons(exc)]


def is_conflict(exc: TransactWriteError) -> bool:
    """True if the transaction lost only to concurrent writes (no condition failed)."""
    found = codes(exc)
    return CONFLICT in found and CONDITION_FAILED not in found


def retry_conflicts(write: Callable[[], T], tries: int = CONFLICT_TRIES,
                    pause: Callable[[float], None] = time.sleep) -> T:
    """Run ``write``; while it is cancelled by a TransactionConflict only, wait a jittered,
    doubling pause (10 ms, 20 ms, ...) and run it again. The last failure is raised."""
    for attempt in range(tries):
        try:
            return write()
        except TransactWriteError as exc:
            if not is_conflict(exc) or attempt == tries - 1:
                raise
            pause(random.uniform(0.5, 1.0) * _BASE_PAUSE_S * 2 ** attempt)
    raise AssertionError("unreachable")  # the loop returns or raises


def committed(write: Callable[[], None], unavailable: Callable[[], Exception]) -> bool:
    """Run a conditional transaction (conflicts retried): True if it committed, False if a
    condition failed; any other cancellation raises ``unavailable()``."""
    try:
        retry_conflicts(write)
        return True
    except TransactWriteError as exc:
        if CONDITION_FAILED in codes(exc):
            return False
        raise unavailable() from exc


def number(item: dict[str, Any] | None, name: str) -> int | None:
    """An integer attribute of a DynamoDB-JSON item, or None."""
    value = (item or {}).get(name, {}).get("N")
    return int(value) if value is not None else None


def text(item: dict[str, Any] | None, name: str) -> str | None:
    """A string attribute of a DynamoDB-JSON item, or None."""
    value = (item or {}).get(name, {}).get("S")
    return str(value) if value is not None else None


def flag(item: dict[str, Any] | None, name: str) -> bool:
    """A boolean attribute of a DynamoDB-JSON item (absent = False)."""
    return bool((item or {}).get(name, {}).get("BOOL", False))
