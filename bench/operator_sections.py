"""docs/benchmarks.md's sections on what operators hear (issue 27): rendering only, no measuring
module imported (bench/report.py calls these; the figures come from bench/results.json)."""
from __future__ import annotations

from typing import Any

from .paper import md_table


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
    table = md_table(["jobs watched", "late", "items read", "DynamoDB calls", "SQS calls (notifications)",
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


def events_section(results: dict[str, Any]) -> str:
    """Section 1i: what a job's history costs each write it records (measured by bench/events.py)."""
    found = results.get("events")
    if not found:
        return ""
    labels = {"create": "POST /api/jobs", "patch": "PATCH /api/jobs/{id} (schedule)",
              "pause": "PATCH /api/jobs/{id} (status paused)", "run_now": "POST /api/jobs/{id}/run",
              "delete": "DELETE /api/jobs/{id}"}
    rows = [(labels.get(name, name),
             f"{c['before']['dynamodb_calls']} ({_calls(c['before']['calls'], 'dynamodb')})",
             f"{c['after']['dynamodb_calls']} ({_calls(c['after']['calls'], 'dynamodb')})",
             f"{c['before']['write_units']:g} -> {c['after']['write_units']:g}", f"{c['after']['event_bytes']:g}",
             f"{c['before']['median_ms_moto']} -> {c['after']['median_ms_moto']}")
            for name, c in found["cases"].items()]
    table = md_table(["request", "DynamoDB calls before", "after", "write units", "event bytes",
                    "median ms (moto, in process)"], rows)
    return f"""## 1i. A job's history: what an event costs its write

Each write of a job records its event in its own transaction (`chalicelib/store/events.py`), so a change
and its event are committed together or not at all (`bench/events.py`, {found['requests']} jobs per case,
through the API's routes on in-process moto; "before": the same requests with no event made). No request
makes one more call: a create and a delete were transactions already and carry one item more; a PATCH
(an UpdateItem) and a run now's record (a PutItem) become a two-item TransactWriteItems. Write units
follow DynamoDB's rule (1 per KB of an item in a standard write, 2 per KB of each item of a transaction)
on the stored items' sizes: an event is one item under 1 KB (a changed value over 1 KiB is kept as
`{{"truncated": true, "bytes": n}}`), so it adds 2 units, and a PATCH goes from 1 unit to 4 (its job item
now written transactionally). The breaker's pause and a job's end ride in writes that already were
transactions (the run's final write; a completion becomes one) and only when they happen. The milliseconds
are moto's on a shared machine: what the event adds in CPU, not AWS latency (one call either way).

{table}
"""
