"""The executor: each SQS message is one attempt of one occurrence.

Per message: read the job, hold until just before the instant, *claim* the attempt
(a transaction that re-checks the job and admits one claimant), wait for the
instant, deliver, then record the outcome on the run and the job in one write.
A failed attempt sends the next one (same run id) *before* giving this one up, and
the last one goes to the DLQ *before* the run is marked failed, so a crash at any
line leaves a message that finishes the work.
"""
from __future__ import annotations

import json
import logging
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from enum import Enum
from typing import Any

from .actions import load_plugins, run_action, run_callback
from . import clock, telemetry
from .clock import iso, now_ms
from .config import Config, RetryPolicy
from .delivery import Delivery, post_to_agent
from .dispatch import schedule_of
from .errors import DeliveryFailed
from .failures import FailureLog
from .history import Claim, Occurrence, Prior, RunStore
from .models import JobModel, JobStatus, RunModel, RunStatus, Trigger
from .queue import Message, OccurrenceQueue, decode
from .schedules import OnceSchedule
from .store import JobStore

log = logging.getLogger("agentos.jobs.executor")

HOLD_MAX_MS = 5_000  # a message this early is held in process; an earlier one is re-queued
ACTION_TIMEOUT_MS = 60_000  # what an in-process action is assumed to need at most
LEASE_SLACK_MS = 30_000  # a claim older than the delivery timeout plus this is presumed dead
MAX_RETRY_AFTER_MS = 3_600_000


class Outcome(str, Enum):
    SUCCEEDED = "succeeded"
    RETRYING = "retrying"
    FAILED = "failed"
    SKIPPED = "skipped"
    DUPLICATE = "duplicate"
    REQUEUED = "requeued"


def warm_clients(queue: OccurrenceQueue) -> None:
    """Build the AWS clients once, before threads race to build one each on a cold start."""
    from .store import model_connection

    for model in (JobModel, RunModel):
        _ = model._get_connection().connection.client
        _ = model_connection(model).client
    _ = queue.client


def _still_live(job: JobModel | None, occ: Occurrence) -> bool:
    # The same rule as the claim's ConditionCheck (history.RunStore._job_live), on the item read.
    if job is None:
        return False
    if occ.trigger is Trigger.MANUAL:
        return True
    live = job.status in (JobStatus.ACTIVE.value, JobStatus.FAILED.value)
    return live and int(job.generation) == occ.generation


def _keys(job: JobModel, occ: Occurrence) -> dict[str, Any]:
    # Structured-log keys: CloudWatch Logs Insights filters on these.
    return {"jobId": job.id, "runId": occ.run_id, "agentId": job.agentId, "attempt": occ.attempt}


def backoff_ms(policy: RetryPolicy, attempt: int, retry_after_s: float | None) -> int:
    """Delay before attempt ``attempt + 1``: exponential, capped, optionally jittered."""
    delay = min(policy.maxDelayMs, policy.initialDelayMs * policy.multiplier ** (attempt - 1))
    if policy.jitter:
        delay = random.uniform(delay / 2, delay)  # "equal jitter": spread, yet still growing
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s * 1000, MAX_RETRY_AFTER_MS))
    return int(delay)


