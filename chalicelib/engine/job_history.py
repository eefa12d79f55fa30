"""The system's own entries in a job's history (contract section 13): the circuit breaker's pause and
a job's end by its bounds (maxRuns, a single run, endAt). Each is written in the same transaction as
the job change it records (chalicelib/engine/progress.py, chalicelib/store/jobs.py ``complete``).
"""
from __future__ import annotations

from ..store.events import BREAKER, END_AT, MAX_RUNS, Actor, Event, kept
from ..vocab import JobStatus

ACTIVE = JobStatus.ACTIVE.value


def breaker_paused(reason: str) -> Event:
    """The breaker paused the job (``reason``: its pausedReason)."""
    return Event("paused", BREAKER, {"status": [ACTIVE, JobStatus.PAUSED.value], "pausedReason": [None, kept(reason)]},
                 reason)


def ended(actor: Actor, status: str, reason: str) -> Event:
    """The job ended on its own: ``status`` (completed, or failed for a single run that failed)."""
    return Event("completed", actor, {"status": [ACTIVE, status]}, reason)


def max_runs_reached() -> Event:
    """maxRuns started: the job is completed."""
    return ended(MAX_RUNS, JobStatus.COMPLETED.value, "maxRuns reached")


def end_at_passed() -> Event:
    """endAt passed: the job is completed."""
    return ended(END_AT, JobStatus.COMPLETED.value, "endAt passed")


def single_run_ended(status: str) -> Event:
    """A single-run job's run ended: the job is ``status`` (completed or failed)."""
    return ended(MAX_RUNS, status, f"its single run {'succeeded' if status == JobStatus.COMPLETED.value else 'failed'}")
