"""What the run history of contract section 13 costs and saves (issue 26), in one process on moto.

* **A 5-s job paused for an hour.** The tick has already sent its next 90 s (18 occurrences) when
  the pause returns. Each of them used to write a ``skipped`` run (one PutItem, one new item);
  now each is dropped (engine/drops.py): its lost claim writes nothing more. Resuming dispatches
  the new generation only, so the hour adds nothing either way: the saving is per pause.
* **A 1-s job blocked by its budget for 12 hours.** Every occurrence is skipped (43,200). Sent one
  by one, each costs its lost claim and one streak write (parking off: measured on ``SAMPLE``
  skips, scaled); parked (store/parks.py), the job is not sent until its budget day ends: every
  minute of the 12 hours is ticked and measured, side by side in the same run.
* **``GET /api/runs`` at 10k and 100k runs.** Items read per page (index keys plus the page's items),
  seeded straight into moto in batches, over 20 jobs and 10 days, 1 % failed.

``python -m bench.history`` prints JSON and merges it into bench/results.json (key ``history``);
``make bench`` runs it as a part. docs/benchmarks.md, section "Run history".
"""
from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pynamodb.expressions.update import Action

from .harness import part_main

AGENT = "550e8400-e29b-41d4-a716-446655440000"
START_MS = 1_893_456_000_000  # 2030-01-01T00:00:00Z
SAMPLE = 300  # occurrences of the budget-blocked job actually run through the executor
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")


class Clock:
    """A clock the engine reads (chalicelib.clock), moved by hand."""

    def __init__(self) -> None:
        self.ms = START_MS

    def __call__(self) -> float:
        return self.ms / 1000

    def sleep_until(self, epoch_ms: int) -> None:
        self.ms = max(self.ms, epoch_ms)


@contextmanager
def counted() -> Iterator[Counter]:
    """DynamoDB calls made inside the block, by operation."""
    from botocore.client import BaseClient

    calls: Counter = Counter()
    original = BaseClient._make_api_call

    def spy(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name == "dynamodb":
            calls[operation] += 1
        return original(client, operation, params)

    BaseClient._make_api_call = spy
    try:
        yield calls
    finally:
        BaseClient._make_api_call = original


def _drain(queue_url: str, clock: Clock) -> int:
    """Run every message through the executor (Lambda's batches of 10), the clock moving 5 s a round
    (a message more than 5 s early goes back to the queue); how many ran."""
    import boto3

    from chalicelib import runtime

    sqs, seen = boto3.client("sqs"), set[str]()
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                  VisibilityTimeout=600).get("Messages", [])
        if not got:
            if _in_flight(sqs, queue_url) == 0:
                return len(seen)
            clock.ms += 5_000
            continue
        runtime.executor().handle_batch([{"messageId": m["MessageId"], "body": m["Body"]} for m in got])
        for m in got:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        seen.update(json.loads(m["Body"]).get("runId", m["Body"]) if m["Body"].startswith("{") else m["Body"]
                    for m in got)
        clock.ms += 1_000  # an early message (sent back) comes again a second later


def _in_flight(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages",
                                                                              "ApproximateNumberOfMessagesDelayed"])
    return sum(int(v) for v in attributes["Attributes"].values())


def _writes(calls: Counter) -> int:
    return sum(calls[op] for op in WRITES)


def paused(clock: Clock, queue_url: str) -> dict[str, Any]:
    """A 5-s job paused for an hour, then resumed: the writes of its dropped occurrences."""
    from chalicelib import runtime
    from chalicelib.store.models import RunModel

    job = runtime.jobs().create({"name": "paused-5s", "agentId": AGENT, "interval": 5_000,
                                 "payload": {"action": "ECHO"}})
    runtime.dispatcher().tick(clock.ms)  # the lookahead is in the queue
    runtime.jobs().update(job["id"], {"status": "paused"})
    with counted() as calls:
        dropped = _drain(queue_url, clock)
    clock.ms += 3_600_000
    runtime.jobs().update(job["id"], {"status": "active"})
    records = RunModel.count(job["id"])
    runtime.jobs().update(job["id"], {"status": "paused"})  # out of the way of the next measurements
    before = _writes(calls) + dropped  # each dropped occurrence also put a skipped run before issue 26
    return {"dropped_occurrences": dropped, "dynamodb_writes_now": _writes(calls),
            "dynamodb_writes_before": before, "writes_saved_per_pause": before - _writes(calls),
            "run_items_now": records, "run_items_before": dropped, "calls_now": dict(calls)}


def _spent_job(name: str, clock: Clock, blocked_ms: int) -> str:
    """A 1-s job whose budget is spent for the next ``blocked_ms``."""
    from chalicelib import runtime
    from chalicelib.store.models import JobModel

    job = runtime.jobs().create({"name": name, "agentId": AGENT, "interval": 1_000,
                                 "payload": {"action": "ECHO"}, "budget": {"maxTokensPerDay": 1}})
    spent: list[Action] = [JobModel.usageDay.set("2030-01-01"), JobModel.usageDayEnd.set(clock.ms + blocked_ms),
                           JobModel.usedTokens.set(10)]
    JobModel(job["id"]).update(actions=spent)
    return str(job["id"])


