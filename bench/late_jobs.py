"""What ``job.late`` costs the minute tick: one pass over the jobs that expect a success.

Each minute, when a receiver takes ``job.late``, the tick runs ``runtime.late_watch().run()``
(chalicelib/engine/lateness.py): one Query per shard of the jobs table's sparse ``late`` index for the
jobs whose ``lateAt`` passed, then for each a conditional UpdateItem (disarm) and one SQS message
(the notification). This part seeds armed jobs straight into the jobs table (``lateShard``/``lateAt``
as chalicelib/store/late.py writes them), 1,000 and then 10,000, with 0 and then 100 of them late,
and counts one pass in each case: items read must be the late jobs, not the watched ones
(O(late jobs), the issue's rule), where a Scan would read every job.

``python -m bench.late_jobs`` measures it alone and merges it into bench/results.json; ``make bench`` runs it as a part
(``--part``) and keeps it under ``late_jobs``; docs/benchmarks.md section 1h is written by
bench/operator_sections.py.
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from .harness import part_main

WATCHED = (1_000, 10_000)
LATE = (0, 100)
MINUTE_MS = 60_000
RECEIVER = "http://127.0.0.1:9/late"  # never reached: the pass only queues the notifications


def _job(i: int, now: int, late: bool) -> Any:
    """Job ``i``, armed: late (its lateAt passed) or watched (its lateAt an hour ahead, spread)."""
    from chalicelib.store.late import arm_changes
    from chalicelib.store.models import JobModel

    job_id = f"job-b0{i:014x}"
    at = now - MINUTE_MS - i % 60 * 1_000 if late else now + MINUTE_MS + i % 3_600 * 1_000
    job = JobModel(job_id, name=f"watched-{i}", agentId="550e8400-e29b-41d4-a716-446655440000", payload="{}",
                   status="active", expectSuccessWithinMs=3_600_000, createdAt=now, updatedAt=now)
    for key, value in arm_changes(job_id, 3_600_000, at - 3_600_000).items():
        setattr(job, key, value)
    return job


def _write(jobs: Iterable[Any]) -> int:
    from chalicelib.store.models import JobModel

    count = 0
    with JobModel.batch_write() as batch:
        for job in jobs:
            batch.save(job)
            count += 1
    return count


def _pass(now: int) -> dict[str, Any]:
    """One counted pass at ``now``."""
    from chalicelib import runtime

    from .counting import COUNTER

    watch = runtime.late_watch()
    assert watch is not None, "the bench's config has a job.late receiver"
    with COUNTER.measure() as tally:
        started = time.perf_counter()
        told = watch.run(now)
        wall = time.perf_counter() - started
    return {"told": told, "items_read": tally.items_read, "dynamodb_calls": tally.service_calls("dynamodb"),
            "sqs_calls": tally.service_calls("sqs"), "calls": dict(sorted(tally.calls.items())),
            "wall_s": round(wall, 3)}


def _scan_items(now: int) -> int:
    """What a Scan for the late jobs reads (the reference the index replaces)."""
    from chalicelib.store.models import JobModel

    from .counting import COUNTER

    with COUNTER.measure() as tally:
        for _ in JobModel.scan(JobModel.lateAt <= now):
            pass
    return tally.items_read


def measure(sizes: Sequence[int] = WATCHED, late: Sequence[int] = LATE) -> dict[str, Any]:
    """Every case in one run, on one jobs table that grows from one size to the next."""
    from chalicelib.store.late import LATE_SHARDS

    now = int(time.time() * 1000)
    cases, seeded = [], 0
    for total in sizes:
        seeded += _write(_job(i, now, False) for i in range(seeded, total))
        for count in late:
            ids = [k * (total // count) for k in range(count)] if count else []
            _write(_job(i, now, True) for i in ids)
            counted = _pass(now)
            if counted["told"] != count:
                raise AssertionError(f"{count} late of {total}: {counted}")
            cases.append({"watched": total, "late": count, **counted, "scan_items_read": _scan_items(now)})
            _write(_job(i, now, False) for i in ids)  # armed again, on time, for the next case
    return {"cases": cases, "shards": LATE_SHARDS}


def main() -> int:
    """``python -m bench.late_jobs [--part]``: JSON on stdout; alone, also merged into bench/results.json."""
    return part_main("late_jobs", measure, notifications=[{"url": RECEIVER, "events": ["job.late"]}])


if __name__ == "__main__":
    raise SystemExit(main())
