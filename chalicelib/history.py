"""The runs table: one item per occurrence, the arbiter of "exactly once".

Every attempt of an occurrence must first *claim* its run item with a conditional
write; the condition admits exactly one claimant per attempt, so concurrent ticks,
SQS redeliveries and retried invocations cannot start an occurrence twice.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Iterable

from pynamodb.exceptions import PutError, PynamoDBException, QueryError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from .errors import StoreUnavailable
from .models import JobModel, JobStatus, RunModel, RunStatus, Trigger
from .store import decode_cursor, encode_cursor, model_connection

RESPONSE_KEEP_CHARS = 1024
ERROR_KEEP_CHARS = 2048


class Claim(str, Enum):
    """What a claim attempt found."""

    CLAIMED = "claimed"  # this caller owns the attempt: deliver it
    DUPLICATE = "duplicate"  # another caller owns or finished it: do nothing
    JOB_GONE = "job_gone"  # the job is deleted, paused or rescheduled: skip it


@dataclass(frozen=True)
class Occurrence:
    """What a queue message says about one attempt of one occurrence."""

    job_id: str
    run_id: str
    scheduled_ms: int
    trigger: Trigger
    generation: int
    attempt: int


@dataclass(frozen=True)
class Prior:
    """The state a claim found on its run item when it lost."""

    status: str | None
    attempt: int

    @classmethod
    def from_raw(cls, raw: dict[str, Any] | None) -> "Prior | None":
        """Decode a DynamoDB-JSON item (None when there was none)."""
        if not raw:
            return None
        status = raw.get("status", {}).get("S")
        return cls(status=status, attempt=int(raw.get("attempt", {}).get("N", "0")))


def _claimable(model: type[RunModel], attempt: int, now_ms: int) -> Condition:
    # A first attempt finds no item, a queued manual run, or a "skipped" left by a
    # message of an older schedule of the same instant; a later one finds the previous
    # attempt given up (retrying / failed and redriven); a crashed claimant's attempt is
    # taken over once its lease has expired.
    waiting = model.status.is_in(RunStatus.QUEUED.value, RunStatus.RETRYING.value, RunStatus.FAILED.value,
                                 RunStatus.SKIPPED.value)
    stale = (model.status == RunStatus.RUNNING.value) & (model.attempt == attempt) & (model.leaseUntil < now_ms)
    return model.id.does_not_exist() | (waiting & (model.attempt == attempt - 1)) | stale


def _unavailable(action: str, exc: Exception) -> StoreUnavailable:
    return StoreUnavailable(f"runs table unavailable while trying to {action}; retry later")


class RunStore:
    """Claims, finishes and lists runs."""

    def __init__(self, model: type[RunModel] = RunModel, jobs: type[JobModel] = JobModel,
                 ttl_days: int = 30) -> None:
        self.model = model
        self.jobs = jobs
        self.ttl_days = ttl_days

    def _expiry(self, now_ms: int) -> int:
        return now_ms // 1000 + self.ttl_days * 86_400

    def _job_live(self, occ: Occurrence) -> Condition:
        if occ.trigger is Trigger.MANUAL:
            return self.jobs.id.exists()
        # A single-run job that failed is "failed", yet its occurrence redriven from the
        # DLQ must still run once more: same generation means same occurrence.
        live = self.jobs.status.is_in(JobStatus.ACTIVE.value, JobStatus.FAILED.value)
        return live & (self.jobs.generation == occ.generation)

    def claim(self, occ: Occurrence, now_ms: int, lease_ms: int, started_ms: int) -> tuple[Claim, Prior | None]:
        """Atomically check the job is still live and take attempt ``occ.attempt``.

        On a duplicate, also returns what the run item held (read in the same call,
        through ReturnValuesOnConditionCheckFailure), so no extra read is needed.
        """
        # The claimant owns the attempt, so the run item is written whole (a Put, not an
        # Update): nothing of an earlier attempt's item survives but what is rewritten here
        # (an earlier attempt's error, end and answer are not this attempt's).
        run = self.model(occ.job_id, occ.run_id, trigger=occ.trigger.value, scheduledAt=occ.scheduled_ms,
                         status=RunStatus.RUNNING.value, attempt=occ.attempt, generation=occ.generation,
                         startedAt=started_ms, leaseUntil=now_ms + lease_ms, expiresAt=self._expiry(now_ms))
        try:
            with TransactWrite(connection=model_connection(self.model)) as tx:
                tx.condition_check(self.jobs, occ.job_id, condition=self._job_live(occ))
                tx.save(run, condition=_claimable(self.model, occ.attempt, now_ms), return_values="ALL_OLD")
        except TransactWriteError as exc:
            reasons = exc.cancellation_reasons or []
            codes = [r.code if r else None for r in reasons]
            if len(codes) == 2 and codes[1] == "ConditionalCheckFailed":
                return Claim.DUPLICATE, Prior.from_raw(reasons[1].raw_item if reasons[1] else None)
            if len(codes) == 2 and codes[0] == "ConditionalCheckFailed":
                return Claim.JOB_GONE, None
            raise _unavailable("claim a run", exc) from exc
        return Claim.CLAIMED, None

    def skip(self, occ: Occurrence, now_ms: int, reason: str) -> bool:
        """Record that an occurrence of a deleted/paused/rescheduled job started nothing."""
        run = self.model(occ.job_id, occ.run_id, trigger=occ.trigger.value, scheduledAt=occ.scheduled_ms,
                         status=RunStatus.SKIPPED.value, attempt=occ.attempt - 1, generation=occ.generation,
                         finishedAt=now_ms, error=reason, expiresAt=self._expiry(now_ms))
        waiting = self.model.status.is_in(RunStatus.QUEUED.value, RunStatus.RETRYING.value) \
            & (self.model.attempt == occ.attempt - 1)
        try:
            run.save(condition=self.model.id.does_not_exist() | waiting)
            return True
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise _unavailable("record a skipped run", exc) from exc

    def enqueue_manual(self, occ: Occurrence, now_ms: int) -> RunModel:
        """Create the ``queued`` run of a manual trigger (its message is already sent)."""
        run = self.model(occ.job_id, occ.run_id, trigger=occ.trigger.value, scheduledAt=occ.scheduled_ms,
                         status=RunStatus.QUEUED.value, attempt=0, generation=occ.generation,
                         expiresAt=self._expiry(now_ms))
        try:
            run.save(condition=self.model.id.does_not_exist())
        except PutError as exc:
            # A fast executor may have claimed the message first: its run item is the answer.
            taken = self.get(occ.job_id, occ.run_id) \
                if exc.cause_response_code == "ConditionalCheckFailedException" else None
            if taken is None:
                raise _unavailable("queue a manual run", exc) from exc
            return taken
        return run

    def _still_ours(self, occ: Occurrence) -> Condition:
        return (self.model.status == RunStatus.RUNNING.value) & (self.model.attempt == occ.attempt)

    def retrying(self, occ: Occurrence, error: str) -> None:
        """Give up this attempt; the next one (same run id) is already scheduled."""
        actions = [self.model.status.set(RunStatus.RETRYING.value), self.model.error.set(error[:ERROR_KEEP_CHARS]),
                   self.model.leaseUntil.remove()]
        try:
            self.model(occ.job_id, occ.run_id).update(actions=actions, condition=self._still_ours(occ))
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise _unavailable("record a retry", exc) from exc

    def finish(self, occ: Occurrence, status: RunStatus, now_ms: int, error: str | None,
               response: str | None, job_actions: list[Action], job_condition: Condition | None) -> bool:
        """Record the final outcome on the run and the job's statistics in one write.

        If the job is gone or ``job_condition`` fails, the run alone is recorded and
        False is returned (the caller may then record plain statistics).
        """
        run = self.model(occ.job_id, occ.run_id)
        actions = [self.model.status.set(status.value), self.model.finishedAt.set(now_ms),
                   self.model.leaseUntil.remove()]
        actions.append(self.model.error.set(error[:ERROR_KEEP_CHARS]) if error else self.model.error.remove())
        if response is not None:
            actions.append(self.model.response.set(response[:RESPONSE_KEEP_CHARS]))
        if not job_actions:
            self._finish_run_only(run, actions, occ)
            return False
        guard = self.jobs.id.exists() if job_condition is None else self.jobs.id.exists() & job_condition
        try:
            with TransactWrite(connection=model_connection(self.model)) as tx:
                tx.update(run, actions=actions, condition=self._still_ours(occ))
                tx.update(self.jobs(occ.job_id), actions=job_actions, condition=guard)
        except TransactWriteError as exc:
            reasons = [r.code if r else None for r in (exc.cancellation_reasons or [])]
            if reasons[:1] == ["ConditionalCheckFailed"]:
                return True  # another claimant took over this attempt: its outcome wins
            if len(reasons) == 2 and reasons[1] == "ConditionalCheckFailed":
                self._finish_run_only(run, actions, occ)
                return False
            raise _unavailable("record a run outcome", exc) from exc
        return True

    def _finish_run_only(self, run: RunModel, actions: list[Action], occ: Occurrence) -> None:
        try:
            run.update(actions=actions, condition=self._still_ours(occ))
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise _unavailable("record a run outcome", exc) from exc

    def get(self, job_id: str, run_id: str) -> RunModel | None:
        """The run, or None."""
        try:
            return self.model.get(job_id, run_id, consistent_read=True)
        except self.model.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise _unavailable("read a run", exc) from exc

    def list(self, job_id: str, limit: int, cursor: str | None) -> tuple[list[RunModel], str | None]:
        """One page of a job's runs, newest first, and the cursor of the next page."""
        start = decode_cursor(cursor, ["jobId", "id"])
        try:
            pages = self.model.query(job_id, scan_index_forward=False, limit=limit, last_evaluated_key=start)
            runs = list(pages)
        except QueryError as exc:
            raise _unavailable("list runs", exc) from exc
        more = len(runs) == limit and pages.last_evaluated_key is not None
        return runs, encode_cursor(pages.last_evaluated_key) if more else None

    def all(self, job_id: str) -> Iterable[RunModel]:
        """Every stored run of a job (tests and tools)."""
        return self.model.query(job_id)
