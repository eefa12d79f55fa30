"""Schedule bounds (guard rails): ``startAt``, ``endAt``, ``maxRuns`` and ``catchupWindowMs``.

No occurrence before ``startAt`` or after ``endAt`` (the job is ``completed`` once ``endAt`` has
passed); once ``maxRuns`` scheduled occurrences have started the job is ``completed`` (the claim
counts them in its own write, so a burst cannot start more); an occurrence that cannot start
within ``catchupWindowMs`` of its time (downtime, an overlap queue, a slow start) is ``skipped``
as ``missed``. A queued or retried run of a job that completed this way still finishes.

A job with no occurrence left before ``endAt`` waits in the due index at its *end entry*: ``nextRunAt``
half a millisecond past ``endAt``. Occurrences are whole milliseconds, so the tick tells the entry
apart by its fraction alone (the due index does not project ``endAt``), finds it in time order, and
completes the job at the first tick after ``endAt`` (:meth:`~chalicelib.engine.dispatch.Dispatcher.dispatch`).
The end entry's helpers live with the due index, in :mod:`chalicelib.store.jobs`.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from ..clock import from_ms, to_ms
from ..errors import ValidationFailed
from ..schedules import IntervalSchedule, Schedule, parse_bound
from ..store.models import JobModel, Trigger
from ..store.occurrences import Occurrence

BOUND_FIELDS = ("startAt", "endAt", "maxRuns", "catchupWindowMs")


class Bounds(NamedTuple):
    """A job's bounds, epoch ms (None: unbounded)."""

    start_ms: int | None = None
    end_ms: int | None = None
    max_runs: int | None = None
    catchup_ms: int | None = None

    @classmethod
    def of(cls, job: JobModel) -> Bounds:
        """The bounds stored on ``job``."""
        def num(value: Any) -> int | None:
            return int(value) if value is not None else None
        return cls(num(job.startAt), num(job.endAt), num(job.maxRuns), num(job.catchupWindowMs))

    def attributes(self) -> dict[str, int | None]:
        """The job attributes that store these bounds."""
        return {"startAt": self.start_ms, "endAt": self.end_ms, "maxRuns": self.max_runs,
                "catchupWindowMs": self.catchup_ms}


def parse_bounds(given: dict[str, Any], current: Bounds, timezone: str, now_ms: int) -> Bounds:
    """Validate the bound fields of a create or PATCH body (absent keys keep ``current``)."""
    def instant(field: str) -> int | None:
        text = given[field]
        return None if text is None else to_ms(parse_bound(field, text, timezone))
    start = instant("startAt") if "startAt" in given else current.start_ms
    end = instant("endAt") if "endAt" in given else current.end_ms
    if "endAt" in given and end is not None and end <= now_ms:
        raise ValidationFailed("endAt", "is in the past")
    if start is not None and end is not None and end <= start:
        raise ValidationFailed("endAt", "must be after startAt")
    max_runs = given["maxRuns"] if "maxRuns" in given else current.max_runs
    catchup = given["catchupWindowMs"] if "catchupWindowMs" in given else current.catchup_ms
    return Bounds(start, end, max_runs, catchup)


def first_within(schedule: Schedule, now: datetime, bounds: Bounds) -> datetime | None:
    """The first occurrence of a job (re)armed at ``now``, inside its bounds."""
    start = from_ms(bounds.start_ms) if bounds.start_ms is not None else None
    if start is not None and start > now:
        # An interval job starts at startAt itself; a cron job at its first match from startAt.
        first = start if isinstance(schedule, IntervalSchedule) else schedule.first_after(
            from_ms(bounds.start_ms - 1))  # type: ignore[operator]
    else:
        first = schedule.first_after(now)
    if first is not None and bounds.end_ms is not None and to_ms(first) > bounds.end_ms:
        return None
    return first


def exhausted(job: JobModel) -> bool:
    """True once ``maxRuns`` scheduled occurrences have started."""
    return job.maxRuns is not None and int(job.startedRuns or 0) >= int(job.maxRuns)


def after_end(job: JobModel, at_ms: int) -> bool:
    """True if an occurrence at ``at_ms`` falls after the job's ``endAt``."""
    return job.endAt is not None and at_ms > int(job.endAt)


def missed(window_ms: int | None, occ: Occurrence, start_ms: int) -> str | None:
    """The skip's error of a scheduled occurrence that could start only at ``start_ms``, past its
    job's catch-up window ``window_ms`` (None: in time, no window, or not a scheduled occurrence)."""
    late = start_ms - occ.scheduled_ms
    if window_ms is None or occ.trigger is not Trigger.SCHEDULE or late <= window_ms:
        return None
    return f"missed: it could start only {late} ms after its time (catchupWindowMs {window_ms})"
