"""The runs table: one item per occurrence, the arbiter of "exactly once".

Every attempt of an occurrence must first *claim* its run item with a conditional
write; the condition admits exactly one claimant per attempt, so concurrent ticks,
SQS redeliveries and retried invocations cannot start an occurrence twice.
"""
from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from typing import Any, cast

from pynamodb.exceptions import DeleteError, PutError, PynamoDBException, QueryError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from . import blocks, budgets, dynamo, run_attempts, run_index, streaks
from .events import Event, EventLog
from .models import JobModel, JobStatus, Overlap, RunModel, RunStatus, Trigger
from .occurrences import Claim as Claim
from .occurrences import Occurrence as Occurrence
from .occurrences import Prior as Prior
from .occurrences import Slot as Slot
from .occurrences import counts_as_run as counts_as_run
from .occurrences import job_of_run as job_of_run
from .run_payloads import RunPayload, RunPayloads

WAITING_RECHECK_MS = 60_000  # a queued run is looked at this long after it should have started


def _claimable(model: type[RunModel], occ: Occurrence, now_ms: int, takeover: bool,
               kept: budgets.Spend) -> Condition:
    # A first attempt finds no item, a queued manual (or waiting) run, or a "skipped" left by
    # a message of an older schedule of the same instant; a later one finds the previous
    # attempt given up (retrying / failed and redriven); a crashed claimant's attempt is
    # taken over once its lease has expired (never an accepted one: its agent is working).
    attempt = occ.attempt
    # A run waiting in its agent's line (queueAgent set) is not claimable: it starts when it
    # is granted a slot (which takes it out of the line), never by a copy of its message.
    waiting = model.status.is_in(RunStatus.QUEUED.value, RunStatus.RETRYING.value, RunStatus.FAILED.value,
                                 RunStatus.SKIPPED.value) & model.queueAgent.does_not_exist()
    stale = (model.status == RunStatus.RUNNING.value) & (model.attempt == attempt) & (model.leaseUntil < now_ms) \
        & model.acceptedAt.does_not_exist()
    # A newer generation (the job was resumed or rescheduled onto the same instant) takes over
    # what an older one skipped, still holds before the instant (it has not read the job yet,
    # and will find the new generation when it does), or left behind when it died (lease passed).
    held = (model.status == RunStatus.RUNNING.value) & (model.startedAt > now_ms)
    dead = (model.status == RunStatus.RUNNING.value) & (model.leaseUntil < now_ms) & model.acceptedAt.does_not_exist()
    newer = (model.generation < occ.generation) & ((model.status == RunStatus.SKIPPED.value) | held | dead)
    # ``takeover`` False: a claim that counts and charges the run never takes a crashed attempt
    # over (that attempt was counted already); it fails, and the caller takes over uncharged.
    # The claim's Put rewrites the item whole: it carries the reservation the item holds (``kept``,
    # as believed; a wrong belief fails the claim, which learns it), so a retry, a takeover or a
    # granted start settles what the first claim reserved.
    existing = (waiting & (model.attempt == attempt - 1)) | newer
    if takeover:
        existing |= stale
    return cast(Condition, model.id.does_not_exist() | (existing & budgets.reserved_matches(model, kept)))


# A run is "watched" while it is in progress: the reconciler (reconcile.py) looks at it at ``recAt``.
RECONCILE_SHARDS = 4


def watch(model: type[RunModel], run_id: str, at_ms: int) -> list[Action]:
    """The run-item actions that make the reconciler look at the run at ``at_ms``."""
    return [model.recShard.set(zlib.crc32(run_id.encode()) % RECONCILE_SHARDS), model.recAt.set(at_ms)]


def unwatch(model: type[RunModel]) -> list[Action]:
    """The run-item actions of a run the reconciler need not look at (ended, or in its agent's line)."""
    return [model.recShard.remove(), model.recAt.remove()]


