"""Skipped occurrences: a skip for ``overlap``, ``budget`` or ``missed`` joins its job's streak
(:mod:`chalicelib.store.streaks`: one run record per streak); any other skip is recorded alone."""
from __future__ import annotations

from ..clock import now_ms
from ..store.runs import Occurrence, RunStore, Slot
from ..store.streaks import OPENED, REASONS, Streak, Streaks


def reason_of(error: str) -> str | None:
    """The streak reason an error names (``overlap: …``, ``budget: …``, ``missed: …``), or None."""
    head = error.split(":", 1)[0]
    return head if head in REASONS else None


class Skips:
    """Records the skips of unclaimed occurrences (a lost claim's)."""

    def __init__(self, runs: RunStore) -> None:
        self.runs = runs
        self.streaks = Streaks(runs.model, runs.jobs, runs.ttl_days)

    def record(self, occ: Occurrence, error: str, slot: Slot | None) -> bool:
        """Record ``occ`` skipped with ``error``: in its job's streak when the claim returned the job.
        True when this skip began a streak (for a budget: a block begins)."""
        reason = reason_of(error)
        now = now_ms()
        if reason is not None and slot is not None and slot.job is not None:
            done = self.streaks.skip(occ, reason, error, now, Streak.of(slot.job))
            if done is not None:
                return done == OPENED
        self.runs.skip(occ, now, error)
        return False
