"""The executor: each SQS message is one attempt of one occurrence, or one deadline check.

A batch of messages (the SQS handler's) is worked per batch by default (:mod:`.batch`): its
attempts are *claimed* on arrival (SQS brings them up to a second early) in **one** transaction
(per attempt: re-check the job is live, take the job's overlap slot, take the attempt), held
until their instant, and their jobs read with **one** BatchGetItem; each then goes on alone
(:meth:`Executor.hold_and_run`). A claim that lost in the batch, a deadline check and a message
too early to hold go the per-message way (:meth:`Executor.run`: one claim, one read each; also
the whole path with ``AGENTOS_EXECUTOR_BATCH=0``, the reference the bench compares with).

Either way, per attempt: claim; hold until the instant; read the job (a delete, pause or
reschedule during the hold still stops it); the agent's gate (:mod:`.agent_limits`); deliver;
then end the attempt through :mod:`.outcomes` (one write for the run, the job's counters and its
slot). An agent that answers 202 *accepted* the work:
the run stays ``running``, the message is done, and a *check* message sent for the
attempt's deadline (re-sent past SQS's 15-minute delay limit, and again after each
heartbeat) times it out unless it reported.

A claim that finds another run in progress records ``skipped`` (overlap ``skip``) or waits
(overlap ``queue``: the finishing run hands it the slot and sends it). Order of effects,
so that a crash at any line leaves a message that finishes the work: "retrying" is written
before the next attempt is sent; the dead letter is sent before the run is marked failed.
"""
from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .. import clock, telemetry
from ..clock import iso, now_ms
from ..config import AgentEndpoint, Config
from ..errors import DeliveryFailed, JobsError
from ..store import blocks, budgets, dynamo
from ..store.jobs import JobStore
from ..store.models import JobModel, Overlap, RunModel, RunStatus, Trigger
from ..store.runs import Claim, Occurrence, Prior, RunStore, Slot, counts_as_run
from ..store.sqs import Kind, Message, OccurrenceQueue, decode
from . import callbacks, continuity, drops, job_history
from .actions import load_plugins, run_action, run_callback
from .agent_limits import Gate, holds_slots
from .answers import result_of
from .bounds import after_end, missed
from .deadlines import attempt_deadline, timeout_ms
from .delivery import AgentAnswer, Delivery, post_to_agent
from .endings import Ending
from .failures import FailureLog
from .liveness import gone_reason, still_live
from .notifications import Notifier, is_notification
from .outcomes import Outcome, Outcomes, backoff_ms, keys
from .progress import ACTION_TIMEOUT_MS, HOLD_MAX_MS, LEASE_SLACK_MS, RunProgress, claim_lease_ms
from .skips import Skips, folded
from .timeouts import Timeouts
from .waiting import AgentWaits

__all__ = ["Executor", "Outcome", "backoff_ms", "attempt_deadline"]
log = logging.getLogger("agentos.jobs.executor")

CLAIM_ROUNDS = 4  # a queued occurrence that keeps finding the slot changed claims again
TAKEOVER_RETRY_MS = 1_000  # how soon a newer generation looks again at an older one's hold


def warm_clients() -> None:
    """Build the DynamoDB clients once, before threads race to build one each on a cold start
    (PynamoDB's connection builds its client unlocked). The SQS client is built, under its lock,
    by the first send: a batch of successful runs sends nothing."""
    from ..store.dynamo import model_connection

    for model in (JobModel, RunModel):
        _ = model._get_connection().connection.client
        _ = model_connection(model).client


def agent_spent_reason(agent_id: str | None) -> str:
    """The ``error`` of an occurrence skipped on its agent's spent budget."""
    return f"budget: agent {agent_id}'s daily budget is used up"


