"""An occurrence (what a queue message says about one attempt) and what a claim of it found.

Split from :mod:`.runs` (which re-exports every name here): the values the executor, the
reconciler and the API pass around, apart from the table's reads and writes.
"""
from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Any, NamedTuple

from . import budgets, dynamo
from .models import Overlap, RunModel, RunStatus, Trigger


class Claim(StrEnum):
    """What a claim attempt found."""

    CLAIMED = "claimed"  # this caller owns the attempt: deliver it
    DUPLICATE = "duplicate"  # another caller owns or finished it: do nothing
    JOB_GONE = "job_gone"  # the job is deleted, paused or rescheduled: skip it
    BUSY = "busy"  # another run of the job is in progress (overlap skip/queue)
    MISSED = "missed"  # it is claimed past its job's catch-up window: skip it (it never takes the slot)
    EXHAUSTED = "exhausted"  # the job's maxRuns scheduled occurrences have all started
    OVER_BUDGET = "over_budget"  # the job's budget is used up today
    AGENT_SPENT = "agent_spent"  # its agent's budget is used up today (store/blocks.py): skip it
    NEW_DAY = "new_day"  # the job's budget day is over: start the new one, then claim again
    RECLAIM = "reclaim"  # the claim's idea of the job's last usage (its reservation) was stale: claim again


class Occurrence(NamedTuple):
    """What a queue message says about one attempt of one occurrence."""

    job_id: str
    run_id: str
    scheduled_ms: int
    trigger: Trigger
    generation: int
    attempt: int

    def to_json(self) -> str:
        """Compact, deterministic JSON (kept on the job while the occurrence waits)."""
        return json.dumps({"jobId": self.job_id, "runId": self.run_id, "scheduledAt": self.scheduled_ms,
                           "trigger": self.trigger.value, "generation": self.generation, "attempt": self.attempt},
                          separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Occurrence:
        """The inverse of :meth:`to_json`."""
        data = json.loads(text)
        return cls(data["jobId"], data["runId"], int(data["scheduledAt"]), Trigger(data["trigger"]),
                   int(data["generation"]), int(data["attempt"]))

    @classmethod
    def of_run(cls, run: RunModel) -> Occurrence:
        """The current attempt of a stored run."""
        return cls(run.jobId, run.id, int(run.scheduledAt), Trigger(run.trigger), int(run.generation or 1),
                   int(run.attempt or 0))


class Prior(NamedTuple):
    """The state a claim found on its run item when it lost."""

    status: str | None
    attempt: int
    generation: int | None = None
    started_ms: int | None = None
    retry_at_ms: int | None = None
    queue_agent: str | None = None  # the agent whose line the run waits in
    lease_until: int | None = None
    accepted: bool = False
    deadline_ms: int | None = None  # an accepted attempt's deadline (its timeout or heartbeat deadline)
    reserved: budgets.Spend = budgets.Spend()  # what the run's first claim reserved on the job's budget

    def crashed(self, occ: Occurrence, now_ms: int) -> bool:
        """True if this is ``occ``'s own attempt, held by a claimant presumed dead (lease passed)."""
        return self.status == RunStatus.RUNNING.value and self.attempt == occ.attempt and not self.accepted \
            and self.lease_until is not None and self.lease_until < now_ms

    @classmethod
    def from_raw(cls, raw: dict[str, Any] | None) -> Prior | None:
        """Decode a DynamoDB-JSON item (None when there was none)."""
        if not raw:
            return None
        return cls(status=dynamo.text(raw, "status"), attempt=dynamo.number(raw, "attempt") or 0,
                   generation=dynamo.number(raw, "generation"), started_ms=dynamo.number(raw, "startedAt"),
                   retry_at_ms=dynamo.number(raw, "retryAt"), queue_agent=dynamo.text(raw, "queueAgent"),
                   lease_until=dynamo.number(raw, "leaseUntil"), accepted=dynamo.number(raw, "acceptedAt") is not None,
                   deadline_ms=_deadline(raw), reserved=budgets.reserved_of(raw))


def _deadline(raw: dict[str, Any]) -> int | None:
    """When an accepted attempt (as stored) times out: its timeout, or its heartbeat deadline if sooner."""
    deadlines = [d for d in (dynamo.number(raw, "timeoutAt"), dynamo.number(raw, "hbDeadline")) if d is not None]
    return min(deadlines) if deadlines else None


class Slot(NamedTuple):
    """The job's overlap slot as a claim that lost to it found it."""

    active_run: str | None
    active_until: int | None
    waiting: str | None  # JSON of the waiting Occurrence
    overlap: str
    status: str | None = None  # the job's status (None: the job is gone)
    job: dict[str, Any] | None = None  # the whole job item, as returned (a skip learns its streak from it)

    @classmethod
    def from_raw(cls, raw: dict[str, Any] | None) -> Slot:
        """Decode the job item a cancelled claim returned."""
        return cls(dynamo.text(raw, "activeRun"), dynamo.number(raw, "activeUntil"), dynamo.text(raw, "waitingRun"),
                   dynamo.text(raw, "overlap") or Overlap.SKIP.value, dynamo.text(raw, "status"), raw)


_RUN_ID = re.compile(r"^run-\d{13}-([0-9a-f]{1,64})(?:-m[0-9a-f]{8})?$")


def job_of_run(run_id: str) -> str | None:
    """The job id inside a run id (``run-<ms>-<job hex>[-m<tag>]``), or None if it is not one."""
    match = _RUN_ID.match(run_id)
    return f"job-{match.group(1)}" if match else None


def counts_as_run(occ: Occurrence) -> bool:
    """True if claiming ``occ`` starts one of the job's scheduled occurrences (maxRuns counts those)."""
    return occ.trigger is Trigger.SCHEDULE and occ.attempt == 1
