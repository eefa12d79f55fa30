"""The jobs that expect a success by a time (``expectSuccessWithinMs``, contract section 13):
the ``late`` index of the jobs table, and the writes that arm and disarm a job in it.

A job is armed (``lateShard``, ``lateAt``) while nobody was told it is late: ``lateAt`` is its
last success (or the moment the expectation was set, or the job resumed) plus the expectation.
The tick reads each shard up to now (O(late jobs): the index is sparse) and disarms each entry
with a conditional write on the ``lateAt`` it read, so one tick tells, once, even when ticks
overlap; the next success arms it again.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator

from pynamodb.exceptions import PynamoDBException, UpdateError
from pynamodb.expressions.update import Action

from . import dynamo
from .models import JobModel

LATE_SHARDS = 4  # spreads the index's writes of a burst of successes over this many keys
PAGE = 100  # late jobs read per shard and tick (the rest wait a minute)


def late_shard(job_id: str) -> int:
    """The ``late`` index shard of a job (a stable hash)."""
    return int.from_bytes(hashlib.blake2b(job_id.encode(), digest_size=4).digest(), "big") % LATE_SHARDS


def arm_changes(job_id: str, expect_ms: int | None, from_ms: int) -> dict[str, int | None]:
    """The job attributes that arm its watch from ``from_ms`` (None values: disarm it)."""
    if expect_ms is None:
        return {"lateAt": None, "lateShard": None}
    return {"lateAt": from_ms + int(expect_ms), "lateShard": late_shard(job_id)}


def arm_actions(job_id: str, expect_ms: int | None, from_ms: int) -> list[Action]:
    """:func:`arm_changes` as update actions (for a write that already updates the job)."""
    return [getattr(JobModel, key).remove() if value is None else getattr(JobModel, key).set(value)
            for key, value in arm_changes(job_id, expect_ms, from_ms).items()]


class LateJobs:
    """The armed jobs past their ``lateAt`` (given the jobs model)."""

    def __init__(self, model: type[JobModel] = JobModel) -> None:
        self.model = model

    def due(self, now_ms: int) -> Iterator[JobModel]:
        """The armed jobs whose ``lateAt`` passed (index projections: name, agentId, status)."""
        try:
            for shard in range(LATE_SHARDS):
                yield from self.model.late.query(shard, self.model.lateAt <= now_ms, limit=PAGE, page_size=PAGE)
        except PynamoDBException as exc:
            raise dynamo.unavailable("jobs", "read the late jobs") from exc

    def disarm(self, job_id: str, seen_at: int) -> bool:
        """Take the job out of the index if it is still armed at ``seen_at``; True if this call did."""
        try:
            self.model(job_id).update(actions=[self.model.lateAt.remove(), self.model.lateShard.remove()],
                                      condition=self.model.lateAt == seen_at)
            return True
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False  # a success re-armed it, another tick told, or it was deleted
            raise dynamo.unavailable("jobs", "disarm a late job") from exc
