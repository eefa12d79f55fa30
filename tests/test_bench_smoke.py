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
from chalicelib.engine.dispatch import shard_of
from chalicelib.store.models import JobModel

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


def test_the_list_bench_counts_two_items_per_listed_job(aws: dict[str, str]) -> None:
    """bench.listing on 200 jobs: every page of 100 reads its 100 index entries and 100 jobs."""
    from bench import listing
    from bench.counting import COUNTER

    _seed()
    COUNTER.install()
    try:
        attach_models(COUNTER, JobModel)
        rows = {row["filter"]: row for row in listing.measure(JOBS)["filters"]}
    finally:
        COUNTER.uninstall()
    first = rows["none"]["limit_100"][0]
    assert (first["jobs"], first["items_read"], first["dynamodb_calls"]) == (100, 200, 2)
    assert rows["status=paused"]["limit_100"][0]["jobs"] == len([i for i in range(DUE, JOBS) if i % 20 == 0])
    assert rows["status=failed (empty)"]["limit_100"] == [{"jobs": 0, "items_read": 0, "dynamodb_calls": 1,
                                                            "calls": {"dynamodb.Query": 1}}]


def test_a_call_that_ends_without_an_answer_leaves_nothing_in_flight() -> None:
    # Given the bench's call counter on a client whose endpoint nothing listens on
    import botocore.session
    import pytest
    from botocore.config import Config
    from botocore.exceptions import EndpointConnectionError

    from devtools.agent_server import unused_port

    counter = CallCounter().install()
    try:
        client = botocore.session.get_session().create_client(
            "dynamodb", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{unused_port()}",
            aws_access_key_id="x", aws_secret_access_key="x",
            config=Config(retries={"total_max_attempts": 1}, connect_timeout=1))
        # When a call fails without an answer (botocore's after-call-error carries no model)
        with pytest.raises(EndpointConnectionError):
            client.list_tables()
    finally:
        counter.uninstall()
    # Then the call is no longer in flight (the bench's settle waits for zero), and is not counted
    assert counter.in_flight["dynamodb"] == 0
    assert counter.total.calls == Counter()


def test_the_reconciler_bench_reads_the_overdue_runs_only(aws: dict[str, str]) -> None:
    """bench.reconcile on 60 and 240 runs in progress, 0 and 6 overdue: items read == overdue."""
    from bench import feature_sections, reconcile
    from bench.counting import COUNTER
    from chalicelib.store.models import RunModel

    COUNTER.install()
    try:
        attach_models(COUNTER, RunModel)
        COUNTER.attach(runtime.reconciler().queue.client)
        figures = reconcile.measure(sizes=(60, 240), overdue=(0, 6))
    finally:
        COUNTER.uninstall()
    cases = [(c["runs_in_progress"], c["overdue"]) for c in figures["cases"]]
    assert cases == [(60, 0), (60, 6), (240, 0), (240, 6)]
    for c in figures["cases"]:
        assert c["items_read"] == c["pass_items_read"] == c["overdue_found"] == c["overdue"], c
        assert c["messages_sent"] == c["repaired"] == c["rechecked"] == c["overdue"], c
        assert c["calls"] == {"dynamodb.Query": figures["shards"],
                              **({"dynamodb.UpdateItem": c["overdue"], "sqs.SendMessageBatch": c["overdue"]}
                                 if c["overdue"] else {})}, c
        assert c["scan_items_read"] == c["runs_in_progress"]  # the reference reads every run in progress
    assert "| 240 | 6 | 6 |" in feature_sections.reconcile_section({"reconcile": figures})
