"""Smoke test of the tick-counting benchmark (bench/): its counts are exact, so they are asserted.

Speed is shown by ``make bench``, not by timed tests: nothing here measures time.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Any

from bench import seed
from bench.counting import CallCounter, attach_models
from bench.naive_tick import naive_tick
from chalicelib import runtime
from chalicelib.dispatch import shard_of
from chalicelib.models import JobModel

JOBS, DUE = 200, 20
NOW_MS = 1_893_456_000_000  # 2030-01-01T00:00:00Z: the tick is given its instant, no clock needed


def _seed() -> Any:
    """200 jobs (and name claims) of which 20 are due; the dispatcher, its queue URL resolved."""
    dispatcher = runtime.dispatcher()
    seed.write(seed.tick_population(0, JOBS, DUE, NOW_MS, NOW_MS + dispatcher.lookahead_ms, dispatcher.shards))
    dispatcher.queue.url(dispatcher.queue.queue_name)  # once per process: not part of a tick
    return dispatcher


def _counted(dispatcher: Any, tick: Any) -> tuple[Any, Any]:
    """Run ``tick`` with every client hooked; (its report, what it called)."""
    counter = CallCounter().install()
    try:
        attach_models(counter, JobModel)
        counter.attach(dispatcher.queue.client)
        with counter.measure() as tally:
            report = tick(NOW_MS)
    finally:
        counter.uninstall()
    return report, tally


def test_the_tick_reads_one_index_entry_per_due_occurrence(aws: dict[str, str]) -> None:
    dispatcher = _seed()
    report, tally = _counted(dispatcher, dispatcher.tick)
    per_shard = Counter(shard_of(seed.job_id(0, i), dispatcher.shards) for i in range(DUE))
    assert report.occurrences == DUE and report.advanced == DUE and not report.errors
    assert tally.items_read == DUE
    assert tally.calls["dynamodb.Query"] == dispatcher.shards + 1  # + the recorded due-shard count
    # All 20 advances in one transaction (scheduler.advanceBatch = 25): no UpdateItem per job.
    assert tally.calls["dynamodb.TransactWriteItems"] == math.ceil(DUE / dispatcher.advance_batch) == 1
    # The shards are read in parallel, then sent together in full batches of ten.
    assert tally.calls["sqs.SendMessageBatch"] == math.ceil(DUE / 10)
    assert len(per_shard) > 1  # the due jobs really are spread over several shards
    assert set(tally.calls) == {"dynamodb.Query", "dynamodb.TransactWriteItems", "sqs.SendMessageBatch"}


def test_the_scan_reference_reads_the_whole_table(aws: dict[str, str]) -> None:
    dispatcher = _seed()
    report, tally = _counted(dispatcher, lambda now: naive_tick(dispatcher, now))
    assert report.occurrences == DUE and report.advanced == DUE
    assert tally.items_read == 2 * JOBS  # every job and its name claim
    assert tally.calls["sqs.SendMessageBatch"] == math.ceil(DUE / 10)
