"""Quota counters (contract section 11): an agent's jobs and its projected starts per day, kept on
its ``agent#<id>`` item of the jobs table (``jobCount``, ``runsPerDay``).

A write that changes them (a create, a delete, a PATCH that moves a job to another agent or
changes its starts per day) carries one :class:`Tally` per agent it touches, written as one more
update in the job's own TransactWriteItems, conditional on the counters staying within the
agent's quota: concurrent creates can never pass ``maxJobs`` together, and a refused write writes
nothing. Each job item keeps ``runsPerDay``, the figure its agent's sum holds for it, so a delete
or a change takes back exactly what was added.

The counters are kept only for agents with ``maxJobs`` or ``maxRunsPerDay`` configured. Absent
counters (a quota newly configured on an agent that has jobs) fail the write's condition; the
caller then counts the agent's jobs once (:meth:`AgentCounters.start`: the ``list`` index, every
status, keys only, then the jobs' ``runsPerDay`` with BatchGetItem) and writes again.

The sum is of the figures the jobs hold: a job's figure is computed when it is made and when its
timing, status or agent changes over the API (a pause sets it to 0). A job the engine ends on its
own (a single run done, ``endAt`` passed, ``maxRuns`` used up) keeps its figure until a write is
refused on ``maxRunsPerDay``: the caller then gives back the figures of the agent's ended jobs
(:meth:`AgentCounters.release_ended`, each job set to 0 in one transaction with the sum) and tries
once more. So the sum errs on the side of refusing, and is made exact before it refuses.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple, cast

from pynamodb.exceptions import PynamoDBException, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from ..errors import JobsError, QuotaExceeded
from . import dynamo
from .listing import STATUS_ORDER
from .models import AgentModel, JobModel, JobStatus, agent_item_id

BATCH_GET_MAX = 100  # BatchGetItem's most keys per call


class Tally(NamedTuple):
    """How one write moves one agent's counters, and the limits it must stay within."""

    agent_id: str
    jobs: int = 0  # +1 a create or a move in, -1 a delete or a move out
    runs: int = 0  # the change of the agent's runsPerDay sum
    max_jobs: int | None = None
    max_runs: int | None = None


class CountersMissing(JobsError):
    """The agent's counters were never started: count its jobs, then write again (never an answer)."""

    def __init__(self, agent_id: str) -> None:
        super().__init__(f"the quota counters of agent {agent_id} are not started")
        self.agent_id = agent_id


def add_tallies(tx: TransactWrite, agents: type[AgentModel], tallies: Sequence[Tally]) -> None:
    """Each tally as one conditional update of its agent's item, in ``tx`` (after the job's items)."""
    for tally in tallies:
        actions: list[Action] = [agents.jobCount.add(tally.jobs), agents.runsPerDay.add(tally.runs)]
        condition = agents.jobCount.exists()
        if tally.jobs > 0 and tally.max_jobs is not None:
            condition &= agents.jobCount <= tally.max_jobs - tally.jobs
        if tally.runs > 0 and tally.max_runs is not None:
            condition &= agents.runsPerDay <= tally.max_runs - tally.runs
        tx.update(agents(agent_item_id(tally.agent_id)), actions=actions, condition=cast(Condition, condition),
                  return_values="ALL_OLD")


def refusal(tallies: Sequence[Tally], found: Sequence[dynamo.Reason]) -> JobsError | None:
    """Why the tallies of a cancelled transaction failed (``found``: the transaction's reasons,
    the tallies' last), or None if none did."""
    if len(found) < len(tallies):  # not cancelled (throttled, a server error): no reasons to read
        return None
    for tally, reason in zip(tallies, found[len(found) - len(tallies):], strict=True):
        if reason.code != dynamo.CONDITION_FAILED:
            continue
        count = dynamo.number(reason.item, "jobCount")
        if count is None:
            return CountersMissing(tally.agent_id)
        runs = dynamo.number(reason.item, "runsPerDay") or 0
        if tally.jobs > 0 and tally.max_jobs is not None and count + tally.jobs > tally.max_jobs:
            return QuotaExceeded("maxJobs", tally.max_jobs, count + tally.jobs)
        if tally.runs > 0 and tally.max_runs is not None:
            return QuotaExceeded("maxRunsPerDay", tally.max_runs, runs + tally.runs)
    return None


