"""Admission (contract section 11): whether a job may be made or changed under its agent's quota,
and the write that makes it so atomically.

:class:`Admission` is :class:`~chalicelib.api.jobs.JobService`'s one call per create, PATCH and
delete. It refuses at once what one job alone decides (``maxDepth``: the lineage of a job made
with a run's callback token; ``minIntervalMs``: the shortest gap between the job's next 50
starts), then writes the job with one :class:`~chalicelib.store.quotas.Tally` per agent whose
counters the write moves (``maxJobs``: the agent's jobs; ``maxRunsPerDay``: the sum of its jobs'
starts in the next 24 h), in the job's own transaction, conditional on the quota. A refusal is
403 ``QuotaExceededError`` naming the quota, its limit and the value the request would reach;
nothing is written.

Agents with neither ``maxJobs`` nor ``maxRunsPerDay`` carry no tally: their writes cost what they
did before quotas. A job keeps ``runsPerDay``, its figure in its agent's sum, computed when it is
made and again when its timing, status or agent changes (a pause gives its runs back).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pynamodb.expressions.update import Action

from ..clock import from_ms
from ..config import Config, Quota
from ..engine import callbacks
from ..engine.bounds import Bounds
from ..engine.dispatch import schedule_of
from ..engine.projection import job_runs_per_day, runs_in_day, shortest_gap_ms
from ..errors import Forbidden, QuotaExceeded, Unauthorized
from ..schedules import Schedule
from ..store.events import Event
from ..store.jobs import JobStore
from ..store.models import JobModel, Origin
from ..store.quotas import AgentCounters, CountersMissing, Tally
from ..store.runs import job_of_run

# A PATCH of any of these recomputes the job's starts per day (and checks the quota again).
TIMING = ("schedule", "interval", "timezone", "startAt", "endAt", "maxRuns", "status", "agentId", "nextRunAt")
WRITE_TRIES = 3  # a write may find up to two agents' counters not started (a move): count, write again


def counted(quota: Quota) -> bool:
    """True if the agent's counters are kept (it has maxJobs or maxRunsPerDay)."""
    return quota.maxJobs is not None or quota.maxRunsPerDay is not None


