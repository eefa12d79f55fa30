"""The job list: pages read through the ``list`` index, at a cost of O(page) whatever the filters.

The index (``models.ListIndex``) is keyed by ``status`` and sorted by ``listKey`` =
``<agentId>#<id>``, keys only. A page walks the statuses asked for (one, or all four in a fixed
order), querying each for at most what is left of the page (``begins_with <agentId>#`` when an
agent is asked for), then fetches the page's jobs with BatchGetItem. Items read per page: the
page's index entries plus its jobs, never the rest of the table.

The cursor names the status partition and the last index key returned, so a page can also end
early (the API caps a page by bytes) and the next one resumes right after its last job.
"""
from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pynamodb.exceptions import PynamoDBException

from .errors import StoreUnavailable, ValidationFailed
from .models import JobModel, JobStatus

STATUS_ORDER = tuple(s.value for s in JobStatus)


def list_key(agent_id: str, job_id: str) -> str:
    """The list index's sort key of a job."""
    return f"{agent_id}#{job_id}"


class Position(NamedTuple):
    """Where a page starts: a status partition, after ``after`` (a listKey) or at its start."""

    status: str
    after: str | None = None

    def encode(self) -> str:
        """The opaque cursor of this position."""
        raw = json.dumps([self.status] + ([self.after] if self.after else []), separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_position(cursor: str | None, statuses: Sequence[str], agent_id: str | None) -> Position:
    """The position a cursor names; a forged cursor, or one from other filters, is a 400."""
    if cursor is None:
        return Position(statuses[0])
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        position = Position(*raw) if isinstance(raw, list) and 1 <= len(raw) <= 2 else None
    except (ValueError, TypeError):
        position = None
    valid = position is not None and position.status in statuses and (
        position.after is None or (isinstance(position.after, str) and position.after.count("#") == 1
                                   and position.after.startswith(f"{agent_id}#" if agent_id else "")))
    if not valid:
        raise ValidationFailed("cursor", "is not a cursor this API returned for these filters")
    return position  # type: ignore[return-value]


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

    def page(self, status: str | None, agent_id: str | None, limit: int, cursor: str | None) -> ListPage:
        """Up to ``limit`` jobs matching the filters, from ``cursor`` on."""
        statuses = (status,) if status else STATUS_ORDER
        position = decode_position(cursor, statuses, agent_id)
        keys: list[tuple[str, str, str]] = []
        index = statuses.index(position.status)
        following: Position | None = position
        try:
            while following is not None and len(keys) < limit:
                found, more = self._partition(following, agent_id, limit - len(keys))
                keys += found
                if more:  # the partition goes on: resume after the last key read
                    following = Position(following.status, found[-1][1]) if found else following
                    break
                index += 1
                following = Position(statuses[index]) if index < len(statuses) else None
            return self._fetch(keys, status, agent_id, following)
        except PynamoDBException as exc:
            raise StoreUnavailable("jobs table unavailable while trying to list jobs; retry later") from exc

    def _partition(self, at: Position, agent_id: str | None, want: int) -> tuple[list[tuple[str, str, str]], bool]:
        """(status, listKey, id) of up to ``want`` entries of one status after ``at``; and whether
        more may follow."""
        condition = self.model.listKey.startswith(f"{agent_id}#") if agent_id else None
        start = None
        if at.after:
            start = {"status": {"S": at.status}, "listKey": {"S": at.after},
                     "id": {"S": at.after.split("#", 1)[1]}}
        results = self.model.listing.query(at.status, condition, limit=want, page_size=want,
                                           last_evaluated_key=start)
        found = [(at.status, str(item.listKey), str(item.id)) for item in results]
        return found, results.last_evaluated_key is not None

    def _fetch(self, keys: list[tuple[str, str, str]], status: str | None, agent_id: str | None,
               following: Position | None) -> ListPage:
        """The jobs of ``keys`` in index order (one BatchGetItem per 100), skipping any that was
        deleted or no longer matches the filters since the index was read."""
        items: dict[str, Any] = {job.id: job for job in self.model.batch_get([k[2] for k in keys])} if keys else {}
        page = ListPage(following=following.encode() if following else None)
        for key_status, key, job_id in keys:
            job = items.get(job_id)
            if job is None or (status and job.status != status) or (agent_id and job.agentId != agent_id):
                continue
            page.jobs.append(job)
            page.resume.append(Position(key_status, key).encode())
        return page