class Executor:
    """Runs occurrences handed over by SQS (the Lambda) or by the local queue loop."""

    def __init__(self, config: Config, jobs: JobStore, runs: RunStore, queue: OccurrenceQueue,
                 failures: FailureLog | None = None) -> None:
        self.config = config
        self.jobs = jobs
        self.runs = runs
        self.queue = queue
        self.failures = failures or FailureLog(config.logs.dir)
        load_plugins()
        warm_clients(queue)

    def handle_batch(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """Run every record in parallel; report the ones to retry (SQS partial batch response)."""
        if not records:
            return {"batchItemFailures": []}
        with ThreadPoolExecutor(max_workers=len(records)) as pool:
            done = list(pool.map(self._record_ok, records))
        return {"batchItemFailures": [{"itemIdentifier": r.get("messageId")} for r, ok in zip(records, done) if not ok]}

    def _record_ok(self, record: dict[str, Any]) -> bool:
        try:
            self.run(decode(record["body"]))
            return True
        except Exception as exc:  # the message stays queued; SQS retries it, then the DLQ takes it
            log.warning("record %s not done: %s: %s", record.get("messageId"), type(exc).__name__, exc)
            return False

    def run(self, message: Message) -> Outcome:
        """Take one attempt of one occurrence from message to recorded outcome."""
        occ, wake = message.occurrence, message.not_before_ms
        if wake - now_ms() > HOLD_MAX_MS:
            self.queue.send_one(message, now_ms())  # too early (long backoff): back in the queue
            return Outcome.REQUEUED
        # Claim on arrival (SQS brings the message up to a second early), then hold until
        # the instant: a burst's claims and reads are done before it, not queued behind it.
        claimed_at = now_ms()
        claim, prior = self.runs.claim(occ, claimed_at, self.lease_ms, max(claimed_at, wake))
        if claim is Claim.DUPLICATE:
            return self._duplicate(occ, prior)
        if claim is Claim.JOB_GONE:
            return self._skip(occ, "the job was deleted, paused or rescheduled")
        clock.sleep_until(wake)
        # The one read of the job happens at the instant, after the hold: a delete, pause or
        # reschedule that returned during the hold still stops this occurrence.
        job = self.jobs.find(occ.job_id)
        if not _still_live(job, occ):
            self.runs.finish(occ, RunStatus.SKIPPED, now_ms(), "the job was deleted, paused or rescheduled",
                             None, [], None)
            telemetry.count("RunsSkipped")
            return Outcome.SKIPPED
        assert job is not None
        return self._attempt(job, message, max(claimed_at, wake))

    @property
    def lease_ms(self) -> int:
        """How long a claim is honoured before another claimant may take the attempt over."""
        slowest = max((a.timeoutMs for a in self.config.agents.values()), default=0)
        return HOLD_MAX_MS + max(slowest, ACTION_TIMEOUT_MS) + LEASE_SLACK_MS

    def _skip(self, occ: Occurrence, reason: str) -> Outcome:
        self.runs.skip(occ, now_ms(), reason)
        telemetry.count("RunsSkipped")
        log.info("skipped job=%s run=%s: %s", occ.job_id, occ.run_id, reason,
                 extra={"jobId": occ.job_id, "runId": occ.run_id})
        return Outcome.SKIPPED

    def _duplicate(self, occ: Occurrence, prior: Prior | None) -> Outcome:
        # This attempt was already given up ("retrying" is written before the next attempt
        # is sent): if we died in between, the next attempt was never sent. Send it now;
        # if it was sent, the copy loses its claim.
        if prior is not None and prior.status == RunStatus.RETRYING.value and prior.attempt == occ.attempt:
            self.queue.send_one(Message(replace(occ, attempt=occ.attempt + 1), now_ms()), now_ms())
            return Outcome.REQUEUED
        return Outcome.DUPLICATE

    def _attempt(self, job: JobModel, message: Message, started: int) -> Outcome:
        occ = message.occurrence
        late = max(0, now_ms() - message.not_before_ms)
        telemetry.milliseconds("DispatchLatenessMs", late)
        log.info("start job=%s run=%s attempt=%s late_ms=%s", job.id, occ.run_id, occ.attempt, late,
                 extra=_keys(job, occ))
        try:
            response = self.deliver(job, occ)
        except DeliveryFailed as failure:
            return self._failed(job, occ, started, failure)
        self._finish(job, occ, started, RunStatus.SUCCEEDED, None, response)
        telemetry.count("RunsSucceeded")
        return Outcome.SUCCEEDED

    def deliver(self, job: JobModel, occ: Occurrence) -> str | None:
        """Hand the occurrence to its callback, its agent's URL, or its payload's action."""
        payload = json.loads(job.payload)
        fields = dict(job_id=job.id, job_name=job.name, run_id=occ.run_id, agent_id=job.agentId,
                      scheduled_at=iso(occ.scheduled_ms) or "", attempt=occ.attempt,
                      trigger=occ.trigger.value, payload=payload)
        delivery = Delivery(**fields)
        if job.callback:
            return run_callback(job.callback, delivery)
        endpoint = self.config.agent(job.agentId)
        if endpoint is not None:
            return post_to_agent(delivery, endpoint, now_ms() // 1000)
        return run_action(delivery)

    def _policy(self, job: JobModel) -> RetryPolicy | None:
        if job.retryPolicy:
            return RetryPolicy.model_validate_json(job.retryPolicy)
        return self.config.retryPolicy

    def _failed(self, job: JobModel, occ: Occurrence, started: int, failure: DeliveryFailed) -> Outcome:
        policy = self._policy(job)
        following = replace(occ, attempt=occ.attempt + 1)
        if failure.retryable and policy is not None and occ.attempt < policy.maxAttempts:
            wait = backoff_ms(policy, occ.attempt, failure.retry_after_s)
            # Give this attempt up first, then send the next: the next one can then never
            # find this one still running (a fast retry would lose its claim).
            self.runs.retrying(occ, failure.message)
            self.queue.send_one(Message(following, now_ms() + wait), now_ms())
            telemetry.count("RunsRetried")
            log.info("retrying job=%s run=%s attempt=%s in %s ms: %s", job.id, occ.run_id, occ.attempt, wait,
                     failure.message, extra=_keys(job, occ))
            return Outcome.RETRYING
        self.queue.dead_letter(Message(following, now_ms()), failure.message)
        self.failures.write({"jobId": job.id, "jobName": job.name, "runId": occ.run_id, "attempt": occ.attempt,
                             "scheduledAt": iso(occ.scheduled_ms), "error": failure.message})
        self._finish(job, occ, started, RunStatus.FAILED, failure.message, None)
        telemetry.count("RunsFailed")
        log.warning("failed job=%s run=%s attempt=%s: %s", job.id, occ.run_id, occ.attempt, failure.message,
                    extra=_keys(job, occ))
        return Outcome.FAILED

    def _finish(self, job: JobModel, occ: Occurrence, started: int, status: RunStatus,
                error: str | None, response: str | None) -> None:
        stats = [JobModel.lastRunAt.set(started), JobModel.lastRunStatus.set(status.value),
                 JobModel.runCount.add(1)]
        if status is RunStatus.FAILED:
            stats.append(JobModel.failureCount.add(1))
        ending, condition = [], None
        if occ.trigger is Trigger.SCHEDULE and isinstance(schedule_of(job), OnceSchedule):
            final = JobStatus.COMPLETED if status is RunStatus.SUCCEEDED else JobStatus.FAILED
            ending = [JobModel.status.set(final.value), JobModel.dueShard.remove()]
            condition = JobModel.generation == occ.generation
        if not self.runs.finish(occ, status, now_ms(), error, response, stats + ending, condition):
            self.jobs.record_outcome(job.id, stats)
        log.info("%s job=%s run=%s attempt=%s", status.value, job.id, occ.run_id, occ.attempt,
                 extra=_keys(job, occ))
