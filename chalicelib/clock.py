"""The one clock of agentOS Jobs: everything asks :func:`now`, tests replace it."""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

_source: Callable[[], float] = time.time
_sleeper: Callable[[int], None] | None = None


def now() -> datetime:
    """The current instant, timezone-aware UTC."""
    return datetime.fromtimestamp(_source(), tz=UTC)


def now_ms() -> int:
    """The current instant as epoch milliseconds."""
    return int(_source() * 1000)


def sleep_until(epoch_ms: int) -> None:
    """Wait until the instant ``epoch_ms`` on this clock (a test clock just moves there)."""
    if _sleeper is not None:
        _sleeper(epoch_ms)
        return
    pause = (epoch_ms - now_ms()) / 1000
    if pause > 0:
        time.sleep(pause)


def set_source(source: Callable[[], float] | None, sleeper: Callable[[int], None] | None = None) -> None:
    """Replace the clock with ``source`` (epoch seconds) and ``sleeper`` (jumps to an epoch-ms
    instant); ``None`` restores real time."""
    global _source, _sleeper
    _source = source or time.time
    _sleeper = sleeper


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime."""
    return int(round(moment.timestamp() * 1000))


def from_ms(epoch_ms: int) -> datetime:
    """Aware UTC datetime of epoch milliseconds."""
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


def iso(epoch_ms: float | None) -> str | None:
    """ISO-8601 UTC string ending in ``Z`` (millisecond precision), or None."""
    if epoch_ms is None:
        return None
    text = from_ms(int(epoch_ms)).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")
