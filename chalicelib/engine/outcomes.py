"""How an attempt ends, wherever its outcome comes from: the agent's HTTP answer (executor),
its later report (``POST /api/runs/{id}/complete``), or its deadline (the timeout check).

One place decides retry or not, sends the next attempt or the dead letter, records the run,
the job's counters and its overlap slot, and starts the occurrence that waited for the slot.
Order of effects, so that dying at any line loses nothing: "retrying" is written before the
next attempt is sent (a redelivered message re-sends it), the dead letter before "failed".
"""
from __future__ import annotations

import copy
import json
import logging
import random
from enum import StrEnum
from typing import Any

from pynamodb.expressions.condition import Condition

from .. import telemetry
from ..clock import iso, now_ms
from ..config import AgentEndpoint, Config, RetryPolicy, parse_retry_policy
from ..defaults import OUTPUT_MAX_BYTES
from ..errors import JobsError
from ..schedules import OnceSchedule
from ..store import budgets
from ..store.jobs import JobStore
from ..store.late import arm_actions
from ..store.models import JobModel, JobStatus, RunModel, RunStatus, Trigger
from ..store.runs import Occurrence
from ..store.sqs import Kind, Message, OccurrenceQueue
from . import job_history
from .agent_limits import AgentLimits, holds_slots
from .bounds import exhausted
from .continuity import Saved, Success
from .dispatch import schedule_of
from .endings import Breaker, Ending, Finished, Recorded
from .failures import FailureLog
from .notifications import Notifier
from .progress import RunProgress

log = logging.getLogger("agentos.jobs.outcomes")
MAX_RETRY_AFTER_MS = 3_600_000


class Outcome(StrEnum):
    """What handling one message (or one report) came to."""

    SUCCEEDED = "succeeded"
    RETRYING = "retrying"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    ACCEPTED = "accepted"  # the agent answered 202: it reports later
    WAITING = "waiting"  # overlap "queue": it starts when the run in progress ends
    DUPLICATE = "duplicate"
    REQUEUED = "requeued"
    CHECKED = "checked"  # a deadline check found the attempt alive or already ended


def backoff_ms(policy: RetryPolicy, attempt: int, retry_after_s: float | None) -> int:
    """Delay before attempt ``attempt + 1``: exponential, capped, optionally jittered."""
    delay = min(policy.maxDelayMs, policy.initialDelayMs * policy.multiplier ** (attempt - 1))
    if policy.jitter:
        delay = random.uniform(delay / 2, delay)  # "equal jitter": spread, yet still growing
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s * 1000, MAX_RETRY_AFTER_MS))
    return int(delay)


def output_text(value: Any) -> str | None:
    """A run's ``output`` as stored: compact JSON, or the truncation marker past 32 KiB."""
    if value is None:
        return None
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    size = len(text.encode())
    if size > OUTPUT_MAX_BYTES:
        return json.dumps({"truncated": True, "bytes": size})
    return text


def keys(job: JobModel, occ: Occurrence) -> dict[str, Any]:
    """Structured-log keys: CloudWatch Logs Insights filters on these."""
    return {"jobId": job.id, "runId": occ.run_id, "agentId": job.agentId, "attempt": occ.attempt}


