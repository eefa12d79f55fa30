"""Schedule preview: the next start times a job with this timing would have.

README, "The API", documents the route (``POST /api/schedules/preview``).

The request fields are the create request's own (same pydantic fields, then the same
:func:`~chalicelib.schedules.parse_schedule`), so a preview refuses exactly what a create
refuses, with the same 400 message. The console's form calls it while the user types.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field

from .clock import iso, to_ms
from .clock import now as clock_now
from .schedules import Schedule, parse_schedule, validate_timezone
from .schemas import ONE_TIMING, IntervalField, ScheduleField, ScheduleText, _Body, _timezone, validate

MAX_COUNT = 50
DEFAULT_COUNT = 5


class SchedulePreview(_Body):
    """Body of ``POST /api/schedules/preview``: a job's timing fields and how many times to list."""

    model_config = ConfigDict(json_schema_extra=ONE_TIMING)  # documented like a create's

    schedule: ScheduleText | None = ScheduleField
    interval: int | None = IntervalField
    timezone: str = _timezone("UTC")
    count: int = Field(DEFAULT_COUNT, ge=1, le=MAX_COUNT, description="How many start times to list (1-50).")


def next_times(schedule: Schedule, start: datetime, count: int) -> list[datetime]:
    """Up to ``count`` occurrences of ``schedule`` for a job created at ``start``."""
    times: list[datetime] = []
    moment = schedule.first_after(start)
    while moment is not None and len(times) < count:
        times.append(moment)
        moment = schedule.next_after(moment)
    return times


def preview(body: object, min_interval_ms: int) -> dict[str, list[str]]:
    """Validate a preview request like a create and answer ``{"next": [ISO, ...]}``."""
    spec: Any = validate(SchedulePreview, body)
    now = clock_now()
    validate_timezone(spec.timezone)  # first, as a create does: the same field is named
    schedule = parse_schedule(spec.schedule, spec.interval, spec.timezone, now, min_interval_ms)
    return {"next": [str(iso(to_ms(moment))) for moment in next_times(schedule, now, spec.count)]}