def unparked(clock: Clock, queue_url: str, sample: int) -> dict[str, Any]:
    """One skip per occurrence (parking off, as before it): ``sample`` skips, per skip."""
    from chalicelib import runtime
    from chalicelib.engine import parking
    from chalicelib.store.models import JobModel

    kept, parking.MIN_SKIPS = parking.MIN_SKIPS, 10**12  # never worth a park: every occurrence is sent
    try:
        job_id = _spent_job("blocked-unparked", clock, 12 * 3_600_000)
        with counted() as calls:
            while int(JobModel.get(job_id).skippedBudget or 0) < sample:
                _minute(clock, queue_url)
    finally:
        parking.MIN_SKIPS = kept
    skipped = int(JobModel.get(job_id).skippedBudget or 0)
    runtime.jobs().update(job_id, {"status": "paused"})  # out of the way of the parked measurement
    return {"sampled_skips": skipped, "writes_per_skip": round(_writes(calls) / skipped, 3),
            "calls_per_skip": {op: round(n / skipped, 3) for op, n in calls.items()}}


def _minute(clock: Clock, queue_url: str) -> int:
    from chalicelib import runtime

    runtime.dispatcher().tick(clock.ms)
    worked = _drain(queue_url, clock)
    clock.ms += 60_000
    return worked


def parked(clock: Clock, queue_url: str, hours: int) -> dict[str, Any]:
    """A 1-s job whose budget stays spent for ``hours``, parked: every tick of those hours, measured."""
    from chalicelib.store.models import JobModel, RunModel

    job_id = _spent_job("blocked-parked", clock, hours * 3_600_000)
    end, worked = clock.ms + hours * 3_600_000 - 60_000, 0
    with counted() as calls:
        while clock.ms < end:
            worked += _minute(clock, queue_url)
    stored = JobModel.get(job_id)
    streak = list(RunModel.query(job_id))
    return {"hours": hours, "messages_worked": worked, "writes": _writes(calls), "calls": dict(calls),
            "skips_counted": int(stored.skippedBudget or 0), "streak_count": int(stored.streakCount or 0),
            "run_items": len(streak)}


def blocked(clock: Clock, queue_url: str, sample: int, hours: int) -> dict[str, Any]:
    """A 1-s job blocked by its budget for 12 hours: parked (every minute of it measured), side by
    side with one skip per occurrence (measured on ``sample`` skips, scaled to 12 hours)."""
    before, now = unparked(clock, queue_url, sample), parked(clock, queue_url, hours)
    occurrences = 12 * 3_600
    writes_before = round(before["writes_per_skip"] * occurrences)
    # Parked, the writes are the first minute's (the lookahead's skips and the park): the hours after
    # it add none, so a shorter measurement (--quick) stands for 12 hours unscaled.
    return {"occurrences_12h": occurrences, "unparked": before, "parked": now,
            "writes_12h_unparked": writes_before, "writes_12h_parked": now["writes"],
            "writes_saved_12h": writes_before - now["writes"],
            "run_items_12h_before_streaks": occurrences, "run_items_12h_now": now["run_items"]}


def _seed(total: int, already: int) -> None:
    from chalicelib.store.models import RunModel
    from chalicelib.store.run_index import run_day

    with RunModel.batch_write() as batch:
        for i in range(already, total):
            job = f"job-{i % 20:016x}"
            at = START_MS - (i * 8_640_000 // max(total, 1)) * 100 - i  # spread over ~10 days, unique
            run_id = f"run-{at:013d}-{job[4:]}"
            failed = i % 100 == 0  # as a failed run's final write leaves it: in the sparse failed index
            batch.save(RunModel(job, run_id, trigger="schedule", scheduledAt=at, attempt=1,
                                runDay=run_day(run_id), status="failed" if failed else "succeeded",
                                failedDay=run_day(run_id) if failed else None))


def _page(wanted: Any, limit: int = 100, pages: int = 1) -> dict[str, Any]:
    from chalicelib.store.run_index import RunIndex

    index, cursor, shown = RunIndex(), None, 0
    started = time.perf_counter()
    for _ in range(pages):
        runs, cursor = index.page(wanted, limit, cursor, START_MS + 1)
        shown += len(runs)
    return {"items_read_per_page": round(index.items_read / pages, 1), "runs_per_page": round(shown / pages, 1),
            "ms_per_page_moto": round((time.perf_counter() - started) * 1000 / pages, 1)}


def listing(sizes: tuple[int, ...]) -> dict[str, Any]:
    """Items read per page of GET /api/runs as the table grows."""
    from chalicelib.store.run_index import RunFilter

    found, seeded = {}, 0
    for size in sizes:
        _seed(size, seeded)
        seeded = size
        found[str(size)] = {"newest_page": _page(RunFilter()), "fifth_page": _page(RunFilter(), pages=5),
                            "by_job": _page(RunFilter(job_id="job-0000000000000003")),
                            "failed_only": _page(RunFilter(status="failed")),
                            "manual_only": _page(RunFilter(trigger="manual"))}
    return found


def measure(quick: bool) -> dict[str, Any]:
    """Every figure, in one moto."""
    import chalicelib.store.sqs as queue_module
    from chalicelib import clock as engine_clock

    fake = Clock()
    engine_clock.set_source(fake, fake.sleep_until)
    queue_module.delay_seconds = lambda not_before_ms, now_ms: 0
    queue_url = _queue_url()
    return {"paused_5s_job_1h": paused(fake, queue_url),
            "budget_blocked_1s_job_12h": blocked(fake, queue_url, 60 if quick else SAMPLE, 2 if quick else 12),
            "runs_list": listing((1_000, 10_000) if quick else (10_000, 100_000))}


def _queue_url() -> str:
    import boto3

    from chalicelib import settings

    return str(boto3.client("sqs").get_queue_url(QueueName=settings.queues()[0])["QueueUrl"])


def main() -> int:
    """``python -m bench.history [--part] [--quick]``: JSON on stdout (alone: merged into results.json)."""
    quick = "--quick" in sys.argv
    return part_main("history", lambda: measure(quick), count_calls=False)


if __name__ == "__main__":
    raise SystemExit(main())
