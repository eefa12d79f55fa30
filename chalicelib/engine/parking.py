"""When a budget-blocked job parks, until which occurrence, and how many of its skips are counted
ahead (the write is :mod:`chalicelib.store.parks`'s; docs/history.md, "Parked jobs")."""
from __future__ import annotations

from typing import Any

from ..schedules import IntervalSchedule, OnceSchedule, Schedule
from ..store import parks
from ..store.jobs import is_end_entry
from ..store.models import JobModel, JobStatus
from ..store.parks import Park
from .dispatch import next_ms, schedule_of

MIN_SKIPS = 2  # parking replaces that many claims at least, or it is not worth its write
MAX_COUNTED = 200_000  # occurrences walked one by one (a cron job): a budget day holds at most 1,440


def at_or_after(schedule: Schedule, since_ms: int, cutoff_ms: int) -> int | None:
    """The first occurrence at or after ``cutoff_ms``, on the cadence of the one at ``since_ms``."""
    if isinstance(schedule, IntervalSchedule):
        steps = max(0, -(-(cutoff_ms - since_ms) // schedule.interval_ms))  # ceiling division
        return since_ms + steps * schedule.interval_ms
    if isinstance(schedule, OnceSchedule):
        return None
    return next_ms(schedule, cutoff_ms - 1)


def between(schedule: Schedule, first_ms: int, until_ms: int) -> tuple[int, int | None]:
    """How many occurrences lie in ``[first_ms, until_ms)`` (``first_ms`` being one), and the last."""
    if first_ms >= until_ms:
        return 0, None
    if isinstance(schedule, IntervalSchedule):
        count = -(-(until_ms - first_ms) // schedule.interval_ms)
        return count, first_ms + (count - 1) * schedule.interval_ms
    count, last, at = 0, None, first_ms
    while at < until_ms and count < MAX_COUNTED:
        count, last = count + 1, at
        following = next_ms(schedule, at)
        if following is None:
            break
        at = following
    return count, last


def plan(seen: dict[str, Any], streak: str) -> Park | None:
    """The park of a job skipped on its spent budget, from its item as the skip's lost claim
    returned it (no read); None when it is not worth one (or not possible)."""
    job = JobModel.from_raw_data(seen)
    if job.status != JobStatus.ACTIVE.value or job.nextRunAt is None or job.usageDayEnd is None \
            or is_end_entry(job.nextRunAt):
        return None
    since, day_end = int(job.nextRunAt), int(job.usageDayEnd)
    schedule = schedule_of(job)
    until = at_or_after(schedule, since, day_end) if since < day_end else None
    if until is None or (job.endAt is not None and until > int(job.endAt)):
        return None  # already parked, past its end, or a schedule with nothing after the day
    skips, last = between(schedule, since, until)
    return Park(since, until, skips, last, streak) if skips >= MIN_SKIPS and last is not None else None


def ahead(job: JobModel, now_ms: int) -> int:
    """The occurrences the job's park counted whose time has not come (0 when not parked)."""
    if not parks.parked(job, now_ms):
        return 0
    schedule, since, until = schedule_of(job), int(job.parkedSince), int(job.parkedUntil)
    first = since if since > now_ms else at_or_after(schedule, since, now_ms + 1)
    return between(schedule, first, until)[0] if first is not None else 0


def last_come(job: JobModel, now_ms: int) -> int | None:
    """The latest occurrence a parked job has skipped by ``now_ms`` (None: none of the parked ones
    yet, or not parked)."""
    if not parks.parked(job, now_ms) or int(job.parkedSince) > now_ms:
        return None
    schedule, since = schedule_of(job), int(job.parkedSince)
    following = at_or_after(schedule, since, now_ms + 1)
    count, last = between(schedule, since, following) if following is not None else (0, None)
    return last if count else None


def resume_at(job: JobModel, now_ms: int) -> int | None:
    """Where an unparked job is armed again: its first parked occurrence not yet come."""
    since = int(job.parkedSince)
    return since if since > now_ms else at_or_after(schedule_of(job), since, now_ms + 1)
