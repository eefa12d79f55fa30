"""Writes to a run after its claim: accepted, heartbeat, cancel request, retrying, finished.

Every write is conditional on the attempt still being the caller's (status ``running``, same
attempt, same generation), so a late or repeated report, a takeover and a timeout can never
both record an outcome. The final write also frees the job's overlap slot, or hands it to the
occurrence waiting for it, in the same transaction that records the outcome.
"""
from __future__ import annotations

from typing import Any, cast

from pynamodb.exceptions import PynamoDBException, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from .. import clock
from ..config import Config
from ..defaults import ERROR_KEEP_CHARS, TEXT_KEEP_CHARS
from ..errors import StoreUnavailable
from ..store import dynamo, run_attempts, run_index
from ..store.budgets import reserved_matches, reserved_of
from ..store.events import Event
from ..store.models import AgentModel, JobModel, JobStatus, RunModel, RunStatus, agent_item_id
from ..store.runs import Occurrence, RunStore, unwatch, watch
from . import continuity, job_history
from .endings import Ending, Finished, Recorded

DELIVERED_KEPT = 4096  # attempts whose delivered payload waits for their next write, at most
FINISH_TRIES = 6  # each try learns what the job held from the last one's cancellation
HOLD_MAX_MS = 5_000  # a message this early is held in process; an earlier one is re-queued
ACTION_TIMEOUT_MS = 60_000  # the longest an in-process action may run in one attempt
LEASE_SLACK_MS = 30_000  # a claim older than the delivery timeout plus this is presumed dead
NO_HEARTBEAT_DEADLINE_MS = 10**13  # "no heartbeat deadline": later than any attempt's timeoutAt


def claim_lease_ms(config: Config) -> int:
    """How long a claim is honoured before another claimant may take the attempt over: the
    hold, plus the longest synchronous delivery (an agent's HTTP wait or an action), plus slack.
    Every such wait is a total deadline, so a live claimant always finishes inside its lease."""
    slowest = max((a.timeoutMs for a in config.agents.values()), default=0)
    return HOLD_MAX_MS + max(slowest, ACTION_TIMEOUT_MS) + LEASE_SLACK_MS


def _not_cancelling(model: type[RunModel]) -> Condition:
    return cast(Condition, model.cancelRequested.does_not_exist() | (model.cancelRequested == False))  # noqa: E712


