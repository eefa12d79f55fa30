"""How many due-index entries fall in a time range of one shard: a Query with ``Select=COUNT``.

DynamoDB bills such a query for the entries it reads (0.5 read unit per 4 KB, eventually
consistent: ~20 entries per unit) and returns no item; an empty range costs one call and half a unit.
"""
from __future__ import annotations

from pynamodb.exceptions import QueryError

from . import dynamo
from .models import JobModel


def count_due(shard: int, start_ms: int, end_ms: int, model: type[JobModel] = JobModel) -> int:
    """Entries of ``shard`` whose ``nextRunAt`` is in [start_ms, end_ms)."""
    if end_ms <= start_ms:
        return 0
    try:
        return int(model.due.count(shard, model.nextRunAt.between(start_ms, end_ms - 1)))
    except QueryError as exc:
        raise dynamo.unavailable("jobs", "count the coming due jobs") from exc
