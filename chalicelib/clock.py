"""The one clock of agentOS Jobs: everything asks :func:`now`, tests replace it."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Callable

_source: Callable[[], float] = time.time


def now() -> datetime:
    """The current instant, timezone-aware UTC."""
    return datetime.fromtimestamp(_source(), tz=timezone.utc)


def now_ms() -> int:
    """The current instant as epoch milliseconds."""
    return int(_source() * 1000)


def set_source(source: Callable[[], float] | None) -> None:
    """Replace the clock with ``source`` (epoch seconds); ``None`` restores real time."""
    global _source
    _source = source or time.time


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime."""
    return int(round(moment.timestamp() * 1000))


def from_ms(epoch_ms: int) -> datetime:
    """Aware UTC datetime of epoch milliseconds."""
    return datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc)


def iso(epoch_ms: int | None) -> str | None:
    """ISO-8601 UTC string ending in ``Z`` (millisecond precision), or None."""
    if epoch_ms is None:
        return None
    text = from_ms(int(epoch_ms)).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")