class RunProgress:
    """The conditional writes of a claimed run, until it ends."""

    def __init__(self, runs: RunStore, lease_ms: int) -> None:
        """``runs``: the tables it writes (the runs' and the jobs'); ``lease_ms``: a claim's lease."""
        self.model, self.jobs, self.lease_ms = runs.model, runs.jobs, lease_ms
        self.events = runs.events  # the breaker's pause and a job's end are written in the final write
        # The payload each attempt was delivered, until the attempt's next write (accepted,
        # retrying, finished) records it on the run: a scheduled run learns its payload only
        # when it reads its job at the instant, after its claim, and this costs it no extra write.
        self._delivered: dict[tuple[str, int], str] = {}

    def delivering(self, occ: Occurrence, payload: str) -> None:
        """Note the payload (JSON text) attempt ``occ`` is delivered: its next write records it."""
        if len(self._delivered) >= DELIVERED_KEPT:
            self._delivered.clear()  # attempts that died before writing: forgetting costs only the record
        self._delivered[(occ.run_id, occ.attempt)] = payload

    def _payload_actions(self, occ: Occurrence) -> list[Action]:
        payload = self._delivered.get((occ.run_id, occ.attempt))
        return [self.model.payload.set(payload)] if payload is not None else []

    def _written(self, occ: Occurrence) -> None:
        self._delivered.pop((occ.run_id, occ.attempt), None)

    def still_ours(self, occ: Occurrence) -> Condition:
        """The attempt is running and nobody else took it over."""
        model = self.model
        return cast(Condition, (model.status == RunStatus.RUNNING.value) & (model.attempt == occ.attempt)
                    & (model.generation == occ.generation))

    def _update(self, occ: Occurrence, actions: list[Action], condition: Condition, what: str) -> RunModel | None:
        return self._update_run(occ.job_id, occ.run_id, actions, condition, what)

    def _update_run(self, job_id: str, run_id: str, actions: list[Action], condition: Condition,
                    what: str) -> RunModel | None:
        run = self.model(job_id, run_id)
        try:
            run.update(actions=actions, condition=condition)
            return run
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return None
            raise dynamo.unavailable("runs", what) from exc

    def hold_slot(self, occ: Occurrence, until_ms: int) -> None:
        # Extends how long the job's overlap slot is honoured while this run is in progress
        # (an accepted attempt, a wait between retries). Best effort: if it is lost, the slot
        # merely frees early and a crash cannot hold it forever.
        try:
            self.jobs(occ.job_id).update(actions=[self.jobs.activeUntil.set(until_ms)],
                                         condition=self.jobs.activeRun == occ.run_id)
        except PynamoDBException:
            pass

    def accept(self, occ: Occurrence, now_ms: int, timeout_at: int, heartbeat_ms: int | None,
               slack_ms: int) -> bool:
        """The agent answered 202: the attempt stays running, watched by its deadline only."""
        actions: list[Action] = [self.model.acceptedAt.set(now_ms), self.model.heartbeatAt.set(now_ms),
                   self.model.timeoutAt.set(timeout_at), self.model.leaseUntil.remove()]
        actions += [self.model.heartbeatTimeoutMs.set(heartbeat_ms), self.model.hbDeadline.set(now_ms + heartbeat_ms)] \
            if heartbeat_ms else [self.model.heartbeatTimeoutMs.remove(), self.model.hbDeadline.remove()]
        deadline = min(timeout_at, now_ms + heartbeat_ms) if heartbeat_ms else timeout_at
        actions += watch(self.model, occ.run_id, deadline)  # the reconciler times it out should its check be lost
        actions += self._payload_actions(occ)
        if self._update(occ, actions, self.still_ours(occ), "record an accepted run") is None:
            return False
        self._written(occ)
        self.hold_slot(occ, timeout_at + slack_ms)
        return True

    def heartbeat(self, job_id: str, run_id: str, attempt: int, now_ms: int, progress: str | None) -> RunModel | None:
        """Renew attempt ``attempt``'s heartbeat deadline (and keep ``progress``); the run as it now is
        (one write, which returns the item), or None if that attempt is no longer running."""
        model = self.model
        # The heartbeat deadline moves with the heartbeat, in the same write (an attempt without a
        # heartbeat timeout gets one past any timeoutAt: its timeout alone then bounds it).
        actions: list[Action] = [model.heartbeatAt.set(now_ms),
                                 model.hbDeadline.set((model.heartbeatTimeoutMs | NO_HEARTBEAT_DEADLINE_MS) + now_ms)]
        if progress is not None:
            actions.append(model.progress.set(progress))
        # The attempt number alone names it (a callback token carries it; no read needed first).
        condition = (model.status == RunStatus.RUNNING.value) & (model.attempt == attempt) & self.open_at(now_ms)
        return self._update_run(job_id, run_id, actions, condition, "record a heartbeat")

    def open_at(self, now_ms: int) -> Condition:
        """The attempt's deadlines have not passed: after them the attempt is over (only its
        timeout is written from then on), so a late heartbeat or report changes nothing."""
        model = self.model
        return cast(Condition, (model.timeoutAt.does_not_exist() | (model.timeoutAt > now_ms))
                    & (model.hbDeadline.does_not_exist() | (model.hbDeadline > now_ms)))

    def _read(self, occ: Occurrence) -> RunModel | None:
        try:
            return self.model.get(occ.job_id, occ.run_id, consistent_read=True)
        except self.model.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise dynamo.unavailable("runs", "read a run") from exc

    def request_cancel(self, occ: Occurrence) -> bool:
        """Ask a running attempt to stop (it ends ``cancelled`` when it reports or times out)."""
        condition = self.model.status == RunStatus.RUNNING.value
        actions: list[Action] = [self.model.cancelRequested.set(True)]
        return self._update(occ, actions, condition, "cancel a run") is not None

    def retrying(self, occ: Occurrence, error: str, retry_at: int, extra: Condition | None = None,
                 digest: str | None = None, slot_until: int = 0) -> Recorded:
        """Give up this attempt; the next one (same run id) is sent right after, due at ``retry_at``.

        ``slot_until`` is how long the job's overlap slot is already held; it is extended only
        if the next attempt's claim (which renews it) may come later than that."""
        actions: list[Action] = [self.model.status.set(RunStatus.RETRYING.value),
                                 self.model.error.set(error[:ERROR_KEEP_CHARS]),
                   self.model.retryAt.set(retry_at), self.model.leaseUntil.remove(),
                                 *watch(self.model, occ.run_id, retry_at + self.lease_ms),
                                 *run_attempts.ended(self.model, occ.attempt, RunStatus.FAILED, clock.now_ms(), error)]
        if digest is not None:
            actions.append(self.model.reportDigest.set(digest))
        actions += self._payload_actions(occ)
        condition = self.still_ours(occ) & _not_cancelling(self.model)
        if self._update(occ, actions, condition if extra is None else condition & extra, "record a retry"):
            self._written(occ)
            if retry_at + 2 * HOLD_MAX_MS > slot_until:
                self.hold_slot(occ, retry_at + self.lease_ms)
            return Recorded.DONE
        run = self._read(occ)
        ours = run is not None and run.status == RunStatus.RUNNING.value and int(run.attempt) == occ.attempt
        return Recorded.CANCELLED if ours and run is not None and run.cancelRequested else Recorded.LOST

    def _run_actions(self, ending: Ending) -> list[Action]:
        model = self.model
        actions: list[Action] = [model.status.set(ending.status.value), model.finishedAt.set(ending.at_ms),
                                 model.leaseUntil.remove(), *unwatch(model)]
        actions.append(model.error.set(ending.error[:ERROR_KEEP_CHARS]) if ending.error else model.error.remove())
        for attribute, value in ((model.output, ending.output), (model.usage, ending.usage)):
            if value is not None:
                actions.append(attribute.set(value))
        if ending.response is not None:
            actions.append(model.response.set(ending.response[:TEXT_KEEP_CHARS]))
        if ending.digest is not None:
            actions.append(model.reportDigest.set(ending.digest))
        if ending.waiting:  # a run that waited ends where it waited: out of its agent's line
            actions += [model.cancelRequested.set(True), model.queueAgent.remove(), model.queueKey.remove()]
        return actions

    def finish(self, occ: Occurrence, ending: Ending, extra: Condition | None = None) -> Finished:
        """Record the attempt's final outcome on the run, the job's counters and the job's overlap
        slot in one transaction. A run asked to stop ends ``cancelled`` whatever the outcome."""
        plan = _SlotPlan(occ, ending, ending.waiting or (RunStatus.RUNNING.value,))
        for _ in range(FINISH_TRIES):
            try:
                dynamo.retry_conflicts(lambda: self._finish_once(occ, ending, plan, extra))
                self._written(occ)
                tripped = bool(ending.breaker and ending.breaker.tripped and not plan.cancelled)
                return Finished(Recorded.CANCELLED if plan.cancelled else Recorded.DONE, plan.promoted, tripped,
                                ending.agent_slot if plan.agent_holds else None,
                                plan.settlement.reserved if plan.settlement is not None else None)
            except TransactWriteError as exc:
                found = dynamo.reasons(exc)  # [run, job, agent?]; PynamoDB sends a condition check first
                if not plan.job_exists and len(found) >= 2:
                    found[0], found[1] = found[1], found[0]
                codes = [reason.code for reason in found]
                if len(found) < 2 or dynamo.CONDITION_FAILED not in codes:
                    raise dynamo.unavailable("runs", "record a run outcome") from exc
                if plan.failed_at(found, plan.agent_at):
                    plan.agent_holds = False  # the slot was reaped (or never taken): nothing to give back
                if ending.fold is not None and plan.failed_at(found, plan.finalise_at):
                    ending.fold.expired()  # the previous streak's record expired: leave it
                if found[0].code == dynamo.CONDITION_FAILED and not plan.learn_run(found[0].item, ending):
                    return Finished(Recorded.LOST)
                if found[1].code == dynamo.CONDITION_FAILED:
                    plan.learn_job(found[1].item, now_ms=ending.at_ms, lease_ms=self.lease_ms)
                    continuity.learn(ending.success, found[1].item)
                    if ending.fold is not None:
                        ending.fold.learn(found[1].item)
                    if ending.breaker is not None and found[1].item:
                        ending.breaker.seen = dynamo.number(found[1].item, "consecutiveFailures") or 0
                        ending.breaker.limit = dynamo.number(found[1].item, "maxConsecutiveFailures")
                        ending.breaker.active = dynamo.text(found[1].item, "status") == JobStatus.ACTIVE.value
        raise StoreUnavailable("runs table busy while recording a run outcome; retry later")

    def _ours(self, occ: Occurrence, ending: Ending) -> Condition:
        """The run is as the final write expects: this running attempt, or a run that waits."""
        if not ending.waiting:
            return self.still_ours(occ)
        return cast(Condition, self.model.status.is_in(*ending.waiting) & (self.model.attempt == occ.attempt))

    def _finish_once(self, occ: Occurrence, ending: Ending, plan: _SlotPlan, extra: Condition | None) -> None:
        status = RunStatus.CANCELLED if plan.cancelled else ending.status
        run_condition = self._ours(occ, ending) if extra is None else self._ours(occ, ending) & extra
        if plan.settlement is not None:  # it settles exactly what its claim reserved
            run_condition &= reserved_matches(self.model, plan.settlement.reserved)
        fold = ending.fold if plan.job_exists and not plan.cancelled else None  # else recorded alone
        deleted = ending.dropped or (fold is not None and fold.joins())  # no record of its own
        if not plan.cancelled and not ending.waiting and not deleted:
            run_condition &= _not_cancelling(self.model)
        run_actions = self._run_actions(Ending(**{**ending.__dict__, "status": status})) + self._payload_actions(occ)
        run_actions += fold.run_actions(self.model) if fold is not None else []
        if not ending.waiting:  # a run that waits (queued, retrying) has no attempt running to end
            run_actions += run_attempts.ended(self.model, occ.attempt, status, ending.at_ms, ending.error)
        failed_day = run_index.run_day(occ.run_id) if status is RunStatus.FAILED else None
        if failed_day is not None:  # the sparse failed index (store/run_index.py): its one write
            run_actions.append(self.model.failedDay.set(failed_day))
        with TransactWrite(connection=dynamo.model_connection(self.model)) as tx:
            if deleted:  # dropped: the job's generation alone keeps its copies out (engine/drops.py); or joined
                tx.delete(self.model(occ.job_id, occ.run_id), condition=run_condition)
            else:
                tx.update(self.model(occ.job_id, occ.run_id), actions=run_actions, condition=run_condition,
                          return_values="ALL_OLD")
            if plan.job_exists:
                actions, condition = plan.job_write(self.jobs, ending)
                breaker_actions, breaker_condition = _breaker_write(self.jobs, ending, status)
                actions, condition = actions + breaker_actions, condition & breaker_condition
                kept_actions, kept_condition = continuity.job_write(self.jobs, ending.success, status)
                actions, condition = actions + kept_actions, condition & kept_condition
                if fold is not None:
                    fold_actions, fold_condition = fold.job_write(self.jobs)
                    actions, condition = actions + fold_actions, condition & fold_condition
                if not actions:  # nothing to change on the job (a skip of a run that lost its slot):
                    # an update must name something; this one writes what is already there
                    actions = [self.jobs.runCount.set(self.jobs.runCount | 0)]
                tx.update(self.jobs(occ.job_id), actions=actions, condition=condition, return_values="ALL_OLD")
            else:  # the job is gone: the transaction records the run alone
                tx.condition_check(self.jobs, occ.job_id, condition=self.jobs.id.does_not_exist())
            plan.agent_at = plan.finalise_at = None  # the positions of the optional items, for their reasons
            if ending.agent_slot is not None and plan.agent_holds:
                agents = AgentModel
                held = agents.holders[occ.run_id]
                tx.update(agents(agent_item_id(ending.agent_slot)), actions=[held.remove()], condition=held.exists())
                plan.agent_at = 2
            finalised = fold.finalising(self.model) if fold is not None else None
            if finalised is not None:  # a streak opens: the one before it gets its final count
                tx.update(finalised[0], actions=finalised[1], condition=self.model.id.exists())
                plan.finalise_at = 2 if plan.agent_at is None else 3
            if plan.job_exists:  # last: the items above keep their positions in the cancellation reasons
                self.events.add(tx, occ.job_id, None, _history(ending, plan), ending.at_ms)


