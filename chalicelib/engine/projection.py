"""A job's projection (contract section 11): its start times in the next 24 h, and what they cost.

``runsPerDay`` counts the starts in ``(now, now + 24 h]`` inside the job's bounds (after
``startAt``, up to ``endAt``, no more than the ``maxRuns`` left). An interval job's starts are
counted arithmetically from its anchor (a 1-second interval is one division, not 86,400 steps).
A cron job's are counted field by field over the (at most three) dates of the window: for each
matching date, each matching hour, the matching minutes in the window (a bisection), a few dozen
steps; only a window with a clock change in it (a DST day), or a field that is no plain set (``L``,
``#``), is walked start by start (at most one a minute; the walk stops at
:data:`~chalicelib.defaults.CRON_DAY_CAP`). Counts are cached per expression, zone and minute, so
a page of jobs sharing a schedule counts once. A job that is not ``active`` (paused,
completed, failed) starts nothing: 0. ``tokensPerDay`` and ``costUsdPerDay`` are
``runsPerDay`` times the average of the job's ``recentUsage`` window (null before any report).

The same count is what the quota ``maxRunsPerDay`` adds up, and :func:`shortest_gap_ms` is what
the quota ``minIntervalMs`` checks.
"""
from __future__ import annotations

from bisect import bisect_right
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from ..clock import from_ms, to_ms
from ..defaults import CRON_DAY_CAP, DAY_MS, GAP_SAMPLE
from ..schedules import CronSchedule, IntervalSchedule, OnceSchedule, Schedule, load_schedule
from ..store.models import JobModel, JobStatus
from ..store.recent_usage import average
from .bounds import Bounds, first_within
from .dispatch import schedule_of


