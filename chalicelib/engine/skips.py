"""Skipped occurrences: a skip of a scheduled occurrence for ``overlap``, ``budget`` or ``missed``
joins its job's streak (:mod:`chalicelib.store.streaks`: one run record per streak), whether its
claim was lost (:class:`Skips`) or held (:func:`folded`, written by the run's final write); any other
skip is recorded alone."""
from __future__ import annotations

import logging
from typing import Any, NamedTuple

from pynamodb.expressions.update import Action

from .. import telemetry
from ..clock import iso, now_ms
from ..errors import StoreUnavailable
from ..store import parks
from ..store.models import JobModel, Trigger
from ..store.runs import Occurrence, RunStore, Slot
from ..store.streaks import OPENED, REASONS, Fold, Streak, Streaks, total
from . import parking

log = logging.getLogger("agentos.jobs.skips")


def reason_of(error: str) -> str | None:
    """The streak reason an error names (``overlap: …``, ``budget: …``, ``missed: …``), or None."""
    head = error.split(":", 1)[0]
    return head if head in REASONS else None


def streaked(occ: Occurrence, error: str) -> str | None:
    """The reason of the streak a skip of ``occ`` with ``error`` belongs to; None for a skip that
    is recorded alone: another reason, a retry, or a run asked for (it keeps the id it was given)."""
    return reason_of(error) if occ.trigger is Trigger.SCHEDULE and occ.attempt == 1 else None


def folded(job: JobModel, occ: Occurrence, error: str) -> tuple[Fold | None, list[Action]]:
    """A claimed skip's place in its job's streak, or (None, the job's total counted alone)."""
    reason = streaked(occ, error)
    if reason is not None:
        return Fold(occ, reason, Streak.of_job(job)), []
    counted = reason_of(error)
    return None, [total(JobModel, counted).add(1)] if counted is not None else []


class Skipped(NamedTuple):
    """What recording a skip did."""

    opened: bool  # it began a streak (for a budget: a block begins)
    streak: str | None  # the run id of the streak it is in (None: recorded alone)


class Skips:
    """Records the skips of unclaimed occurrences (a lost claim's)."""

    def __init__(self, runs: RunStore) -> None:
        self.runs = runs
        self.streaks = Streaks(runs.model, runs.jobs, runs.ttl_days)

    def record(self, occ: Occurrence, error: str, slot: Slot | None, spent: bool = False) -> Skipped:
        """Record ``occ`` skipped with ``error``: in its job's streak when the claim returned the job.
        ``spent``: skipped on the job's own spent budget, the job parks if it can (store/parks.py)."""
        reason = streaked(occ, error)
        now = now_ms()
        if reason is not None and slot is not None and slot.job is not None:
            done = self.streaks.skip(occ, reason, error, now, Streak.of(slot.job))
            if done is not None:
                if spent:
                    self._park(occ, slot.job, done[1])
                return Skipped(done[0] == OPENED, done[1])
        counted = reason_of(error)  # a skip asked for (run now): its own record, counted in the totals
        self.runs.skip(occ, now, error, [total(self.runs.jobs, counted).add(1)] if counted is not None else [])
        return Skipped(False, None)

    def _park(self, occ: Occurrence, seen: dict[str, Any], streak: str) -> None:
        planned = parking.plan(seen, streak)
        try:
            done = planned is not None and parks.park(self.runs.jobs, occ.job_id, seen, planned)
        except StoreUnavailable as exc:  # parking saves writes; a later skip parks the job instead
            log.warning("park of %s not done: %s", occ.job_id, exc, extra={"jobId": occ.job_id})
            return
        if done and planned is not None:
            telemetry.count("JobsParked")
            log.info("parked job=%s until %s: %s budget skips counted ahead", occ.job_id, iso(planned.until),
                     planned.skips, extra={"jobId": occ.job_id})