class Executor:
    """Runs occurrences handed over by SQS (the Lambda) or by the local queue loop."""

    def __init__(self, config: Config, jobs: JobStore, runs: RunStore, queue: OccurrenceQueue,
                 failures: FailureLog | None = None, batched: bool = True) -> None:
        self.config = config
        self.batched = batched  # False: the per-message reference path (one claim and one read each)
        self.jobs = jobs
        self.runs = runs
        self.queue = queue
        self.progress = RunProgress(runs, self.lease_ms)
        self.outcomes = Outcomes(config, jobs, self.progress, queue, failures)
        self.notifier: Notifier | None = None  # posts notifications (runtime's shows their run)
        self.failures = self.outcomes.failures
        self.limits = self.outcomes.limits
        self.waits = AgentWaits(self.limits, self.outcomes, self.progress, runs, queue, self.lease_ms)
        self.budgets = budgets.JobBudgets(jobs.model)
        self.skips = Skips(runs)
        self.timeouts = Timeouts(jobs, runs, self.progress, self.outcomes, queue)
        load_plugins()
        warm_clients()

    def handle_batch(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """Run every record in parallel; report the ones to retry (SQS partial batch response)."""
        records = self._without_notifications(records)
        if not records:
            return {"batchItemFailures": []}
        if self.batched:
            from .batch import BatchRun

            return BatchRun(self, records).handle()
        with ThreadPoolExecutor(max_workers=len(records)) as pool:
            done = list(pool.map(self.record_ok, records))
        failed = [r for r, ok in zip(records, done, strict=True) if not ok]
        return {"batchItemFailures": [{"itemIdentifier": r.get("messageId")} for r in failed]}

    def _without_notifications(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # Notifications share the jobs queue: each is posted here and never failed back to SQS
        # (its retries are its own delayed copies), so it never holds up the batch's runs.
        notes = [r for r in records if is_notification(r)]
        for note in notes:
            (self.notifier or self.outcomes.notifier).deliver_record(note)
        return [r for r in records if r not in notes] if notes else records

    def record_ok(self, record: dict[str, Any]) -> bool:
        """Run one SQS record; False if it is to be retried (the batched path calls it too)."""
        try:
            self.run(decode(record["body"]))
            return True
        except Exception as exc:  # the message stays queued; SQS retries it, then the DLQ takes it
            log.warning("record %s not done: %s: %s", record.get("messageId"), type(exc).__name__, exc)
            return False

    def run(self, message: Message) -> Outcome:
        """Take one message from arrival to recorded outcome."""
        if message.not_before_ms - now_ms() > HOLD_MAX_MS:
            self.queue.send_one(message, now_ms())  # too early (long backoff, a far deadline): back in the queue
            return Outcome.REQUEUED
        if message.kind is Kind.CHECK:
            return self.timeouts.check(message.occurrence, message.not_before_ms)
        if message.kind is Kind.WAKE:
            return self.waits.wake(message.occurrence, message.not_before_ms)
        return self.claim_and_run(message)

    @property
    def lease_ms(self) -> int:
        """How long a claim is honoured before another claimant may take the attempt over."""
        return claim_lease_ms(self.config)

    def claim_and_run(self, message: Message, lost: tuple[Claim, Prior | None, Slot | None] | None = None) -> Outcome:
        """Claim and run one attempt; ``lost`` is what a batched claim of it lost to (its first round,
        :mod:`.batch`)."""
        occ, wake = message.occurrence, message.not_before_ms
        for _ in range(CLAIM_ROUNDS):
            claimed_at = now_ms()
            # A granted waiting run was counted and charged already; so was a crashed attempt.
            charge = message.kind is not Kind.ADMITTED
            claim, prior, slot = lost or self.runs.claim(occ, claimed_at, self.lease_ms, max(claimed_at, wake),
                                                         charge)
            lost = None
            if claim is Claim.DUPLICATE and charge and prior is not None and prior.crashed(occ, claimed_at):
                claim, prior, slot = self.runs.claim(occ, claimed_at, self.lease_ms, max(claimed_at, wake), False)
            if claim is Claim.DUPLICATE:
                return self._duplicate(occ, prior)
            if claim is Claim.JOB_GONE:
                if message.kind is Kind.ADMITTED:  # it was granted its agent's slot while it waited
                    self.outcomes.release_gone(occ.run_id)
                if drops.droppable(occ):  # not a run: no record (engine/drops.py)
                    drops.unclaimed(self.runs, occ, slot, message.kind is Kind.ADMITTED)
                    return Outcome.SKIPPED
                return self._skip(occ, gone_reason(slot))
            if claim is Claim.OVER_BUDGET:
                telemetry.count("RunsSkippedByBudget")
                return self._skip(occ, budgets.spent_reason(slot.job if slot is not None else None), slot, blocks=True)
            if claim is Claim.AGENT_SPENT:  # a block an earlier skip recorded (store/blocks.py)
                telemetry.count("RunsSkippedByBudget")
                return self._skip(occ, agent_spent_reason(dynamo.text(slot.job if slot else None, "agentId")), slot)
            if claim is Claim.NEW_DAY:
                self._new_budget_day(occ)
                continue
            if claim is Claim.RECLAIM:  # it learnt the job's last usage: reserve that
                continue
            if claim is Claim.MISSED:
                assert slot is not None
                return self._skip(occ, missed(dynamo.number(slot.job, "catchupWindowMs"), occ, claimed_at) or "missed",
                                  slot)
            if claim is Claim.EXHAUSTED:
                if self.jobs.complete(occ.job_id, occ.generation, job_history.max_runs_reached()):
                    self.outcomes.completed(occ.job_id, "maxRuns reached")
                return self._skip(occ, "maxRuns reached: the job is completed")
            if claim is Claim.CLAIMED:
                return self.hold_and_run(message, max(claimed_at, wake))
            assert slot is not None
            outcome = self._busy(occ, slot)
            if outcome is not None:
                return outcome
        return self._skip(occ, "overlap: the job's run in progress kept changing", slot)

    def hold_and_run(self, message: Message, started: int,
                      read: dict[str, JobModel | None] | None = None) -> Outcome:
        """Hold a claimed attempt until its instant, read its job, run it (``read``: the jobs a
        batch already read at the instant, :mod:`.batch`)."""
        occ = message.occurrence
        reserved = self.runs.reserved(occ.run_id)  # what the claim reserved: the agent's budget is charged the same
        if read is None:  # a batch held until the instant and read the jobs there already
            clock.sleep_until(message.not_before_ms)
        # The one read of the job happens at the instant, after the hold: a delete, pause or
        # reschedule that returned during the hold still stops this occurrence.
        job = self.jobs.find(occ.job_id) if read is None else read.get(occ.job_id)
        if not still_live(job, occ):
            self.progress.finish(occ, Ending(RunStatus.SKIPPED, now_ms(), "the job was deleted, paused or rescheduled",
                                             dropped=drops.droppable(occ)))
            if message.kind is Kind.ADMITTED:  # it was granted its agent's slot while it waited
                self.outcomes.release_gone(occ.run_id)
            telemetry.count("RunsSkipped")
            return Outcome.SKIPPED
        assert job is not None
        limits = self.limits.limits(job.agentId)  # the agent's limits, once for the whole attempt
        bound = self._out_of_bounds(job, occ, now_ms(), limits)
        if bound is not None:
            return bound
        return self._gate(job, message, started, reserved, limits)

    def _new_budget_day(self, occ: Occurrence) -> None:
        job = self.jobs.find(occ.job_id)
        if job is not None:
            self.budgets.new_day(job, now_ms())

    def _gate(self, job: JobModel, message: Message, started: int, reserved: budgets.Spend,
              limits: AgentEndpoint | None) -> Outcome:
        """The agent's limits: run now, wait for a slot, or skip on the agent's budget."""
        occ = message.occurrence
        for _ in range(CLAIM_ROUNDS):
            gate = self.limits.admit(job, occ, limits, now_ms(), now_ms() + self.lease_ms, reserved)
            if gate is Gate.GO:
                return self._attempt(job, message, started, limits)
            if gate is Gate.OVER_BUDGET:
                telemetry.count("RunsSkippedByBudget")
                self._agent_blocked(job)
                spent_by = blocks.mark(job.agentId, limits.budget if limits is not None else None)
                return self._skip_claimed(job, occ, agent_spent_reason(job.agentId), limits,  # blocked till then
                                          blocks.agent_spent(now_ms(), spent_by))
            assert limits is not None  # an agent without limits is never queued
            if self.limits.enqueue(job.agentId, occ, limits):
                return self.waits.queued(job, occ)
        return self._skip_claimed(job, occ, f"agent {job.agentId}: its slots kept changing", limits)

    def _agent_blocked(self, job: JobModel) -> None:
        # job.blocked once per block: only a skip whose job read predates the block's record writes
        # (a batch read its jobs once), and only the first such write tells.
        until = blocks.next_utc_day(now_ms())
        if int(job.agentBlockTold or 0) >= until or not self.outcomes.notifier.wants("job.blocked"):
            return
        if blocks.told_once(JobModel, job.id, until):
            self.outcomes.blocked(job.id, f"agent {job.agentId}'s daily budget is used up: its occurrences are "
                                          "skipped until the next UTC day")

    def _skip_claimed(self, job: JobModel, occ: Occurrence, reason: str, limits: AgentEndpoint | None,
                      stats: list[Any] | None = None) -> Outcome:
        """End a claimed occurrence that did not start: give back its count, reservation and slots."""
        uncount = [JobModel.startedRuns.add(-1)] if counts_as_run(occ) else []
        streak, counted = folded(job, occ, reason)  # in its job's streak of skips, if it has one
        ending = Ending(RunStatus.SKIPPED, now_ms(), reason, stats=uncount + counted + (stats or []), fold=streak,
                        settlement=budgets.settlement(job, now_ms(), None) if occ.attempt == 1 else None,
                        agent_slot=job.agentId if holds_slots(limits) else None)
        finished = self.progress.finish(occ, ending)
        if finished.freed_agent is not None:
            self.outcomes.start_granted(finished.freed_agent)
        telemetry.count("RunsSkipped")
        log.info("skipped job=%s run=%s: %s", job.id, occ.run_id, reason, extra=keys(job, occ))
        return Outcome.SKIPPED

    def _out_of_bounds(self, job: JobModel, occ: Occurrence, now: int, limits: AgentEndpoint | None) -> Outcome | None:
        """An occurrence past the job's endAt, or one that missed its catch-up window, is skipped."""
        if occ.trigger is not Trigger.SCHEDULE:
            return None
        late = missed(int(job.catchupWindowMs) if job.catchupWindowMs is not None else None, occ, now)
        if after_end(job, occ.scheduled_ms):
            reason = "after endAt: the job is completed"
            if self.jobs.complete(job.id, occ.generation, job_history.end_at_passed()):
                self.outcomes.completed(job.id, "endAt passed")
        elif late is not None:
            reason = late
        else:
            return None
        # The claim counted this start against maxRuns and the budget: it did not start.
        return self._skip_claimed(job, occ, reason, limits)

    def _skip(self, occ: Occurrence, reason: str, slot: Slot | None = None, blocks: bool = False) -> Outcome:
        # one record per streak of the same reason; a job whose own budget is spent parks (engine/skips.py)
        opened = self.skips.record(occ, reason, slot, spent=blocks).opened
        if blocks and opened:  # the job's budget starts skipping its occurrences: once per block
            self.outcomes.blocked(occ.job_id, f"{reason}: its occurrences are skipped until its next budget day")
        telemetry.count("RunsSkipped")
        log.info("skipped job=%s run=%s: %s", occ.job_id, occ.run_id, reason,
                 extra={"jobId": occ.job_id, "runId": occ.run_id})
        return Outcome.SKIPPED

    def _busy(self, occ: Occurrence, slot: Slot) -> Outcome | None:
        """Another run holds the slot: skip, or wait for it (None: the slot changed, claim again)."""
        busy = f"overlap: run {slot.active_run} is in progress"
        if slot.overlap != Overlap.QUEUE.value:
            return self._skip(occ, busy, slot)
        if slot.waiting is not None and slot.waiting != occ.to_json():
            return self._skip(occ, f"{busy} and another occurrence already waits for it", slot)
        if not self.runs.wait(occ, slot, now_ms()):
            return None
        # The finishing run hands this one the slot and sends it; should that send be lost,
        # this copy comes back when the holder's bound passes and claims the slot then.
        self.queue.send_one(Message(occ, max(int(slot.active_until or 0), now_ms())), now_ms())
        telemetry.count("RunsQueued")
        return Outcome.WAITING

    def _duplicate(self, occ: Occurrence, prior: Prior | None) -> Outcome:
        if prior is None:
            return Outcome.DUPLICATE
        now = now_ms()
        if prior.queue_agent is not None:  # it waits in its agent's line: keep its wake alive
            self.waits.arm_wake(prior.queue_agent, occ)  # (we may have died between queueing and arming)
            return Outcome.WAITING
        # This attempt was accepted (202): if we died, or the send failed, before its deadline check
        # was sent, this returning copy sends it (a check that was sent finds nothing to do twice).
        if prior.accepted and prior.status == RunStatus.RUNNING.value and prior.attempt == occ.attempt:
            self.queue.send_one(Message(occ, max(now, prior.deadline_ms or now), Kind.CHECK), now)
            return Outcome.REQUEUED
        # This attempt was already given up ("retrying" is written before the next attempt
        # is sent): if we died in between, the next attempt was never sent. Send it now, for
        # the time it was due; if it was sent, the copy loses its claim.
        if prior.status == RunStatus.RETRYING.value and prior.attempt == occ.attempt:
            self.queue.send_one(Message(occ._replace(attempt=occ.attempt + 1), prior.retry_at_ms or now), now)
            return Outcome.REQUEUED
        # An older generation holds the instant: it either delivers it (then this copy ends here)
        # or skips it when it reads the job; look again shortly after, until it has done either,
        # or its lease passed (it died: the claim then takes it over). Not a fixed time after the
        # instant: a claimant slow between its claim and its read (a throttled read retried, a
        # descheduled thread) would lose the new generation's occurrence.
        old = prior.generation is not None and prior.generation < occ.generation
        until = prior.lease_until if prior.lease_until is not None else (prior.started_ms or 0) + HOLD_MAX_MS
        if old and prior.status == RunStatus.RUNNING.value and not prior.accepted and now <= until:
            self.queue.send_one(Message(occ, now + TAKEOVER_RETRY_MS), now)
            return Outcome.REQUEUED
        return Outcome.DUPLICATE

    def _attempt(self, job: JobModel, message: Message, started: int, limits: AgentEndpoint | None) -> Outcome:
        occ = message.occurrence
        late = max(0, now_ms() - message.not_before_ms)
        telemetry.milliseconds("DispatchLatenessMs", late)
        log.info("start job=%s run=%s attempt=%s late_ms=%s", job.id, occ.run_id, occ.attempt, late,
                 extra=keys(job, occ))
        deadline = started + timeout_ms(job)
        try:
            answer = self.deliver(job, occ, deadline)
        except DeliveryFailed as failure:
            return self.outcomes.failed(job, occ, started, failure.message, failure.retryable, failure.retry_after_s)
        if isinstance(answer, AgentAnswer) and answer.accepted:
            return self._accepted(job, occ, deadline, limits)
        try:
            answer, saved = continuity.lift_answer(answer)
        except JobsError as refused:  # a state that cannot be saved fails the run: retrying would not help
            return self.outcomes.failed(job, occ, started, refused.message, retryable=False)
        output, usage, text = result_of(answer)
        return self.outcomes.succeeded(job, occ, started, output=output, usage=usage, response=text, saved=saved)

    def deliver(self, job: JobModel, occ: Occurrence, deadline_ms: int) -> AgentAnswer | object:
        """Hand the occurrence to its callback, its agent's URL, or its payload's action: the payload
        kept for a run on demand (run now with a payload, replay), else the job's."""
        kept = self.runs.on_demand(occ)
        text = kept.payload if kept is not None else job.payload
        self.progress.delivering(occ, text)
        payload = json.loads(text)
        delivery = Delivery(job_id=job.id, job_name=job.name, run_id=occ.run_id, agent_id=job.agentId,
                            scheduled_at=iso(occ.scheduled_ms) or "", attempt=occ.attempt,
                            trigger=occ.trigger.value, payload=payload, **continuity.delivered(job),
                            callback_url=callbacks.callback_url(occ.run_id),
                            callback_token=callbacks.mint(occ.run_id, occ.attempt, deadline_ms),
                            timeout_at=iso(deadline_ms))
        remaining_s = max(0.001, (min(deadline_ms, now_ms() + ACTION_TIMEOUT_MS) - now_ms()) / 1000)
        if job.callback:
            return run_callback(job.callback, delivery, remaining_s)
        endpoint = self.config.agent(job.agentId)
        if endpoint is not None and endpoint.url is not None:
            return post_to_agent(delivery, endpoint, now_ms() // 1000, deadline_ms)
        return run_action(delivery, remaining_s)

    def _accepted(self, job: JobModel, occ: Occurrence, deadline: int, limits: AgentEndpoint | None) -> Outcome:
        heartbeat_ms = int(job.heartbeatTimeoutMs) if job.heartbeatTimeoutMs else None
        now = now_ms()
        if not self.progress.accept(occ, now, deadline, heartbeat_ms, LEASE_SLACK_MS + HOLD_MAX_MS):
            return Outcome.DUPLICATE
        if holds_slots(limits):  # the slot is held until the attempt's deadline
            self.limits.extend(job.agentId, occ.run_id, deadline + LEASE_SLACK_MS + HOLD_MAX_MS)
        first_check = min(deadline, now + heartbeat_ms) if heartbeat_ms else deadline
        # If this send is lost, the attempt's own message (not yet deleted) comes back and
        # sends the check (see _duplicate): an accepted run is never left unwatched.
        self.queue.send_one(Message(occ, first_check, Kind.CHECK), now)
        telemetry.count("RunsAccepted")
        log.info("accepted job=%s run=%s attempt=%s until %s", job.id, occ.run_id, occ.attempt, iso(deadline),
                 extra=keys(job, occ))
        return Outcome.ACCEPTED
