"""docs/benchmarks.md's sections on what operators hear (issue 27): rendering only, no measuring
module imported (bench/report.py calls these; the figures come from bench/results.json)."""
from __future__ import annotations

from typing import Any

from .paper import _table


def _calls(calls: dict[str, int], service: str) -> str:
    return ", ".join(f"{name.split('.', 1)[1]} {count}" for name, count in calls.items()
                     if name.startswith(f"{service}.") and not name.endswith("GetQueueUrl")) or "none"


def late_jobs_section(results: dict[str, Any]) -> str:
    """Section 1h: what job.late costs the minute tick (measured by bench/late_jobs.py)."""
    late = results.get("late_jobs")
    if not late:
        return ""
    rows = [(f"{c['watched']:,}", c["late"], c["items_read"],
             f"{c['dynamodb_calls']} ({_calls(c['calls'], 'dynamodb')})",
             f"{c['sqs_calls']} ({_calls(c['calls'], 'sqs')})", f"{c['scan_items_read']:,}", c["wall_s"])
            for c in late["cases"]]
    table = _table(["jobs watched", "late", "items read", "DynamoDB calls", "SQS calls (notifications)",
                    "a Scan would read", "pass wall s (moto)"], rows)
    return f"""## 1h. job.late: O(late jobs) a minute

One pass of the tick's `job.late` watch (`chalicelib/engine/lateness.py`, `bench/late_jobs.py`), on jobs
written armed into the jobs table (`lateShard`/`lateAt`, as `chalicelib/store/late.py` arms them at each
success): the sparse `late` index is read per shard ({late['shards']} Queries) up to now, each late job is
disarmed by one conditional UpdateItem and told by one SQS message (its notification, posted by the
executor). Nothing is read for the jobs that are not late, however many are watched; with no
receiver of `job.late` configured the tick makes no pass at all.

{table}
"""
