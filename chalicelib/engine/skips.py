"""Skipped occurrences: a skip of a scheduled occurrence for ``overlap``, ``budget`` or ``missed``
joins its job's streak (:mod:`chalicelib.store.streaks`: one run record per streak), whether its
claim was lost (:class:`Skips`) or held (:func:`fold`, written by the run's final write); any other
skip is recorded alone."""
from __future__ import annotations

from pynamodb.expressions.update import Action

from ..clock import now_ms
from ..store.models import JobModel, Trigger
from ..store.runs import Occurrence, RunStore, Slot
from ..store.streaks import OPENED, REASONS, Fold, Streak, Streaks, total


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


class Skips:
    """Records the skips of unclaimed occurrences (a lost claim's)."""

    def __init__(self, runs: RunStore) -> None:
        self.runs = runs
        self.streaks = Streaks(runs.model, runs.jobs, runs.ttl_days)

    def record(self, occ: Occurrence, error: str, slot: Slot | None) -> bool:
        """Record ``occ`` skipped with ``error``: in its job's streak when the claim returned the job.
        True when this skip began a streak (for a budget: a block begins)."""
        reason = streaked(occ, error)
        now = now_ms()
        if reason is not None and slot is not None and slot.job is not None:
            done = self.streaks.skip(occ, reason, error, now, Streak.of(slot.job))
            if done is not None:
                return done == OPENED
        self.runs.skip(occ, now, error)
        return False
