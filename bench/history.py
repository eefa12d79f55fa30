"""What the run history of contract section 13 costs and saves (issue 26), in one process on moto.

* **A 5-s job paused for an hour.** The tick has already sent its next 90 s (18 occurrences) when
  the pause returns. Each of them used to write a ``skipped`` run (one PutItem, one new item);
  now each is dropped (engine/drops.py): its lost claim writes nothing more. Resuming dispatches
  the new generation only, so the hour adds nothing either way: the saving is per pause.
* **A 1-s job blocked by its budget for 12 hours.** Every occurrence is skipped (43,200). It used
  to put one run item each; now each extends the job's streak (store/streaks.py: one UpdateItem of
  the job item) and one run item stands for all. Measured on ``SAMPLE`` occurrences, scaled to
  12 hours; write units priced by DynamoDB's rule on the stored items' sizes (bench/events.py).
* **``GET /api/runs`` at 10k and 100k runs.** Items read per page (index keys plus the page's items),
  seeded straight into moto in batches, over 20 jobs and 10 days, 1 % failed.

``python -m bench.history`` prints JSON and merges it into bench/results.json (key ``history``);
``make bench`` runs it as a part. docs/benchmarks.md, section "Run history".
"""
from __future__ import annotations

import json
import math
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pynamodb.expressions.update import Action

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
    before = _writes(calls) + dropped  # each dropped occurrence also put a skipped run before issue 26
    return {"dropped_occurrences": dropped, "dynamodb_writes_now": _writes(calls),
            "dynamodb_writes_before": before, "writes_saved_per_pause": before - _writes(calls),
            "run_items_now": records, "run_items_before": dropped, "calls_now": dict(calls)}


def _item_size(item: Any) -> int:
    from .events import item_size

    return item_size(item.serialize())


def blocked(clock: Clock, queue_url: str, sample: int) -> dict[str, Any]:
    """A 1-s job whose budget is spent: ``sample`` skips through the executor, scaled to 12 hours."""
    from chalicelib import runtime
    from chalicelib.store.models import JobModel, RunModel

    job = runtime.jobs().create({"name": "blocked-1s", "agentId": AGENT, "interval": 1_000,
                                 "payload": {"action": "ECHO"}, "budget": {"maxTokensPerDay": 1}})
    spent: list[Action] = [JobModel.usageDay.set("2030-01-01"), JobModel.usageDayEnd.set(START_MS + 86_400_000),
             JobModel.usedTokens.set(10)]
    JobModel(job["id"]).update(actions=spent)
    with counted() as calls:
        skipped = 0
        while skipped < sample:
            runtime.dispatcher().tick(clock.ms)
            clock.ms += 60_000
            skipped += _drain(queue_url, clock)
    stored = JobModel.get(job["id"])
    streak = [r for r in RunModel.query(job["id"])]
    skipped = int(stored.skippedBudget or 0)  # the occurrences skipped (some messages came twice: early ones)
    per_skip_now = _writes(calls) / max(skipped, 1)
    job_units = math.ceil(_item_size(stored) / 1024)
    run_units = max(1, math.ceil(max((_item_size(r) for r in streak), default=300) / 1024))
    day = 12 * 3600
    return {"sampled_skips": skipped, "scaled_to_skips": day, "writes_per_skip_now": round(per_skip_now, 3),
            "calls_per_skip_now": {op: round(n / max(skipped, 1), 3) for op, n in calls.items()},
            "skip_write_units_now": job_units, "skip_write_units_before": run_units,
            "run_items_now": len(streak), "run_items_before_12h": day,
            "skipped_count_recorded": int(stored.streakCount or 0), "skipped_total": int(stored.skippedBudget or 0),
            "items_saved_12h": day - len(streak),
            "recent_index_writes_saved_12h": day - len(streak),
            "note": "calls per skip are the same (one write of the skip); items, index writes and TTL deletes fall "
                    "from one per skip to one per streak"}


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
            "budget_blocked_1s_job_12h": blocked(fake, queue_url, 60 if quick else SAMPLE),
            "runs_list": listing((1_000, 10_000) if quick else (10_000, 100_000))}


def _queue_url() -> str:
    import boto3

    from chalicelib import settings

    return str(boto3.client("sqs").get_queue_url(QueueName=settings.queues()[0])["QueueUrl"])


def _measured(measure_fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Provision the dev stage in a fresh in-process moto and measure (env set before chalicelib)."""
    from . import env

    with tempfile.TemporaryDirectory(prefix="agentos-bench-") as tmp:
        path = env.write_config(Path(tmp) / "agentos.config.json", None, Path(tmp) / "logs")
        env.prepare(config_path=path)
        from moto import mock_aws

        from infra.provision import provision

        tuned = env.tune_moto()
        with mock_aws():
            provision("dev")
            return {**measure_fn(), "moto_adjustments": tuned}


def main() -> int:
    """``python -m bench.history [--part] [--quick]``: JSON on stdout (alone: merged into results.json)."""
    import logging

    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    quick = "--quick" in sys.argv
    figures = _measured(lambda: measure(quick))
    if "--part" not in sys.argv:
        from .alone import merge_results

        merge_results("history", figures)
    json.dump(figures, sys.stdout, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
