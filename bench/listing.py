"""Job list cost: items read and DynamoDB calls per page, by filter, at a given table size.

Runs on the tick bench's population (one job in twenty paused, one agent) inside the same
``moto.mock_aws``. A page reads the ``list`` index (keys only) and then BatchGetItems its
jobs: both are counted as items read (bench.counting). Counts, not moto's wall times: moto
answers a GSI Query by scanning the whole table (MEASURED.md).
"""
from __future__ import annotations

from typing import Any

from chalicelib import runtime

from .counting import COUNTER
from .env import AGENT_ID

# (label, status, agentId): no filter, a rare status, the agent, both, and a status no job has.
FILTERS = [("none", None, None), ("status=paused", "paused", None), ("agentId", None, AGENT_ID),
           ("status=paused&agentId", "paused", AGENT_ID), ("status=failed (empty)", "failed", None)]
PAGES = 3  # pages followed per filter at the default limit


def _pages(status: str | None, agent: str | None, limit: int, pages: int) -> list[dict[str, Any]]:
    """Follow up to ``pages`` pages from the first; the counted cost of each."""
    service, cursor, out = runtime.jobs(), None, []
    for _ in range(pages):
        with COUNTER.measure() as tally:
            jobs, cursor = service.list(status, agent, limit, cursor)
        out.append({"jobs": len(jobs), "items_read": tally.items_read,
                    "dynamodb_calls": tally.service_calls("dynamodb"), "calls": dict(tally.calls)})
        if cursor is None:
            break
    return out


def measure(jobs_total: int) -> dict[str, Any]:
    """Per filter: the first ``PAGES`` pages at limit 100 and one page at limit 1."""
    rows = []
    for label, status, agent in FILTERS:
        default, single = _pages(status, agent, 100, PAGES), _pages(status, agent, 1, 1)
        rows.append({"filter": label, "limit_100": default, "limit_1": single[0],
                     "max_items_read_per_page_100": max(p["items_read"] for p in default),
                     "max_dynamodb_calls_per_page_100": max(p["dynamodb_calls"] for p in default)})
    return {"jobs_total": jobs_total, "table_items": 2 * jobs_total, "filters": rows}
