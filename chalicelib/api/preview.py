"""Schedule preview: the next start times a job with this timing would have.

README, "The API", documents the route (``POST /api/schedules/preview``).

The request fields are the create request's own (same pydantic fields, then the same
:func:`~chalicelib.schedules.parse_schedule`), so a preview refuses exactly what a create
refuses, with the same 400 message. The schedule bounds a create takes (``startAt``, ``endAt``,
``maxRuns``) are honoured too: the list is what the job would really start. The console's form
calls it while the user types.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field

from ..clock import iso, to_ms
from ..clock import now as clock_now
from ..engine.bounds import Bounds, first_within, parse_bounds
from ..engine.projection import runs_in_day
from ..schedules import Schedule, parse_schedule, validate_timezone
from .schemas import (
    ONE_TIMING,
    EndAtField,
    IntervalField,
    MaxRunsField,
    ScheduleField,
    ScheduleText,
    StartAtField,
    StrictBody,
    timezone_field,
    validate,
)

MAX_COUNT = 50
DEFAULT_COUNT = 5


class SchedulePreview(StrictBody):
    """Body of ``POST /api/schedules/preview``: a job's timing fields and how many times to list."""

    model_config = ConfigDict(json_schema_extra=ONE_TIMING)  # documented like a create's

    schedule: ScheduleText | None = ScheduleField
    interval: int | None = IntervalField
    timezone: str = timezone_field("UTC")
    count: int = Field(DEFAULT_COUNT, ge=1, le=MAX_COUNT, description="How many start times to list (1-50).")
    startAt: str | None = StartAtField
    endAt: str | None = EndAtField
    maxRuns: int | None = MaxRunsField


def next_times(schedule: Schedule, start: datetime, count: int, bounds: Bounds | None = None) -> list[datetime]:
    """Up to ``count`` occurrences of ``schedule`` for a job created at ``start``, inside ``bounds``."""
    bounds = bounds or Bounds()
    limit = min(count, bounds.max_runs) if bounds.max_runs is not None else count
    times: list[datetime] = []
    moment = first_within(schedule, start, bounds)
    while moment is not None and len(times) < limit:
        if bounds.end_ms is not None and to_ms(moment) > bounds.end_ms:
            break
        times.append(moment)
        moment = schedule.next_after(moment)
    return times


def preview(body: object, min_interval_ms: int) -> dict[str, Any]:
    """Validate a preview request like a create and answer ``{"next": [ISO, ...], "runsPerDay": n}``
    (``runsPerDay``: its starts in the next 24 h, bounds applied, as a job's ``projection`` counts them)."""
    spec: Any = validate(SchedulePreview, body)
    now = clock_now()
    validate_timezone(spec.timezone)  # first, as a create does: the same field is named
    schedule = parse_schedule(spec.schedule, spec.interval, spec.timezone, now, min_interval_ms)
    given = {k: getattr(spec, k) for k in ("startAt", "endAt", "maxRuns") if k in spec.model_fields_set}
    bounds = parse_bounds(given, Bounds(), spec.timezone, to_ms(now))
    times = next_times(schedule, now, spec.count, bounds)
    first = first_within(schedule, now, bounds)
    runs = runs_in_day(schedule, to_ms(first) if first is not None else None, bounds, to_ms(now))
    return {"next": [str(iso(to_ms(moment))) for moment in times], "runsPerDay": runs}
