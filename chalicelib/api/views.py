"""How jobs and runs look to API callers (README, The API): ISO times ending in ``Z``."""
from __future__ import annotations

import json
import logging
from typing import Any

from ..clock import from_ms, iso, to_ms
from ..clock import now_ms as current_ms
from ..defaults import DEFAULT_TIMEOUT_MS
from ..engine import parking
from ..engine.bounds import after_end, exhausted
from ..engine.dispatch import schedule_of
from ..engine.projection import projection
from ..schedules import CronSchedule, IntervalSchedule, OnceSchedule
from ..store import blocks, parks, run_attempts, streaks
from ..store.budgets import budget_view, usage_today
from ..store.models import JobModel, JobStatus, Origin, Overlap, RunModel

log = logging.getLogger("agentos.jobs.views")


def upcoming_ms(job: JobModel, now_ms: int) -> int | None:
    """The next occurrence a caller can expect, inside the job's bounds (startAt, endAt, maxRuns)."""
    if exhausted(job):
        return None
    start = int(job.startAt) if job.startAt is not None else None
    following = _upcoming_ms(job, max(now_ms, start - 1) if start is not None else now_ms)
    if start is not None and following is not None and following < start:
        following = None
    return None if following is None or after_end(job, following) else following


def _upcoming_ms(job: JobModel, now_ms: int) -> int | None:
    """The next occurrence a caller can expect, from the schedule (not the dispatch cursor).

    The stored ``nextRunAt`` runs up to the tick's lookahead ahead of the next start,
    so it is not what a user means by "next run".
    """
    if job.status != JobStatus.ACTIVE.value:
        return None
    try:
        schedule = schedule_of(job)
    except Exception:  # an item edited by hand in the console: show it, don't fail the read
        log.warning("job %s has an unreadable schedule", job.id)
        return None
    if isinstance(schedule, IntervalSchedule):
        anchor = int(job.anchorAt if job.anchorAt is not None else job.nextRunAt or now_ms)
        if now_ms <= anchor:
            return anchor
        return anchor - (anchor - now_ms) // schedule.interval_ms * schedule.interval_ms
    if isinstance(schedule, OnceSchedule):
        return to_ms(schedule.at)
    assert isinstance(schedule, CronSchedule)
    following = schedule.next_after(from_ms(now_ms))
    return None if following is None else to_ms(following)


def job_view(job: JobModel, now_ms: int) -> dict[str, Any]:
    """The API representation of a job."""
    return {
        "id": job.id,
        "name": job.name,
        "description": job.description,
        "agentId": job.agentId,
        "schedule": job.schedule,
        "interval": int(job.interval) if job.interval is not None else None,
        "timezone": job.timezone,
        "payload": json.loads(job.payload),
        "retryPolicy": json.loads(job.retryPolicy) if job.retryPolicy else None,
        "status": job.status,
        "nextRunAt": iso(upcoming_ms(job, now_ms)),
        "lastRunAt": iso(job.lastRunAt),
        "lastRunStatus": job.lastRunStatus,
        "runCount": int(job.runCount or 0),
        "failureCount": int(job.failureCount or 0),
        "timeoutMs": int(job.timeoutMs) if job.timeoutMs is not None else DEFAULT_TIMEOUT_MS,
        "heartbeatTimeoutMs": int(job.heartbeatTimeoutMs) if job.heartbeatTimeoutMs is not None else None,
        "overlap": job.overlap or Overlap.SKIP.value,
        "maxConsecutiveFailures": int(job.maxConsecutiveFailures) if job.maxConsecutiveFailures else None,
        "consecutiveFailures": int(job.consecutiveFailures or 0),
        "pausedReason": job.pausedReason,
        "startAt": iso(job.startAt),
        "endAt": iso(job.endAt),
        "maxRuns": int(job.maxRuns) if job.maxRuns is not None else None,
        "catchupWindowMs": int(job.catchupWindowMs) if job.catchupWindowMs is not None else None,
        "budget": budget_view(job),
        "usageToday": usage_today(job, now_ms),
        "skipped": streaks.skipped_view(job, parking.ahead(job, now_ms)),  # since creation (contract section 13)
        "blocked": blocks.view(job, now_ms),
        "expectSuccessWithinMs": int(job.expectSuccessWithinMs) if job.expectSuccessWithinMs is not None else None,
        "state": _json(job.state),  # what its last succeeded run saved (contract section 12)
        "lastSuccessAt": iso(job.lastSuccessAt),
        "origin": Origin.of(job)._asdict(),
        "projection": projection(job, now_ms),
        "createdAt": iso(job.createdAt),
        "updatedAt": iso(job.updatedAt),
    }


def _skips(run: RunModel, job: JobModel | None) -> dict[str, Any]:
    shown = streaks.view(run, job)
    now = current_ms()
    if job is not None and job.streakRun == run.id and parks.parked(job, now):
        # a parked job counted its skips ahead (store/parks.py): only those whose time has come show
        shown = {"skippedCount": shown["skippedCount"] - parking.ahead(job, now),
                 "lastSkippedAt": min(int(shown["lastSkippedAt"] or 0), parking.last_come(job, now) or now)}
    return {"skippedCount": shown["skippedCount"], "lastSkippedAt": iso(shown["lastSkippedAt"])}


def run_view(run: RunModel, job: JobModel | None = None) -> dict[str, Any]:
    """The API representation of a run (``job``: its job, for an open streak's live count)."""
    started, finished = run.startedAt, run.finishedAt
    duration = int(finished - started) if started is not None and finished is not None else None
    return {
        "id": run.id,
        "jobId": run.jobId,
        "trigger": run.trigger,
        "scheduledAt": iso(run.scheduledAt),
        "status": run.status,
        "attempt": int(run.attempt or 0),
        "startedAt": iso(started),
        "finishedAt": iso(finished),
        "durationMs": duration,
        "error": run.error,
        "output": _json(run.output),
        "usage": _json(run.usage),
        "progress": _json(run.progress),
        "timeoutAt": iso(run.timeoutAt),
        "heartbeatAt": iso(run.heartbeatAt),
        "cancelRequested": bool(run.cancelRequested),
        "payload": _json(run.payload),  # what this run was (is to be) delivered; null before runs kept it
        "replayOf": run.replayOf,
        "attempts": run_attempts.view(run.attempts),
        # Why a queued run has not started: its agent's slots (maxConcurrent) are all taken.
        "waitingFor": {"agentId": run.queueAgent, "reason": "maxConcurrent"} if run.queueAgent else None,
        **_skips(run, job),
    }


def _json(text: str | None) -> Any:
    return json.loads(text) if text else None