class _SlotPlan:
    """What the final write expects of the job, corrected by each cancelled try."""

    def __init__(self, occ: Occurrence, ending: Ending, statuses: tuple[str, ...]) -> None:
        self.occ = occ
        self.statuses = statuses  # what the run's status is while the attempt is the caller's
        self.settlement = ending.settlement
        self.agent_holds = ending.agent_slot is not None
        self.job_exists = True
        self.holds_slot = True  # the job's activeRun is this run
        self.waiting: str | None = None  # the JSON of an occurrence waiting for the slot
        self.closing_applies = True  # the job is still at this occurrence's generation
        self.cancelled = False
        self.promoted: Occurrence | None = None
        self.agent_at: int | None = None  # where the agent's slot and a streak's finalising are in the write
        self.finalise_at: int | None = None
        self._until = 0

    @staticmethod
    def failed_at(found: list[dynamo.Reason], position: int | None) -> bool:
        """True if the item at ``position`` of the last write failed its condition."""
        return position is not None and len(found) > position and found[position].code == dynamo.CONDITION_FAILED

    def learn_run(self, item: dict[str, Any] | None, ending: Ending) -> bool:
        """The run condition failed: True if it is because a cancel was requested (retry as such)."""
        ours = item is not None and dynamo.text(item, "status") in self.statuses \
            and dynamo.number(item, "attempt") == self.occ.attempt
        learnt = False
        if ours and self.settlement is not None and reserved_of(item) != self.settlement.reserved:
            self.settlement = self.settlement._replace(reserved=reserved_of(item))
            learnt = True
        if ours and dynamo.flag(item, "cancelRequested") and not self.cancelled:
            self.cancelled = True
            learnt = True
        return learnt

    def learn_job(self, item: dict[str, Any] | None, now_ms: int, lease_ms: int) -> None:
        """The job condition failed: expect exactly what the job held."""
        if not item:
            self.job_exists = False
            return
        self.holds_slot = dynamo.text(item, "activeRun") == self.occ.run_id
        self.waiting = dynamo.text(item, "waitingRun")
        self.closing_applies = dynamo.number(item, "generation") == self.occ.generation
        if self.settlement is not None:
            self.settlement = self.settlement._replace(job_day=dynamo.text(item, "usageDay"))
        self._until = now_ms + lease_ms

    def job_write(self, jobs: type[JobModel], ending: Ending) -> tuple[list[Action], Condition]:
        """The job update of the next try, and the condition that it saw the job right."""
        actions = list(ending.stats) + (list(ending.closing) if self.closing_applies else [])
        if ending.counted_from is not None:  # counted as it ends: a run asked to stop is cancelled
            status = RunStatus.CANCELLED if self.cancelled else ending.status
            actions += [jobs.lastRunAt.set(ending.counted_from), jobs.lastRunStatus.set(status.value),
                        jobs.runCount.add(1)] + ([jobs.failureCount.add(1)] if status is RunStatus.FAILED else [])
        condition = jobs.id.exists()
        if ending.closing:  # a single-run job ends only at the generation that ran it
            same = jobs.generation == self.occ.generation
            condition &= same if self.closing_applies else ~same
        condition &= jobs.waitingRun.does_not_exist() if self.waiting is None else jobs.waitingRun == self.waiting
        if self.settlement is not None:  # a run of an earlier day leaves today's count alone
            settles = self.settlement.job_day == self.settlement.day or self.settlement.opens_day
            condition &= self.settlement.day_condition(jobs)
            actions += self.settlement.actions(jobs, counted=settles)
        if not self.holds_slot:
            if self.waiting is not None and Occurrence.from_json(self.waiting).run_id == self.occ.run_id:
                actions.append(jobs.waitingRun.remove())  # it was the one waiting: nobody waits now
            return actions, condition & ((jobs.activeRun != self.occ.run_id) | jobs.activeRun.does_not_exist())
        condition &= jobs.activeRun == self.occ.run_id
        self.promoted = self._next_waiting()
        if self.promoted is None:
            remove = [jobs.activeRun.remove(), jobs.activeUntil.remove()]
            return actions + remove + ([jobs.waitingRun.remove()] if self.waiting else []), condition
        promote = [jobs.activeRun.set(self.promoted.run_id), jobs.activeUntil.set(self._until),
                   jobs.waitingRun.remove()]
        return actions + promote, condition

    def _next_waiting(self) -> Occurrence | None:
        if self.waiting is None:
            return None
        waiting = Occurrence.from_json(self.waiting)
        return None if waiting.run_id == self.occ.run_id else waiting