class Outcomes:
    """Ends attempts: success, failure (retried or final) and cancellation."""

    def __init__(self, config: Config, jobs: JobStore, progress: RunProgress, queue: OccurrenceQueue,
                 failures: FailureLog | None = None) -> None:
        self.config = config
        self.jobs = jobs
        self.progress = progress
        self.queue = queue
        self.failures = failures or FailureLog(config.logs.dir)
        self.limits = AgentLimits(config, runs=progress.model, jobs=progress.jobs)
        self.notifier = Notifier(config.notifications, queue)
        self.digest: str | None = None

    def with_digest(self, digest: str) -> Outcomes:
        """These outcomes, stamping the completion report's digest on what they write."""
        stamped = copy.copy(self)
        stamped.digest = digest
        return stamped

    def orphan(self, occ: Occurrence, status: str, error: str | None, output: str | None,
               usage: str | None, extra: Condition | None = None) -> Outcome:
        """Record the outcome of a run whose job was deleted while it ran (no retry, no counters)."""
        ending = Ending(RunStatus(status), now_ms(), error=error, output=output, usage=usage, digest=self.digest)
        finished = self.progress.finish(occ, ending, extra)
        if finished.recorded is Recorded.LOST:
            return Outcome.DUPLICATE
        self.release_gone(occ.run_id)
        return Outcome(status)

    def release_gone(self, run_id: str) -> None:
        """Free the agent slot a run of a gone job may hold, and fill that agent's line."""
        for agent_id in self.limits.release_anywhere(run_id):
            self.start_granted(agent_id)

    def cancel_waiting(self, job: JobModel | None, run: RunModel, statuses: tuple[str, ...]) -> bool:
        """End at once a run that is queued or waiting between attempts: in one write with the run,
        give back what it held (its reservation; its maxRuns count if it never started; the job's
        overlap slot, handed to the occurrence waiting for it). False if the run moved meanwhile."""
        occ = Occurrence.of_run(run)
        error = f"cancelled while waiting to retry (attempt {occ.attempt}: {run.error})" \
            if run.status == RunStatus.RETRYING.value else "cancelled before it started"
        ending = Ending(RunStatus.CANCELLED, now_ms(), error=error, waiting=statuses)
        if job is not None:
            counted = run.queueAgent is not None and run.trigger == Trigger.SCHEDULE.value and occ.attempt == 0
            ending.stats = [JobModel.startedRuns.add(-1)] if counted else []
            reported = budgets.Spend.of_usage(run.usage) if run.usage else None
            ending.settlement = budgets.settlement(job, int(run.startedAt or ending.at_ms), reported)
        finished = self.progress.finish(occ, ending)
        if finished.recorded is Recorded.LOST:
            return False
        if run.queueAgent is not None:  # it waited for its agent: one fewer in the line
            self.limits.leave_line(str(run.queueAgent), occ)
        if finished.promoted is not None:
            self._start_waiting(finished.promoted)
        return True

    def policy(self, job: JobModel) -> RetryPolicy | None:
        """The job's retry policy, else the config's, else None (no retry)."""
        if job.retryPolicy:
            return parse_retry_policy(job.retryPolicy)
        return self.config.retryPolicy

    def succeeded(self, job: JobModel, occ: Occurrence, started: int, output: str | None = None,
                  usage: str | None = None, response: str | None = None, extra: Condition | None = None,
                  saved: Saved | None = None) -> Outcome:
        """Record a succeeded attempt (a run asked to stop ends ``cancelled`` instead), and on its job
        the run as its lastSuccess and the state it ``saved`` (None: the state stays), in the same write."""
        ending = Ending(RunStatus.SUCCEEDED, now_ms(), output=output, usage=usage, response=response,
                        digest=self.digest)
        ending.success = Success.of(occ, ending.at_ms, output, saved)
        return self._finish(job, occ, started, ending, extra)

    def cancelled(self, job: JobModel, occ: Occurrence, started: int, error: str | None = None,
                  output: str | None = None, usage: str | None = None, extra: Condition | None = None) -> Outcome:
        """Record a run that ended because it was cancelled."""
        ending = Ending(RunStatus.CANCELLED, now_ms(), error=error or "cancelled", output=output, usage=usage,
                        digest=self.digest)
        return self._finish(job, occ, started, ending, extra)

    def failed(self, job: JobModel, occ: Occurrence, started: int, error: str, retryable: bool,
               retry_after_s: float | None = None, extra: Condition | None = None,
               output: str | None = None, usage: str | None = None) -> Outcome:
        """A failed attempt: retried by the policy, else the run fails (dead letter, failure log)."""
        policy = self.policy(job)
        if retryable and policy is not None and occ.attempt < policy.maxAttempts:
            return self._retry(job, occ, started, error, backoff_ms(policy, occ.attempt, retry_after_s), extra)
        following = occ._replace(attempt=occ.attempt + 1)
        self.queue.dead_letter(Message(following, now_ms()), error)
        self.failures.write({"jobId": job.id, "jobName": job.name, "runId": occ.run_id, "attempt": occ.attempt,
                             "scheduledAt": iso(occ.scheduled_ms), "error": error})
        ending = Ending(RunStatus.FAILED, now_ms(), error=error, output=output, usage=usage, digest=self.digest)
        outcome = self._finish(job, occ, started, ending, extra)
        if outcome is Outcome.FAILED:
            self.notifier.emit("run.failed", job, None, f"run {occ.run_id} failed after {occ.attempt} attempt(s): "
                               f"{error}", run_ref=(occ.job_id, occ.run_id))
        return outcome

    def _retry(self, job: JobModel, occ: Occurrence, started: int, error: str, wait: int,
               extra: Condition | None) -> Outcome:
        retry_at = now_ms() + wait
        # Give this attempt up first, then send the next: the next one can then never find
        # this one still running (a fast retry would lose its claim).
        # The claim held the slot for a lease from about ``started`` (an accepted run: until its
        # deadline); a retry due before that needs no extra write.
        recorded = self.progress.retrying(occ, error, retry_at, extra, self.digest,
                                          slot_until=started - 1_000 + self.progress.lease_ms)
        if recorded is Recorded.CANCELLED:
            return self.cancelled(job, occ, started, f"cancelled after: {error}")
        if recorded is Recorded.LOST:
            return Outcome.DUPLICATE
        self.queue.send_one(Message(occ._replace(attempt=occ.attempt + 1), retry_at), now_ms())
        if self.limits.slot_limited(job.agentId):  # no slot is held between attempts
            self.limits.release(job.agentId, occ.run_id)
            self.start_granted(job.agentId)
        telemetry.count("RunsRetried")
        log.info("retrying job=%s run=%s attempt=%s in %s ms: %s", job.id, occ.run_id, occ.attempt, wait, error,
                 extra=keys(job, occ))
        return Outcome.RETRYING

    def _finish(self, job: JobModel, occ: Occurrence, started: int, ending: Ending,
                extra: Condition | None) -> Outcome:
        ending.counted_from = started  # the job's counters, for the status the run ends with
        if ending.status is RunStatus.SUCCEEDED and job.expectSuccessWithinMs is not None:
            ending.stats += arm_actions(job.id, int(job.expectSuccessWithinMs), ending.at_ms)  # job.late: from now
        if occ.trigger is Trigger.SCHEDULE and isinstance(schedule_of(job), OnceSchedule) \
                and ending.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
            final = JobStatus.COMPLETED if ending.status is RunStatus.SUCCEEDED else JobStatus.FAILED
            ending.closing = [JobModel.status.set(final.value), JobModel.dueShard.remove()]
            ending.closing_event = job_history.single_run_ended(final.value)
        elif occ.trigger is Trigger.SCHEDULE and exhausted(job) and job.status == JobStatus.ACTIVE.value:
            # The last of maxRuns ended: the job is done (runs still in progress finish anyway).
            ending.closing = [JobModel.status.set(JobStatus.COMPLETED.value), JobModel.dueShard.remove()]
            ending.closing_event = job_history.max_runs_reached()
        ending.breaker = Breaker(int(job.maxConsecutiveFailures) if job.maxConsecutiveFailures else None,
                                 int(job.consecutiveFailures or 0), job.status == JobStatus.ACTIVE.value)
        reported = budgets.Spend.of_usage(ending.usage)
        ending.settlement = budgets.settlement(job, started, reported, usage_reported=ending.usage is not None)
        limits = self.limits.limits(job.agentId)  # once per outcome: the slot and the budget below
        ending.agent_slot = job.agentId if holds_slots(limits) else None
        finished = self.progress.finish(occ, ending, extra)
        if finished.recorded is not Recorded.LOST:
            self._after_release(job, limits, started, reported, finished)
        if finished.recorded is Recorded.LOST:
            return Outcome.DUPLICATE  # another claimant took over this attempt: its outcome wins
        if finished.tripped:
            self._tripped(job, occ, ending)
        once = isinstance(schedule_of(job), OnceSchedule)
        if ending.closing and finished.recorded is Recorded.DONE and not (once and ending.status is RunStatus.FAILED):
            self.notifier.emit("job.completed", job, None, "its single run succeeded" if once else "maxRuns reached",
                               run_ref=(occ.job_id, occ.run_id))
        if finished.promoted is not None:
            self._start_waiting(finished.promoted)
        status = RunStatus.CANCELLED if finished.recorded is Recorded.CANCELLED else ending.status
        telemetry.count({RunStatus.SUCCEEDED: "RunsSucceeded", RunStatus.FAILED: "RunsFailed"}.get(
            status, "RunsCancelled"))
        log.log(logging.WARNING if status is RunStatus.FAILED else logging.INFO, "%s job=%s run=%s attempt=%s%s",
                status.value, job.id, occ.run_id, occ.attempt, f": {ending.error}" if ending.error else "",
                extra=keys(job, occ))
        return Outcome(status.value)

    def _tripped(self, job: JobModel, occ: Occurrence, ending: Ending) -> None:
        assert ending.breaker is not None
        telemetry.count("JobsPausedByBreaker")
        self.notifier.emit("job.paused", job, None, f"the circuit breaker paused the job after "
                           f"{ending.breaker.seen + 1} consecutive failed runs: {ending.error}",
                           run_ref=(occ.job_id, occ.run_id))
        log.warning("circuit breaker paused job=%s after %s consecutive failed runs (run=%s): %s", job.id,
                    ending.breaker.seen + 1, occ.run_id, ending.error,
                    extra={**keys(job, occ), "event": "circuit_breaker_tripped",
                           "consecutiveFailures": ending.breaker.seen + 1})

    def _after_release(self, job: JobModel, limits: AgentEndpoint | None, started: int, reported: budgets.Spend,
                       finished: Finished) -> None:
        if limits is not None and limits.budget is not None:
            reserved = finished.reserved or budgets.Spend()
            self.limits.settle(job.agentId, budgets.day_of("UTC", started)[0],
                               budgets.Spend(reported.tokens - reserved.tokens, reported.cost - reserved.cost))
        if finished.freed_agent is not None:
            self.start_granted(finished.freed_agent)

    def blocked(self, job_id: str, reason: str) -> None:
        """Tell the receivers of ``job.blocked`` that a budget starts skipping the job's occurrences."""
        if self.notifier.wants("job.blocked"):
            job = self.jobs.find(job_id)
            if job is not None:
                self.notifier.emit("job.blocked", job, None, reason)

    def completed(self, job_id: str, reason: str) -> None:
        """Tell the receivers of ``job.completed`` that the job is done (its job read only for them)."""
        if self.notifier.wants("job.completed"):
            job = self.jobs.find(job_id)
            if job is not None:
                self.notifier.emit("job.completed", job, None, reason)

    def start_granted(self, agent_id: str) -> list[Occurrence]:
        """Give the agent's free slots to its earliest waiting runs and send them; returns them
        (best effort: a waiting run's wake message fills the line too, should this be lost)."""
        granted: list[Occurrence] = []
        try:
            for occ in self.limits.fill(agent_id, now_ms(), self.progress.lease_ms):
                self.queue.send_one(Message(occ, now_ms(), Kind.ADMITTED), now_ms())
                granted.append(occ)  # sent: a granted run whose send was lost is sent by its wake
        except JobsError as exc:
            log.warning("could not start the runs waiting for agent %s now (%s); their wake starts them",
                        agent_id, exc)
        return granted

    def _start_waiting(self, waiting: Occurrence) -> None:
        # The slot is already the waiting run's: if this send is lost, the message it re-sent
        # for the slot's bound starts it then.
        try:
            self.queue.send_one(Message(waiting, now_ms()), now_ms())
        except JobsError:
            log.warning("could not start waiting run %s now; it starts at the slot's bound", waiting.run_id)
