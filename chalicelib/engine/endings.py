"""How an attempt ends: the :class:`Ending` a run's final write records (and what it does to its
job), the circuit breaker it carries, and what the write found (:class:`Recorded`, :class:`Finished`).
The writes themselves are :mod:`.progress`'s."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from pynamodb.expressions.update import Action

from ..store.budgets import Settlement, Spend
from ..store.events import Event
from ..store.models import RunStatus
from ..store.runs import Occurrence
from ..store.streaks import Fold
from . import continuity


class Recorded(StrEnum):
    """What a write found."""

    DONE = "done"  # written as asked
    CANCELLED = "cancelled"  # the run was asked to stop: it ended ``cancelled`` instead
    LOST = "lost"  # the attempt is no longer the caller's (taken over, timed out, reported)


@dataclass
class Ending:
    """The outcome of one attempt, and what it does to its job."""

    status: RunStatus
    at_ms: int
    error: str | None = None
    output: str | None = None  # JSON text
    usage: str | None = None  # JSON text
    response: str | None = None  # a non-JSON answer's text
    stats: list[Action] = field(default_factory=list)  # other job counters (maxRuns' count given back)
    counted_from: int | None = None  # the run's start: count it on its job (lastRunAt, runCount, ...)
    closing: list[Action] = field(default_factory=list)  # a single-run job's end: only at its generation
    closing_event: Event | None = None  # the closing's entry in the job's history, written with it
    digest: str | None = None  # the completion report that ended it
    breaker: Breaker | None = None  # the job's circuit breaker, as last read
    settlement: Settlement | None = None  # the job's budget: the run's reservation replaced
    agent_slot: str | None = None  # the agent whose concurrency slot this run gives back
    waiting: tuple[str, ...] = ()  # the statuses of a run that waits (queued, retrying) ended by a cancel
    success: continuity.Success | None = None  # a success's lastSuccess and saved state, for its job
    dropped: bool = False  # its occurrence is not a run (engine/drops.py): the item is deleted, not ended
    fold: Fold | None = None  # a claimed skip's place in its job's streak of skips (store/streaks.py)


@dataclass
class Breaker:
    """The job's circuit breaker: failed runs in a row, and how many pause it."""

    limit: int | None
    seen: int  # consecutiveFailures as the finishing write expects to find it
    active: bool = True  # only an active job is paused by the breaker
    tripped: bool = False

    def reason(self, error: str | None) -> str:
        """The pausedReason of a tripped breaker: the count and the last error."""
        return f"paused after {self.seen + 1} consecutive failed runs; last error: {(error or '')[:500]}"


class Finished(NamedTuple):
    """What the final write did."""

    recorded: Recorded
    promoted: Occurrence | None = None  # the waiting occurrence that now holds the job's slot
    tripped: bool = False  # this failure paused the job (circuit breaker)
    freed_agent: str | None = None  # the agent whose slot this write freed (fill its line)
    reserved: Spend | None = None  # what the run's claim had reserved (settled by this write)