def runs_in_day(schedule: Schedule, anchor_ms: int | None, bounds: Bounds, now_ms: int, started: int = 0) -> int:
    """Starts of ``schedule`` in ``(now, now + 24 h]`` inside ``bounds`` (``started``: scheduled
    runs already started, counted against ``maxRuns``); ``anchor_ms``: an interval's first start."""
    low = now_ms if bounds.start_ms is None else max(now_ms, bounds.start_ms - 1)
    high = now_ms + DAY_MS if bounds.end_ms is None else min(now_ms + DAY_MS, bounds.end_ms)
    left = None if bounds.max_runs is None else max(0, bounds.max_runs - started)
    if high <= low or left == 0:
        return 0
    if isinstance(schedule, IntervalSchedule):
        count = _interval_count(schedule.interval_ms, anchor_ms if anchor_ms is not None else low, low, high)
    elif isinstance(schedule, OnceSchedule):
        count = int(low < to_ms(schedule.at) <= high)
    else:
        assert isinstance(schedule, CronSchedule)
        count = _cron_count(schedule.expression, schedule.zone.key, low // 60_000, high // 60_000)
    return count if left is None else min(count, left)


def _interval_count(step: int, anchor: int, low: int, high: int) -> int:
    """How many of ``anchor + k * step`` (k >= 0) fall in ``(low, high]``."""
    first_k = (low - anchor) // step + 1 if low >= anchor else 0
    last_k = (high - anchor) // step
    return max(0, last_k - first_k + 1)


@lru_cache(maxsize=512)
def _cron_count(expression: str, zone: str, low_minute: int, high_minute: int) -> int:
    # Cron starts are whole minutes, so (low, high] and (low minute, high minute] hold the same.
    schedule = load_schedule(expression, None, zone)
    assert isinstance(schedule, CronSchedule)
    low, high = from_ms(low_minute * 60_000).astimezone(ZoneInfo(zone)), \
        from_ms(high_minute * 60_000).astimezone(ZoneInfo(zone))
    sets = schedule.field_sets()
    if sets is not None and low.utcoffset() == high.utcoffset():
        # No clock change in the window: instants and wall times match one to one, so the
        # matching wall times are counted field by field (a few dozen steps, not 1,440).
        return min(CRON_DAY_CAP, _wall_count(sets, schedule.day_or, low.replace(tzinfo=None),
                                             high.replace(tzinfo=None)))
    return _cron_walk(schedule, low_minute, high_minute)


def _cron_walk(schedule: Schedule, low_minute: int, high_minute: int) -> int:
    """Starts in (low minute, high minute] walked one by one (a window with a clock change)."""
    count, moment = 0, schedule.next_after(from_ms(low_minute * 60_000))
    high = high_minute * 60_000 + 59_999
    while moment is not None and to_ms(moment) <= high and count < CRON_DAY_CAP:
        count += 1
        moment = schedule.next_after(moment)
    return count


def _wall_count(sets: list[list[int]], day_or: bool, low: datetime, high: datetime) -> int:
    """Wall times (whole minutes) in (low, high] that the field sets match."""
    minutes, hours, days, months, weekdays = sets
    minute_list, hour_list = minutes or list(range(60)), hours or list(range(24))
    low_off, count, day = low.hour * 60 + low.minute, 0, low.date()
    for offset in range((high.date() - day).days + 1):
        date = day + timedelta(days=offset)
        dom_ok, dow_ok = not days or date.day in days, not weekdays or (date.weekday() + 1) % 7 in weekdays
        if (months and date.month not in months) or not ((dom_ok or dow_ok) if day_or else (dom_ok and dow_ok)):
            continue
        high_off = (high.date() - day).days * 1440 + high.hour * 60 + high.minute
        for hour in hour_list:
            base = offset * 1440 + hour * 60  # minutes from low's midnight
            count += bisect_right(minute_list, high_off - base) - bisect_right(minute_list, low_off - base)
    return count


def job_runs_per_day(job: JobModel, now_ms: int) -> int:
    """A stored job's starts in the next 24 h (0 unless it is active)."""
    if job.status != JobStatus.ACTIVE.value:
        return 0
    try:
        schedule = schedule_of(job)
    except Exception:  # an item edited by hand: its view shows it, with nothing projected
        return 0
    anchor = job.anchorAt if job.anchorAt is not None else job.nextRunAt
    return runs_in_day(schedule, int(anchor) if anchor is not None else None, Bounds.of(job), now_ms,
                       int(job.startedRuns or 0))


def projection(job: JobModel, now_ms: int) -> dict[str, Any]:
    """The API's ``projection`` of a job."""
    runs = job_runs_per_day(job, now_ms)
    mean = average(job.recentUsage)
    return {"runsPerDay": runs,
            "tokensPerDay": None if mean is None else round(runs * mean.tokens, 3),
            "costUsdPerDay": None if mean is None else round(runs * mean.cost, 6)}


def shortest_gap_ms(schedule: Schedule, now: datetime, bounds: Bounds) -> int | None:
    """The shortest gap between two of the next :data:`GAP_SAMPLE` starts of a job armed at
    ``now`` (None: fewer than two starts)."""
    if isinstance(schedule, IntervalSchedule):
        return schedule.interval_ms if _starts_twice(schedule, now, bounds) else None
    times: list[int] = []
    moment = first_within(schedule, now, bounds)
    while moment is not None and len(times) < GAP_SAMPLE:
        if bounds.end_ms is not None and to_ms(moment) > bounds.end_ms:
            break
        times.append(to_ms(moment))
        moment = schedule.next_after(moment)
    if bounds.max_runs is not None:
        times = times[:bounds.max_runs]
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    return min(gaps) if gaps else None


def _starts_twice(schedule: IntervalSchedule, now: datetime, bounds: Bounds) -> bool:
    first = first_within(schedule, now, bounds)
    if first is None or (bounds.max_runs is not None and bounds.max_runs < 2):
        return False
    return bounds.end_ms is None or to_ms(first) + schedule.interval_ms <= bounds.end_ms
