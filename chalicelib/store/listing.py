"""The job list: pages read through the ``list`` index, at a cost of O(page) whatever the filters.

The index (``models.ListIndex``) is keyed by ``status`` and sorted by ``listKey`` =
``<agentId>#<id>``, keys only. A page walks the ranges asked for in key order: each status (one,
or all four in a fixed order), and within it each agent asked for (``begins_with <agentId>#``:
the ``agentId`` filter, or every agent of a token scoped to several, in sorted order; the whole
partition when neither). It queries each range for at most what is left of the page, then fetches
the page's jobs with BatchGetItem. Items read per page: the page's index entries plus its jobs,
never the rest of the table, nor another agent's entries (a scope's agents' ranges are disjoint
and sorted, so reading them in turn is their merge). An empty range costs one Query of 0 items.

The cursor names the status partition and the last index key returned, so a page can also end
early (the API caps a page by bytes) and the next one resumes right after its last job. Between
two agents of a scope it names the next one's range start, ``<agentId>#``: a cursor never holds a
key outside the ranges asked for.
"""
from __future__ import annotations

import base64
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pynamodb.exceptions import PynamoDBException

from ..errors import StoreUnavailable, ValidationFailed
from .models import JobModel, JobStatus

STATUS_ORDER = tuple(s.value for s in JobStatus)

AgentScope = Collection[str] | None  # a token's agents (auth.Scope); None: every agent
Agents = tuple[str | None, ...]  # the agents whose ranges a list reads, sorted; (None,): every agent


def list_key(agent_id: str, job_id: str) -> str:
    """The list index's sort key of a job."""
    return f"{agent_id}#{job_id}"


def list_agents(agent_id: str | None, scope: AgentScope) -> Agents:
    """The agents a list reads: the filter's (none if the scope excludes it), else the scope's."""
    if agent_id is not None:
        return (agent_id,) if scope is None or agent_id in scope else ()
    return (None,) if scope is None else tuple(sorted(scope))


class Position(NamedTuple):
    """Where a page starts: a status partition, after ``after`` (a listKey; ``<agentId>#``: at
    that agent's range start) or at its start."""

    status: str
    after: str | None = None

    def encode(self) -> str:
        """The opaque cursor of this position."""
        raw = json.dumps([self.status] + ([self.after] if self.after else []), separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def agent(self, agents: Agents) -> str | None:
        """The agent range this position is in (the first one at a partition's start)."""
        return self.after.split("#", 1)[0] if self.after and agents != (None,) else agents[0]

    def start_key(self) -> dict[str, Any] | None:
        """The query's exclusive start key: after the listKey, none at a range's start."""
        job_id = self.after.split("#", 1)[1] if self.after else ""
        if not job_id:
            return None
        return {"status": {"S": self.status}, "listKey": {"S": self.after}, "id": {"S": job_id}}


def range_start(status: str, agent: str | None, agents: Agents) -> Position:
    """The position at the start of ``agent``'s range of ``status`` (the partition's start for
    the first agent: the cursor the single-agent and unscoped lists have always given)."""
    return Position(status) if agent == agents[0] else Position(status, f"{agent}#")


def decode_position(cursor: str | None, statuses: Sequence[str], agents: Agents) -> Position:
    """The position a cursor names; a forged cursor, or one from other filters, is a 400."""
    if cursor is None:
        return Position(statuses[0])
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        position = Position(*raw) if isinstance(raw, list) and 1 <= len(raw) <= 2 else None
    except (ValueError, TypeError):
        position = None
    if position is None or position.status not in statuses or not _in_ranges(position.after, agents):
        raise ValidationFailed("cursor", "is not a cursor this API returned for these filters")
    return position


def _in_ranges(after: object, agents: Agents) -> bool:
    """Whether a cursor's key is one of ``agents``' (any agent's when unfiltered, and then a job's:
    only a filtered list has range starts)."""
    if after is None:
        return True
    if not isinstance(after, str) or after.count("#") != 1:
        return False
    agent, job_id = after.split("#")
    return bool(job_id) if agents == (None,) else agent in agents


@dataclass
class ListPage:
    """A page of jobs, the cursor resuming after each of them, and the next page's cursor."""

    jobs: list[JobModel] = field(default_factory=list)
    resume: list[str] = field(default_factory=list)
    following: str | None = None


class JobLister:
    """Pages of jobs from the ``list`` index of ``model``'s table."""

    def __init__(self, model: type[JobModel] = JobModel) -> None:
        self.model = model

    def page(self, status: str | None, agent_id: str | None, limit: int, cursor: str | None,
             scope: AgentScope = None) -> ListPage:
        """Up to ``limit`` jobs matching the filters (and the token's ``scope``), from ``cursor`` on."""
        agents = list_agents(agent_id, scope)
        if not agents:
            return ListPage()
        statuses = (status,) if status else STATUS_ORDER
        position = decode_position(cursor, statuses, agents)
        ranges = [(s, a) for s in statuses for a in agents]
        index = ranges.index((position.status, position.agent(agents)))
        keys: list[tuple[str, str, str]] = []
        following: Position | None = position
        try:
            while following is not None and len(keys) < limit:
                found, more = self._range(following, ranges[index][1], limit - len(keys))
                keys += found
                if more:  # the range goes on: resume after the last key read
                    following = Position(following.status, found[-1][1]) if found else following
                    break
                index += 1
                following = range_start(*ranges[index], agents) if index < len(ranges) else None
            return self._fetch(keys, status, agents, following)
        except PynamoDBException as exc:
            raise StoreUnavailable("jobs table unavailable while trying to list jobs; retry later") from exc

    def _range(self, at: Position, agent: str | None, want: int) -> tuple[list[tuple[str, str, str]], bool]:
        """(status, listKey, id) of up to ``want`` entries of one status (and agent) after ``at``;
        and whether more may follow."""
        condition = self.model.listKey.startswith(f"{agent}#") if agent else None
        results = self.model.listing.query(at.status, condition, limit=want, page_size=want,
                                           last_evaluated_key=at.start_key())
        found = [(at.status, str(item.listKey), str(item.id)) for item in results]
        return found, results.last_evaluated_key is not None

    def _fetch(self, keys: list[tuple[str, str, str]], status: str | None, agents: Agents,
               following: Position | None) -> ListPage:
        """The jobs of ``keys`` in index order (one BatchGetItem per 100), skipping any that was
        deleted or no longer matches the filters since the index was read."""
        items: dict[str, Any] = {job.id: job for job in self.model.batch_get([k[2] for k in keys])} if keys else {}
        page = ListPage(following=following.encode() if following else None)
        for key_status, key, job_id in keys:
            job = items.get(job_id)
            if job is None or (status and job.status != status) or (agents != (None,) and job.agentId not in agents):
                continue
            page.jobs.append(job)
            page.resume.append(Position(key_status, key).encode())
        return page