class AgentCounters:
    """Starts an agent's counters from its jobs (once, when a quota finds them absent)."""

    def __init__(self, jobs: type[JobModel] = JobModel, agents: type[AgentModel] = AgentModel) -> None:
        self.jobs = jobs
        self.agents = agents

    def start(self, agent_id: str) -> None:
        """Count the agent's jobs that are not deleted and sum their ``runsPerDay`` (a job stored
        before quotas existed holds none: 0; a paused job holds 0), then write both unless another
        request started them meanwhile. Cost: one Query per status, one BatchGetItem per 100 jobs."""
        try:
            ids = {status: list(self._ids(agent_id, status)) for status in STATUS_ORDER}
            every = [job_id for found in ids.values() for job_id in found]
            runs = sum(self._runs_of(every))
            self.agents(agent_item_id(agent_id)).update(
                actions=[self.agents.jobCount.set(len(every)),
                         self.agents.runsPerDay.set(runs)],
                condition=self.agents.jobCount.does_not_exist())
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise dynamo.unavailable("jobs", "count an agent's jobs") from exc
        except PynamoDBException as exc:
            raise dynamo.unavailable("jobs", "count an agent's jobs") from exc

    def release_ended(self, agent_id: str) -> int:
        """Give back to the agent's sum the ``runsPerDay`` of its jobs that ended (``completed``,
        ``failed``: the engine ends them without the API), each job keeping 0 from then on, in one
        transaction with the sum. Returns the runs per day given back. Cost: two Queries of the
        ``list`` index, one BatchGetItem per 100 ended jobs, one transaction per job with a figure."""
        try:
            ended = [job_id for status in (JobStatus.COMPLETED.value, JobStatus.FAILED.value)
                     for job_id in self._ids(agent_id, status)]
            figures = [(job_id, figure) for job_id, figure in zip(ended, self._runs_of(ended), strict=True) if figure]
        except PynamoDBException as exc:
            raise dynamo.unavailable("jobs", "read an agent's ended jobs") from exc
        return sum(figure for job_id, figure in figures if self._release(agent_id, job_id, figure))

    def _release(self, agent_id: str, job_id: str, figure: int) -> bool:
        # Conditional on the job still ended, of this agent, holding this figure (a concurrent
        # resume or move recomputes it itself).
        jobs = self.jobs
        held = jobs.id.exists() & (jobs.status != JobStatus.ACTIVE.value) & (jobs.status != JobStatus.PAUSED.value) \
            & (jobs.agentId == agent_id) & (jobs.runsPerDay == figure)

        def write() -> None:
            with TransactWrite(connection=dynamo.model_connection(jobs)) as tx:
                tx.update(jobs(job_id), actions=[jobs.runsPerDay.set(0)], condition=held)
                tx.update(self.agents(agent_item_id(agent_id)), actions=[self.agents.runsPerDay.add(-figure)],
                          condition=self.agents.jobCount.exists())
        return dynamo.committed(write, lambda: dynamo.unavailable("jobs", "give back an ended job's runs"))

    def _ids(self, agent_id: str, status: str) -> Iterator[str]:
        prefix = f"{agent_id}#"
        for entry in self.jobs.listing.query(status, self.jobs.listKey.startswith(prefix)):
            yield entry.id

    def _runs_of(self, ids: list[str]) -> list[int]:
        """The ``runsPerDay`` of each job of ``ids``, in their order (a job gone meanwhile: 0)."""
        found: dict[str, int] = {}
        for start in range(0, len(ids), BATCH_GET_MAX):
            for job in self.jobs.batch_get(ids[start:start + BATCH_GET_MAX], consistent_read=True,
                                           attributes_to_get=["id", "runsPerDay"]):
                found[job.id] = int(job.runsPerDay or 0)
        return [found.get(job_id, 0) for job_id in ids]