class Admission:
    """Quota checks and the writes that carry them."""

    def __init__(self, config: Config, store: JobStore, counters: AgentCounters | None = None) -> None:
        self.config = config
        self.store = store
        self.counters = counters or AgentCounters(store.model, store.agents)

    def quota(self, agent_id: str) -> Quota:
        """The agent's quota (every key unset but maxDepth 3 when it has none)."""
        agent = self.config.agent(agent_id)
        return agent.quota if agent is not None else Quota()

    def create(self, job: JobModel, schedule: Schedule, bounds: Bounds, now_ms: int,
               event: Event | None = None) -> None:
        """Check a new (armed) job against its agent's quota and store it (with ``event``, its
        history's first entry, in the same transaction)."""
        quota = self.quota(job.agentId)
        self._check_depth(Origin.of(job), quota)
        self._check_gap(schedule, bounds, now_ms, quota)
        anchor = job.anchorAt if job.anchorAt is not None else job.nextRunAt
        job.runsPerDay = runs_in_day(schedule, int(anchor) if anchor is not None else None, bounds, now_ms) \
            if job.nextRunAt is not None else 0
        tallies = [Tally(job.agentId, 1, int(job.runsPerDay), quota.maxJobs, quota.maxRunsPerDay)] \
            if counted(quota) else []
        self._write(lambda: self.store.create(job, tallies, event), job.agentId)

    def update(self, job: JobModel, changes: dict[str, Any], stamp: int, old_name: str, now_ms: int,
               note: Callable[[JobModel], Event] | None = None, extra: Sequence[Action] = ()) -> None:
        """Apply a PATCH's ``changes`` to ``job`` and store them, if its agent's quota allows;
        ``note``: the change's event, made from the changed job and written in the same transaction;
        ``extra``: more actions of that write (counters it ADDs to)."""
        old_agent, old_runs = job.agentId, int(job.runsPerDay or 0)
        for key, value in changes.items():
            setattr(job, key, value)
        tallies: list[Tally] = []
        if any(key in changes for key in TIMING):
            quota = self.quota(job.agentId)
            if job.agentId != old_agent:
                self._check_depth(Origin.of(job), quota)
            if job.agentId != old_agent or not changes.keys().isdisjoint(TIMING[:6]):
                self._check_gap(schedule_of(job), Bounds.of(job), now_ms, quota)
            changes["runsPerDay"] = job.runsPerDay = job_runs_per_day(job, now_ms)
            tallies = self._moves(job, old_agent, old_runs, quota)
        actions = [getattr(JobModel, k).remove() if v is None else getattr(JobModel, k).set(v)
                   for k, v in changes.items()] + list(extra)
        event = note(job) if note is not None else None
        self._write(lambda: self.store.update(job, actions, stamp, old_name, tallies, event), job.agentId)

    def delete(self, job: JobModel, event: Event | None = None) -> None:
        """Delete ``job``, giving its counts back to its agent (``event``: the delete, in the same write)."""
        tallies = [Tally(job.agentId, -1, -int(job.runsPerDay or 0))] if counted(self.quota(job.agentId)) else []
        self._write(lambda: self.store.delete(job, tallies, event))

    def _moves(self, job: JobModel, old_agent: str, old_runs: int, quota: Quota) -> list[Tally]:
        runs = int(job.runsPerDay or 0)
        if job.agentId == old_agent:
            return [Tally(job.agentId, 0, runs - old_runs, None, quota.maxRunsPerDay)] \
                if counted(quota) and runs != old_runs else []
        moved = [Tally(old_agent, -1, -old_runs)] if counted(self.quota(old_agent)) else []
        return moved + ([Tally(job.agentId, 1, runs, quota.maxJobs, quota.maxRunsPerDay)] if counted(quota) else [])

    def _write(self, write: Callable[[], None], agent_id: str | None = None) -> None:
        # Counters not started yet (a quota newly configured): count that agent's jobs, write again.
        # Refused on maxRunsPerDay: give back the figures of ``agent_id``'s jobs that ended on their
        # own (the sum still holds them), and write again if that freed anything.
        released = agent_id is None
        for _ in range(WRITE_TRIES):
            try:
                write()
                return
            except CountersMissing as missing:
                self.counters.start(missing.agent_id)
            except QuotaExceeded as refused:
                if released or refused.quota != "maxRunsPerDay" or not self.counters.release_ended(str(agent_id)):
                    raise
                released = True
        write()

    @staticmethod
    def _check_depth(origin: Origin, quota: Quota) -> None:
        if origin.depth > quota.maxDepth:
            raise QuotaExceeded("maxDepth", quota.maxDepth, origin.depth)

    @staticmethod
    def _check_gap(schedule: Schedule, bounds: Bounds, now_ms: int, quota: Quota) -> None:
        if quota.minIntervalMs is None:
            return
        gap = shortest_gap_ms(schedule, from_ms(now_ms), bounds)
        if gap is not None and gap < quota.minIntervalMs:
            raise QuotaExceeded("minIntervalMs", quota.minIntervalMs, gap)


CLIENT_HEADER = "x-agentos-client"  # the console and the kits name themselves: origin.via
CLIENTS = frozenset({"console", "kit"})


def client_origin(header: str | None) -> Origin:
    """The origin of a job made with an API token: ``via`` the client the ``X-AgentOS-Client``
    header names (``console``, ``kit``), else ``api``."""
    named = (header or "").strip().lower()
    return Origin(via=named if named in CLIENTS else "api")


def run_author(store: JobStore, token: str, now_ms: int) -> tuple[frozenset[str], Origin]:
    """What a run's callback token may create: jobs of its own run's agent only (the scope), made
    ``via`` ``run`` by that run, one level deeper than the run's job. 401 if the token is not a
    valid (version 2) token; 403 if the run's job is gone (its agent is unknown)."""
    claim = callbacks.verify_any(token, now_ms)
    if claim is None:
        raise Unauthorized("Authorization: the callback token is not valid", "Authorization")
    job_id = job_of_run(claim.run_id)
    parent = store.find(job_id) if job_id is not None else None
    if parent is None:
        raise Forbidden(f"run {claim.run_id}'s job no longer exists: its token creates nothing", "Authorization")
    return frozenset({parent.agentId}), Origin("run", claim.run_id, Origin.of(parent).depth + 1)