def _history(ending: Ending, plan: _SlotPlan) -> Event | None:
    """The job's history entry of this final write, if it changes the job's status: the breaker's
    pause, or the job's end (the closing, where it applies)."""
    if ending.breaker is not None and ending.breaker.tripped and not plan.cancelled:
        return job_history.breaker_paused(ending.breaker.reason(ending.error))
    return ending.closing_event if ending.closing and plan.closing_applies else None


def _breaker_write(jobs: type[JobModel], ending: Ending, status: RunStatus) -> tuple[list[Action], Condition]:
    """The circuit breaker's part of the final write: count a failure in a row (conditionally on
    the count it read, so concurrent finishes cannot both miss the threshold), pause the job in
    the same write when it reaches ``maxConsecutiveFailures``; a success resets the count."""
    breaker = ending.breaker
    if breaker is None or status is RunStatus.CANCELLED:
        return [], jobs.id.exists()
    if status is RunStatus.SUCCEEDED:
        return [jobs.consecutiveFailures.set(0)], jobs.id.exists()
    count = jobs.consecutiveFailures
    seen: Condition = (count == breaker.seen) if breaker.seen else (count.does_not_exist() | (count == 0))
    actions: list[Action] = [count.set(breaker.seen + 1)]
    reached = bool(breaker.limit) and breaker.seen + 1 >= int(breaker.limit or 0)
    breaker.tripped = reached and breaker.active and not ending.closing
    if breaker.tripped:
        actions += [jobs.status.set(JobStatus.PAUSED.value), jobs.pausedReason.set(breaker.reason(ending.error)),
                    jobs.dueShard.remove()]
        seen &= jobs.status == JobStatus.ACTIVE.value  # a user's change meanwhile is learnt, then kept
    return actions, seen
