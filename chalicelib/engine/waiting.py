"""Runs waiting for their agent's slot (``maxConcurrent``): queueing, wakes, and starts.

A claimed occurrence that finds every slot of its agent taken gives its attempt back and waits
in the agent's line (:mod:`.agent_limits`); whoever frees a slot grants it to the head of the
line and sends it (an ``admitted`` message, claimed without being counted or charged again).
Each waiting run also keeps one *wake* message in the queue, due when the earliest slot's lease
could pass: it reaps a dead holder's slot and fills the line, should the one who freed a slot
have died before granting it, or a grant's send have been lost.
"""
from __future__ import annotations

import logging

from .. import clock, telemetry
from ..clock import now_ms
from ..store.models import JobModel, RunStatus
from ..store.runs import Occurrence, RunStore
from ..store.sqs import Kind, Message, OccurrenceQueue
from .agent_limits import AgentLimits
from .outcomes import Outcome, Outcomes, keys
from .progress import RunProgress

log = logging.getLogger("agentos.jobs.waiting")
WAKE_MIN_MS = 1_000  # a wake never comes sooner than this after it is armed


class AgentWaits:
    """The executor's side of an agent's waiting line."""

    def __init__(self, limits: AgentLimits, outcomes: Outcomes, progress: RunProgress, runs: RunStore,
                 queue: OccurrenceQueue, lease_ms: int) -> None:
        self.limits = limits
        self.outcomes = outcomes
        self.progress = progress
        self.runs = runs
        self.queue = queue
        self.lease_ms = lease_ms

    def queued(self, job: JobModel, occ: Occurrence) -> Outcome:
        """``occ`` now waits in its agent's line: start whoever a freed slot allows, arm its wake."""
        telemetry.count("RunsQueued")
        log.info("queued job=%s run=%s: every slot of agent %s is taken", job.id, occ.run_id, job.agentId,
                 extra=keys(job, occ))
        self.outcomes.start_granted(job.agentId)  # a slot freed meanwhile: the earliest waiting run gets it
        self.arm_wake(job.agentId, occ)
        return Outcome.WAITING

    def arm_wake(self, agent_id: str, occ: Occurrence) -> None:
        """Send the waiting run's wake, due when a slot of its agent could be reaped."""
        now = now_ms()
        wake = max(now + WAKE_MIN_MS, self.limits.earliest_lease(agent_id, now))
        self.progress.hold_slot(occ, wake + self.lease_ms)  # the job's overlap slot, while it waits
        self.queue.send_one(Message(occ, wake, Kind.WAKE), now)

    def wake(self, occ: Occurrence, due: int) -> Outcome:
        """A waiting run's wake: fill its agent's line; keep waking while it waits."""
        clock.sleep_until(due)  # not before the lease it waits for has passed
        run = self.runs.get(occ.job_id, occ.run_id)
        if run is None or run.status != RunStatus.QUEUED.value:
            return Outcome.CHECKED  # it started or ended
        if run.queueAgent is None:  # granted a slot: its start message may have been lost
            self.queue.send_one(Message(occ, now_ms(), Kind.ADMITTED), now_ms())
            return Outcome.REQUEUED
        granted = self.outcomes.start_granted(str(run.queueAgent))
        if occ.run_id in {g.run_id for g in granted}:
            return Outcome.REQUEUED  # its start message is sent
        self.arm_wake(str(run.queueAgent), occ)
        return Outcome.WAITING