def watched(run: RunModel, at_ms: int) -> None:
    """Set ``recAt`` on a run item about to be written whole (a Put)."""
    run.recShard, run.recAt = zlib.crc32(run.id.encode()) % RECONCILE_SHARDS, at_ms


def _live_statuses(occ: Occurrence) -> tuple[str, ...]:
    """The job statuses in which an attempt of ``occ`` may still start."""
    if occ.attempt > 1:
        return JobStatus.ACTIVE.value, JobStatus.FAILED.value, JobStatus.COMPLETED.value
    return JobStatus.ACTIVE.value, JobStatus.FAILED.value


def late_by(occ: Occurrence, now_ms: int) -> int:
    """How late a claim at ``now_ms`` is, past the occurrence's time (0 for a run asked for: those
    have no catch-up window)."""
    return max(0, now_ms - occ.scheduled_ms) if occ.trigger is Trigger.SCHEDULE else 0


def _exhausted(item: dict[str, Any] | None) -> bool:
    limit = dynamo.number(item, "maxRuns")
    return limit is not None and (dynamo.number(item, "startedRuns") or 0) >= limit


class RunStore:
    """Claims, finishes and lists runs."""

    def __init__(self, model: type[RunModel] = RunModel, jobs: type[JobModel] = JobModel,
                 ttl_days: int = 30, payloads: RunPayloads | None = None,
                 agent_marks: frozenset[str] = frozenset()) -> None:
        self.model = model
        self.agent_marks = agent_marks  # the configured agent budgets (store/blocks.mark): a block by one holds
        self.jobs = jobs
        self.ttl_days = ttl_days
        self.payloads = payloads or RunPayloads()
        self.events = EventLog(ttl_days)  # a run on demand's event (run-requested, replayed) goes with its record
        # What each job's last finished run reported, as last learnt: a budgeted claim reserves it
        # and holds only if the job still says so (a lost claim teaches the new value).
        self.last_usage: dict[str, budgets.Spend] = {}
        self._reserved: dict[str, budgets.Spend] = {}  # run id -> what its claim reserved, until read
        self._held: dict[str, budgets.Spend] = {}  # run id -> what its item is believed to hold already

    def reserved(self, run_id: str) -> budgets.Spend:
        """What this process's claim of ``run_id`` reserved (read once; nothing known: 0)."""
        self._held.pop(run_id, None)
        return self._reserved.pop(run_id, budgets.Spend())

    def _expiry(self, now_ms: int) -> int:
        return now_ms // 1000 + self.ttl_days * 86_400

    def on_demand(self, occ: Occurrence) -> RunPayload | None:
        """What a run on demand (run now with a payload, a replay) is delivered; None: its job's
        payload (every scheduled run, and a plain run now)."""
        return None if occ.trigger is Trigger.SCHEDULE else self.payloads.get(occ.run_id)

    def _carried(self, run: RunModel, occ: Occurrence) -> RunModel:
        """``run`` (about to be written whole) with its payload and replayed run, if it has them:
        every Put of a run item carries them, or a claim would drop what the run is to deliver."""
        kept = self.on_demand(occ)
        if kept is not None:
            run.payload, run.replayOf = kept.payload, kept.replay_of
        return run_index.stamp(run)  # and its place in the recent index (GET /api/runs)

    def _job_live(self, occ: Occurrence) -> Condition:
        if occ.trigger is not Trigger.SCHEDULE:  # a run on demand needs only its job
            return self.jobs.id.exists()
        # A single-run job that failed is "failed", yet its occurrence redriven from the
        # DLQ must still run once more: same generation means same occurrence. An occurrence
        # that started (a retry) finishes even if its job was completed meanwhile (maxRuns, endAt).
        live = self.jobs.status.is_in(*_live_statuses(occ))
        return cast(Condition, live & (self.jobs.generation == occ.generation))

    def _slot_free(self, run_id: str, now_ms: int) -> Condition:
        # The overlap decision, inside the claim's own write: free when the job allows
        # overlap, nothing is in progress, this run holds the slot (a retry, a takeover, a
        # promoted waiter), or the holder's bound has passed (it crashed out of the system).
        jobs = self.jobs
        return cast(Condition, (jobs.overlap == Overlap.ALLOW.value) | jobs.activeRun.does_not_exist()
                    | (jobs.activeRun == run_id) | (jobs.activeUntil < now_ms))

    def _in_time(self, occ: Occurrence, now_ms: int) -> Condition:
        """The claim's condition that a scheduled occurrence is within its job's ``catchupWindowMs``
        (else it is skipped as ``missed`` without taking the job's slot from one that is in time)."""
        window = self.jobs.catchupWindowMs
        return cast(Condition, window.does_not_exist() | (window >= late_by(occ, now_ms)))

    def _job_is_live(self, raw: dict[str, Any] | None, occ: Occurrence) -> bool:
        if not raw:
            return False
        if occ.trigger is not Trigger.SCHEDULE:
            return True
        live = dynamo.text(raw, "status") in _live_statuses(occ)
        return live and dynamo.number(raw, "generation") == occ.generation

    def claim_parts(self, occ: Occurrence, now_ms: int, lease_ms: int, started_ms: int,
                    charge: bool = True) -> tuple[RunModel, list[Action], Condition]:
        """The two writes of a claim: the run item (Put, on :func:`_claimable`) and the job's
        actions and condition (overlap slot, maxRuns count, budget, liveness).

        ``charge`` False: the occurrence was already counted and charged by an earlier claim
        (it then waited for its agent's slot), so only the slot and the attempt are taken."""
        # The claimant owns the attempt, so the run item is written whole (a Put, not an
        # Update): nothing of an earlier attempt's item survives but what is rewritten here.
        run = self.model(occ.job_id, occ.run_id, trigger=occ.trigger.value, scheduledAt=occ.scheduled_ms,
                         status=RunStatus.RUNNING.value, attempt=occ.attempt, generation=occ.generation,
                         startedAt=started_ms, leaseUntil=now_ms + lease_ms, expiresAt=self._expiry(now_ms))
        self._carried(run, occ)
        slot: list[Action] = [self.jobs.activeRun.set(occ.run_id), self.jobs.activeUntil.set(now_ms + lease_ms),
                              streaks.closing(self.jobs, occ),  # a run between skips (store/streaks.py)
                              self.jobs.agentBlockedUntil.remove()]  # and its agent's budget let it through
        held = self._held.get(occ.run_id, budgets.Spend())
        reserve = held
        watched(run, now_ms + lease_ms)
        condition = self._job_live(occ) & self._slot_free(occ.run_id, now_ms)
        if counts_as_run(occ) and charge:  # maxRuns: the claim counts the starts it admits, in its own write
            slot.append(self.jobs.startedRuns.add(1))
            condition &= self.jobs.maxRuns.does_not_exist() | self.jobs.startedRuns.does_not_exist() \
                | (self.jobs.startedRuns < self.jobs.maxRuns)
        blocked = blocks.claim_condition(self.jobs, now_ms, self.agent_marks) if occ.attempt == 1 and charge else None
        if blocked is not None:  # an agent budget spent today refuses the claim, before the job's slot is taken
            condition &= blocked
        if occ.attempt == 1 and charge and late_by(occ, now_ms) > 0:  # past its catch-up window, it must
            condition &= self._in_time(occ, now_ms)  # not take the job's slot, even for a moment
        if occ.attempt == 1 and charge:  # a run is charged once, when it starts (not per attempt)
            reserve = self.last_usage.get(occ.job_id, budgets.Spend())
            spend, within = budgets.claim_terms(self.jobs, now_ms, reserve)
            slot += spend
            condition &= within
        run.reservedTokens, run.reservedCost = (reserve.tokens or None), (reserve.cost or None)
        self._reserved[occ.run_id] = reserve
        return run, slot, condition

    def run_condition(self, occ: Occurrence, now_ms: int, takeover: bool) -> Condition:
        """The claim's condition on the run item (see :func:`_claimable`)."""
        return _claimable(self.model, occ, now_ms, takeover, self._held.get(occ.run_id, budgets.Spend()))

    def claim_write(self, tx: TransactWrite, run: RunModel, occ: Occurrence, now_ms: int, takeover: bool) -> None:
        """Add the claim's run write to ``tx``: an Update that leaves the item as a Put of ``run`` would,
        but keeps the earlier attempts' entries and adds this attempt's (:mod:`.run_attempts`)."""
        actions = run_attempts.put_actions(run) + [run_attempts.started(self.model, occ.attempt, int(run.startedAt))]
        tx.update(self.model(occ.job_id, occ.run_id), actions=actions,
                  condition=self.run_condition(occ, now_ms, takeover), return_values="ALL_OLD")

    def claim(self, occ: Occurrence, now_ms: int, lease_ms: int, started_ms: int,
              charge: bool = True) -> tuple[Claim, Prior | None, Slot | None]:
        """Atomically check the job is live and its overlap slot free, take the slot, and take
        attempt ``occ.attempt`` of the run (one transaction: job Update + run Put).

        A lost claim also returns what it lost to (the run item, or the job's slot), read in the
        same call through ReturnValuesOnConditionCheckFailure, so no extra read is needed.
        """
        run, slot, condition = self.claim_parts(occ, now_ms, lease_ms, started_ms, charge)

        def write() -> None:
            with TransactWrite(connection=dynamo.model_connection(self.model)) as tx:
                self.claim_write(tx, run, occ, now_ms, takeover=not charge)
                tx.update(self.jobs(occ.job_id), actions=slot, condition=condition, return_values="ALL_OLD")
        try:
            dynamo.retry_conflicts(write)
        except TransactWriteError as exc:
            found = dynamo.reasons(exc)  # in the order written: the run, then the job
            lost = self.lost_claim(occ, found[0], found[1], now_ms) if len(found) == 2 else None
            if lost is None:
                raise dynamo.unavailable("runs", "claim a run") from exc
            return lost
        return Claim.CLAIMED, None, None

    def lost_claim(self, occ: Occurrence, run: dynamo.Reason, job: dynamo.Reason,
                   now_ms: int) -> tuple[Claim, Prior | None, Slot | None] | None:
        """What a cancelled claim lost to, from its run's and its job's cancellation reasons
        (None: neither condition failed, the store was unavailable)."""
        self._reserved.pop(occ.run_id, None)
        if run.code == dynamo.CONDITION_FAILED:
            prior = Prior.from_raw(run.item)
            if prior is not None and prior.reserved != self._held.get(occ.run_id, budgets.Spend()):
                self._held[occ.run_id] = prior.reserved  # the item holds a reservation: carry it
                return Claim.RECLAIM, None, None
            return Claim.DUPLICATE, prior, None
        if job.code != dynamo.CONDITION_FAILED:
            return None
        if not self._job_is_live(job.item, occ):
            return Claim.JOB_GONE, None, Slot.from_raw(job.item)
        if counts_as_run(occ) and _exhausted(job.item):
            return Claim.EXHAUSTED, None, None
        # A spent budget first: while it lasts every skip is a budget one (store/parks.py relies on it)
        refused = budgets.refusal(job.item, now_ms) if occ.attempt == 1 else None
        if refused is not None:
            return (Claim.NEW_DAY if refused == "day" else Claim.OVER_BUDGET), None, Slot.from_raw(job.item)
        if occ.attempt == 1 and blocks.agent_blocked(job.item, now_ms, self.agent_marks):
            return Claim.AGENT_SPENT, None, Slot.from_raw(job.item)
        window = dynamo.number(job.item, "catchupWindowMs")
        if occ.attempt == 1 and window is not None and late_by(occ, now_ms) > window:
            return Claim.MISSED, None, Slot.from_raw(job.item)
        if occ.attempt == 1 and budgets.limited(job.item) and self._learnt(occ.job_id, job.item):
            return Claim.RECLAIM, None, None
        return Claim.BUSY, None, Slot.from_raw(job.item or {})

    def _learnt(self, job_id: str, item: dict[str, Any] | None) -> bool:
        """Remember the job's last usage as the item shows it; True if it was not what was believed."""
        last = budgets.last_usage_of(item)
        stale = self.last_usage.get(job_id, budgets.Spend()) != last
        self.last_usage[job_id] = last
        return stale

    def wait(self, occ: Occurrence, slot: Slot, now_ms: int) -> bool:
        """Make ``occ`` the one occurrence waiting for the run in progress (overlap ``queue``):
        the job remembers it and its run is ``queued``. False if the slot changed meanwhile
        (the caller claims again) or another occurrence already waits."""
        job_guard = (self.jobs.activeRun == slot.active_run) & (
            self.jobs.waitingRun.does_not_exist() | (self.jobs.waitingRun == occ.to_json()))
        run = self.model(occ.job_id, occ.run_id, trigger=occ.trigger.value, scheduledAt=occ.scheduled_ms,
                         status=RunStatus.QUEUED.value, attempt=occ.attempt - 1, generation=occ.generation,
                         expiresAt=self._expiry(now_ms))
        self._carried(run, occ)
        watched(run, max(int(slot.active_until or 0), now_ms) + WAITING_RECHECK_MS)
        run_guard = self.model.id.does_not_exist() | (self.model.status == RunStatus.QUEUED.value)

        def write() -> None:
            with TransactWrite(connection=dynamo.model_connection(self.model)) as tx:
                tx.update(self.jobs(occ.job_id), actions=[self.jobs.waitingRun.set(occ.to_json())], condition=job_guard)
                tx.save(run, condition=run_guard)
        return dynamo.committed(write, lambda: dynamo.unavailable("runs", "queue a waiting run"))

    def skip(self, occ: Occurrence, now_ms: int, reason: str, counted: Sequence[Action] = ()) -> bool:
        """Record that an occurrence started nothing (a waiting run keeps its earlier attempts);
        ``counted``: the job's total it counts in (``skipped``), in the same transaction."""
        run = self.model(occ.job_id, occ.run_id, trigger=occ.trigger.value, scheduledAt=occ.scheduled_ms,
                         status=RunStatus.SKIPPED.value, attempt=occ.attempt - 1, generation=occ.generation,
                         finishedAt=now_ms, error=reason, expiresAt=self._expiry(now_ms))
        self._carried(run, occ)
        waiting = self.model.status.is_in(RunStatus.QUEUED.value, RunStatus.RETRYING.value) \
            & (self.model.attempt == occ.attempt - 1)
        condition = self.model.id.does_not_exist() | waiting
        if counted and self._skip_counted(run, condition, counted):
            return True
        try:
            self.model(occ.job_id, occ.run_id).update(actions=run_attempts.put_actions(run), condition=condition)
            return True
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise dynamo.unavailable("runs", "record a skipped run") from exc

    def _skip_counted(self, run: RunModel, condition: Condition, counted: Sequence[Action]) -> bool:
        """The skipped run and its job's count in one transaction; False if that did not write (the
        run is there already, or the job is gone: the caller writes the run alone, or learns it is)."""
        def write() -> None:
            with TransactWrite(connection=dynamo.model_connection(self.model)) as tx:
                tx.update(run, actions=run_attempts.put_actions(run), condition=condition)
                tx.update(self.jobs(run.jobId), actions=list(counted), condition=self.jobs.id.exists())
        try:
            dynamo.retry_conflicts(write)
            return True
        except TransactWriteError as exc:
            if dynamo.CONDITION_FAILED not in {reason.code for reason in dynamo.reasons(exc)}:
                raise dynamo.unavailable("runs", "record a skipped run") from exc
            return False

    def forget(self, occ: Occurrence, now_ms: int) -> bool:
        """Delete the run item of a first attempt that waited and never started, or whose claimant
        died before it could drop it (its lease passed, never accepted), its occurrence being dropped
        (its job was paused, deleted or rescheduled: no claim at its generation can succeed again).
        False if it is not such an item."""
        model = self.model
        waited = (model.status == RunStatus.QUEUED.value) & (model.attempt == occ.attempt - 1)
        died = (model.status == RunStatus.RUNNING.value) & (model.attempt == occ.attempt) \
            & (model.leaseUntil < now_ms) & model.acceptedAt.does_not_exist()
        never_started = (waited | died) & (model.generation == occ.generation)
        try:
            model(occ.job_id, occ.run_id).delete(condition=never_started)
            return True
        except DeleteError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise dynamo.unavailable("runs", "forget a dropped run") from exc

    def keep_payload(self, occ: Occurrence, payload: RunPayload, now_ms: int) -> None:
        """Keep what a run on demand is delivered (before its message is sent: see :mod:`.run_payloads`)."""
        self.payloads.put(occ.run_id, payload, self._expiry(now_ms))

    def enqueue_manual(self, occ: Occurrence, now_ms: int, payload: RunPayload | None = None,
                       event: Event | None = None) -> RunModel:
        """Create the ``queued`` run of a run on demand (its message is already sent); ``payload``:
        what it is delivered, as far as known now (the job's, unless kept with :meth:`keep_payload`);
        ``event``: the request in its job's history, in the same transaction."""
        run = self.model(occ.job_id, occ.run_id, trigger=occ.trigger.value, scheduledAt=occ.scheduled_ms,
                         status=RunStatus.QUEUED.value, attempt=0, generation=occ.generation,
                         expiresAt=self._expiry(now_ms))
        if payload is not None:
            run.payload, run.replayOf = payload.payload, payload.replay_of
        run_index.stamp(run)
        watched(run, now_ms + WAITING_RECHECK_MS)  # its message is sent: the reconciler re-sends a lost one
        if event is not None and self.events.put_with(run, self.model.id.does_not_exist(), occ.job_id, event, now_ms):
            return run
        try:  # (with an event whose write found the run claimed already, this Put fails too: the claim's run)
            run.save(condition=self.model.id.does_not_exist())
        except PutError as exc:
            # A fast executor may have claimed the message first: its run item is the answer.
            taken = self.get(occ.job_id, occ.run_id) \
                if exc.cause_response_code == "ConditionalCheckFailedException" else None
            if taken is None:
                raise dynamo.unavailable("runs", "queue a manual run") from exc
            return taken
        return run

    def get(self, job_id: str, run_id: str) -> RunModel | None:
        """The run, or None."""
        try:
            return self.model.get(job_id, run_id, consistent_read=True)
        except self.model.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise dynamo.unavailable("runs", "read a run") from exc

    def find(self, run_id: str) -> RunModel | None:
        """The run ``run_id`` wherever its job is (the job id is part of every run id), or None."""
        job_id = job_of_run(run_id)
        return self.get(job_id, run_id) if job_id is not None else None

    def list(self, job_id: str, limit: int, cursor: str | None) -> tuple[list[RunModel], str | None]:
        """One page of a job's runs, newest first, and the cursor of the next page."""
        start = dynamo.decode_cursor(cursor, ["jobId", "id"])
        try:
            pages = self.model.query(job_id, scan_index_forward=False, limit=limit, last_evaluated_key=start)
            runs = list(pages)
        except QueryError as exc:
            raise dynamo.unavailable("runs", "list runs") from exc
        more = len(runs) == limit and pages.last_evaluated_key is not None
        return runs, dynamo.encode_cursor(pages.last_evaluated_key) if more else None

    def all(self, job_id: str) -> Iterable[RunModel]:
        """Every stored run of a job (tests and tools)."""
        return self.model.query(job_id)
