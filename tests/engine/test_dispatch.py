"""The tick and the immediate enqueue (README, "Scheduling"), against moto SQS and DynamoDB."""
from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient

from chalicelib import runtime
from chalicelib.clock import now_ms
from chalicelib.engine.dispatch import plan, scheduled_run_id, shard_of
from chalicelib.store.jobs import Advance
from chalicelib.store.models import JobModel
from conftest import pump, receive_all, record_job


def create(**overrides: Any) -> dict[str, Any]:
    return runtime.jobs().create(record_job(**overrides))


def queued_bodies(queue_url: str) -> list[dict[str, Any]]:
    return [json.loads(r["body"]) for r in receive_all(queue_url)]


def test_created_job_due_in_5_s_is_enqueued_before_any_tick(engine: dict[str, Any]) -> None:
    # Given a job whose first occurrence is 5 s away
    job = create(name="soon", schedule=None, interval=5_000)
    # Then its occurrences are already in SQS, without any tick
    bodies = sorted(queued_bodies(engine["queue_url"]), key=lambda b: b["scheduledAt"])  # batches go in parallel
    assert bodies[0]["scheduledAt"] == now_ms() + 5_000
    assert bodies[0]["runId"] == scheduled_run_id(job["id"], now_ms() + 5_000)
    assert {b["jobId"] for b in bodies} == {job["id"]}


def test_far_job_waits_for_the_tick(engine: dict[str, Any]) -> None:
    create(name="later", schedule="5 0 * * *")  # 00:05, the clock is at 00:00
    assert queued_bodies(engine["queue_url"]) == []
    engine["clock"].advance(240)
    report = runtime.dispatcher().tick(now_ms())
    assert (report.jobs_seen, report.occurrences, report.advanced) == (1, 1, 1)
    assert [b["scheduledAt"] for b in queued_bodies(engine["queue_url"])] == [1_893_456_300_000]


def test_tick_reads_only_due_jobs(engine: dict[str, Any]) -> None:
    for i in range(30):
        create(name=f"far{i}", schedule="0 12 * * *")
    create(name="near", schedule="3 0 * * *")
    engine["clock"].advance(120)
    report = runtime.dispatcher().tick(now_ms())
    assert report.jobs_seen == 1 and report.occurrences == 1


def test_interval_job_gets_every_occurrence_in_the_window(engine: dict[str, Any]) -> None:
    job = create(name="fast", schedule=None, interval=10_000)
    times = [b["scheduledAt"] for b in queued_bodies(engine["queue_url"])]
    start = now_ms()
    assert sorted(times) == [start + 10_000 * k for k in range(1, 9)]  # lookahead 90 s
    assert JobModel.get(job["id"]).nextRunAt == start + 90_000


@pytest.mark.slow
def test_eight_parallel_ticks_start_each_of_500_occurrences_once(engine: dict[str, Any]) -> None:
    # Given 50 interval jobs whose next 10 occurrences each enter the window together
    for i in range(50):
        create(name=f"job{i}", schedule=None, interval=9_000)
    boto3.client("sqs").purge_queue(QueueUrl=engine["queue_url"])  # only the ticks below send
    for job in JobModel.scan(JobModel.agentId.exists()):
        job.update(actions=[JobModel.nextRunAt.set(now_ms() + 9_000)])
    engine["clock"].advance(1)
    # When 8 ticks run at once
    barrier = threading.Barrier(8)
    reports = []

    def tick() -> None:
        barrier.wait()
        reports.append(runtime.dispatcher().tick(now_ms()))

    threads = [threading.Thread(target=tick) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then each job was advanced by exactly one tick, and every occurrence starts exactly once
    assert sum(r.advanced for r in reports) == 50
    engine["clock"].advance(200)
    while pump(engine["queue_url"], delete=False):
        pass
    counts = Counter(engine["recorder"].runs())
    assert len(counts) == 500 and set(counts.values()) == {1}


def test_downtime_runs_once_then_resumes_cadence(engine: dict[str, Any]) -> None:
    job = create(name="hourly", schedule="0 * * * *")
    engine["clock"].advance(5 * 3600 + 600)  # 05:10, five occurrences missed
    runtime.dispatcher().tick(now_ms())
    times = sorted(b["scheduledAt"] for b in queued_bodies(engine["queue_url"]))
    assert times == [1_893_459_600_000]  # the first one missed, once; 06:00 is beyond the window
    assert JobModel.get(job["id"]).nextRunAt == 1_893_477_600_000  # 06:00


def test_interval_after_downtime_keeps_its_anchor() -> None:
    job = JobModel("job-x", interval=60_000, schedule=None, timezone="UTC", nextRunAt=1_000_000, generation=1)
    due, upcoming = plan(job, now_ms=1_000_000 + 10 * 60_000 + 5_000, horizon_ms=1_000_000 + 10 * 60_000 + 95_000)
    assert due == [1_000_000, 1_000_000 + 11 * 60_000]
    assert upcoming == 1_000_000 + 12 * 60_000


def test_paused_job_left_in_index_is_disarmed_not_dispatched(engine: dict[str, Any]) -> None:
    job = create(name="edited", schedule="5 0 * * *")
    JobModel(job["id"]).update(actions=[JobModel.status.set("paused")])  # console edit, dueShard kept
    engine["clock"].advance(240)
    report = runtime.dispatcher().tick(now_ms())
    assert report.disarmed == 1 and report.occurrences == 0
    assert JobModel.get(job["id"]).dueShard is None


def test_single_run_job_is_dispatched_once(engine: dict[str, Any]) -> None:
    job = create(name="once", schedule="2030-01-01T00:00:30Z")
    bodies = queued_bodies(engine["queue_url"])
    assert [b["scheduledAt"] for b in bodies] == [1_893_456_030_000]
    assert JobModel.get(job["id"]).dueShard is None
    engine["clock"].advance(40)
    assert runtime.dispatcher().tick(now_ms()).jobs_seen == 0


@pytest.mark.parametrize("shards", [1, 4, 16])
def test_shards_spread_jobs(shards: int) -> None:
    spread = Counter(shard_of(f"job-{i:016x}", shards) for i in range(2000))
    assert set(spread) == set(range(shards))
    assert max(spread.values()) < 2 * 2000 / shards


def test_crash_between_send_and_advance_loses_nothing(engine: dict[str, Any]) -> None:
    job = create(name="crashy", schedule="5 0 * * *")
    engine["clock"].advance(240)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runtime.job_store(), "advance", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("crash")))
        report = runtime.dispatcher().tick(now_ms())  # sent, then died before advancing
    assert report.errors and report.advanced == 0
    runtime.dispatcher().tick(now_ms())  # sends the same occurrence again and advances
    engine["clock"].advance(100)
    while pump(engine["queue_url"]):
        pass
    assert engine["recorder"].runs() == [scheduled_run_id(job["id"], 1_893_456_300_000)]


def test_batched_advance_skips_a_job_changed_since_the_read(engine: dict[str, Any]) -> None:
    # Given three jobs read by a tick, one of which an API change moves on before the write
    read = [JobModel.get(create(name=f"batch{i}", schedule="5 0 * * *")["id"]) for i in range(3)]
    runtime.jobs().update(read[1].id, {"schedule": "7 0 * * *"})
    changed = JobModel.get(read[1].id)
    # When the three advances go in one batch
    won = runtime.job_store().advance([Advance(job, 1_893_456_900_000, 0) for job in read])
    # Then the other two moved, and the changed job is exactly as the change left it
    assert won == [True, False, True]
    after = [JobModel.get(job.id) for job in read]
    assert [a.nextRunAt for a in (after[0], after[2])] == [1_893_456_900_000] * 2
    assert after[1].attribute_values == changed.attribute_values


def test_a_tick_advances_due_jobs_in_batches(engine: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # Given 60 jobs due at 00:05 and the default batch of 25 jobs per write
    for i in range(60):
        create(name=f"many{i}", schedule="5 0 * * *")
    engine["clock"].advance(240)
    calls: Counter[str] = Counter()
    original = BaseClient._make_api_call

    def counted(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls[operation] += 1
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    # When the tick dispatches them
    report = runtime.dispatcher().tick(now_ms())
    # Then 3 transactions advanced all 60 (and no job was written one by one)
    assert (report.occurrences, report.advanced) == (60, 60)
    assert (calls["TransactWriteItems"], calls["UpdateItem"]) == (3, 0)


def test_send_failure_keeps_the_job_for_the_next_tick(engine: dict[str, Any]) -> None:
    job = create(name="unsent", schedule="5 0 * * *")
    engine["clock"].advance(240)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runtime.queue(), "send", lambda messages, now: list(messages))  # SQS refuses all
        report = runtime.dispatcher().tick(now_ms())
    assert report.send_failures == 1 and report.advanced == 0
    assert runtime.dispatcher().tick(now_ms()).occurrences == 1
    engine["clock"].advance(100)
    pump(engine["queue_url"])
    assert engine["recorder"].runs() == [scheduled_run_id(job["id"], 1_893_456_300_000)]


# --- changing scheduler.dueShards loses no job (docs/reliability.md, section 8, item 4)

def _armed_shards(job_ids: list[str]) -> list[int]:
    shards = [JobModel.get(j).dueShard for j in job_ids]
    assert all(shard is not None for shard in shards)  # every job here is armed
    return [int(shard) for shard in shards if shard is not None]


@pytest.mark.parametrize("before, after, tick_before", [(16, 4, True), (16, 4, False), (2, 8, True), (1, 64, False)])
def test_changing_due_shards_loses_no_job(engine: dict[str, Any], configure: Any, before: int, after: int,
                                          tick_before: bool) -> None:
    """Jobs armed under ``before`` shards all run once under ``after``, and move to its shards.

    ``tick_before=False``: no tick ever ran under the old count (jobs were only created)."""
    configure({"scheduler": {"dueShards": before}})
    ids = [create(name=f"daily{i}", schedule="5 0 * * *")["id"] for i in range(24)]
    if before > after:
        assert max(_armed_shards(ids)) >= after  # some jobs sit outside the new count's shards
    if tick_before:
        assert runtime.dispatcher().tick(now_ms()).occurrences == 0  # 00:00: nothing due yet
    configure({"scheduler": {"dueShards": after}})
    engine["clock"].advance(240)  # 00:04, the tick that sends the 00:05 occurrences
    report = runtime.dispatcher().tick(now_ms())
    assert (report.jobs_seen, report.occurrences, report.advanced, report.errors) == (24, 24, 24, [])
    assert sorted(b["jobId"] for b in queued_bodies(engine["queue_url"])) == sorted(ids)
    assert all(shard is not None and shard < after for shard in _armed_shards(ids))  # migrated


def test_the_tick_still_reads_only_the_shards_in_use(engine: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """With the default count and nothing recorded: the shards and one read of the recorded count."""
    queried: list[int] = []
    store = runtime.job_store()
    original = store.due
    def due(shard: int, before: int) -> Iterator[JobModel]:
        queried.append(shard)
        return original(shard, before)
    monkeypatch.setattr(store, "due", due)
    runtime.dispatcher().tick(now_ms())
    assert sorted(queried) == [0, 1, 2, 3]


def test_a_burst_of_first_sends_looks_the_queue_up_once(aws: dict[str, str]) -> None:
    # Given a fresh queue client, counting its GetQueueUrl calls
    from chalicelib.store.models import Trigger
    from chalicelib.store.runs import Occurrence
    from chalicelib.store.sqs import Message

    queue = runtime.queue()
    lookups: list[str] = []
    queue.client.meta.events.register("before-call.sqs.GetQueueUrl", lambda **kw: lookups.append("GetQueueUrl"))
    start, now = threading.Barrier(20), now_ms()

    def send(i: int) -> None:
        start.wait()
        queue.send_one(Message(Occurrence(f"job-{i}", f"run-{i}", now, Trigger.SCHEDULE, 1, 1), now), now)

    # When twenty threads send their first message at once
    threads = [threading.Thread(target=send, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then every message is queued and the URL was looked up once
    assert len(receive_all(aws["queue_url"])) == 20
    assert lookups == ["GetQueueUrl"]


def test_a_batched_advance_moves_a_job_past_its_end_at_to_its_end_entry(engine: dict[str, Any],
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # Given three daily jobs due at 00:05, one of which ends at 00:06 (its next occurrence is tomorrow)
    ids = [create(name=f"ends{i}", schedule="5 0 * * *", **({"endAt": "2030-01-01T00:06:00Z"} if i == 1 else {}))["id"]
           for i in range(3)]
    engine["clock"].advance(240)
    calls: Counter[str] = Counter()
    original = BaseClient._make_api_call

    def counted(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls[operation] += 1
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    # When one tick sends and advances them in one batch
    report = runtime.dispatcher().tick(now_ms())
    # Then the two others moved to tomorrow, and the ending one to its end entry, half a ms past endAt
    # (its failed condition said why, in the same call: one more transaction, no read)
    assert (report.occurrences, report.advanced, report.lost_races) == (3, 3, 0)
    assert (calls["TransactWriteItems"], calls["GetItem"], calls["UpdateItem"]) == (2, 0, 0)
    assert [JobModel.get(i).nextRunAt for i in ids] == [1_893_542_700_000, 1_893_456_360_000.5, 1_893_542_700_000]
    # And the first tick after 00:06 completes it (the ticks before find it and leave it)
    engine["clock"].advance(60)
    assert runtime.dispatcher().tick(now_ms()).completed == 0
    engine["clock"].advance(61)
    assert runtime.dispatcher().tick(now_ms()).completed == 1
    assert [JobModel.get(i).status for i in ids] == ["active", "completed", "active"]


def test_a_local_snapshot_restores_a_job_at_its_end_entry() -> None:
    """scripts/snapshot.py reads nextRunAt as a number: an end entry's fraction must not stop a restore."""
    from scripts.snapshot import rewind_jobs

    items = [{"id": {"S": "job-e"}, "status": {"S": "active"}, "generation": {"N": "1"},
              "nextRunAt": {"N": "5000.5"}}]
    assert rewind_jobs(items, {("job-e", 1): 9000}, shards=4) == 0  # nothing undelivered before it
    assert rewind_jobs(items, {("job-e", 1): 4000}, shards=4) == 1  # the tick re-sends 4000, then ends it again
    assert items[0]["nextRunAt"] == {"N": "4000"}


def test_the_recorded_due_shard_count_comes_down_once_the_high_shards_are_empty(
        engine: dict[str, Any], configure: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.store.shard_span import SHARD_SPAN_ID, SPAN_GRACE_MS

    # Given daily jobs armed under 16 shards: some at 00:05, and one at 12:00 in a shard above 4
    configure({"scheduler": {"dueShards": 16}})
    early = [create(name=f"early{i}", schedule="5 0 * * *")["id"] for i in range(12)]
    late = [create(name=f"late{i}", schedule="0 12 * * *")["id"] for i in range(8)]
    assert max(_armed_shards(late)) >= 4 and max(_armed_shards(early)) >= 4
    configure({"scheduler": {"dueShards": 4}})

    def tick_at(seconds: float) -> None:
        engine["clock"].advance(seconds - (engine["clock"].t - 1_893_456_000))
        assert runtime.dispatcher().tick(now_ms()).errors == []

    def recorded() -> int:
        return int(JobModel.get(SHARD_SPAN_ID).nextRunAt)

    # When the 00:05 jobs move to the 4 shards: the 12:00 one still sits above, and the record stays
    for at in (240, 300, 1800, 1800 + SPAN_GRACE_MS / 1000):
        tick_at(at)
        assert recorded() == 16
    # Once the 12:00 jobs moved too, the record comes down, but only a grace period after the first empty look
    tick_at(12 * 3600 - 60)
    assert all(shard < 4 for shard in _armed_shards(late))
    tick_at(12 * 3600)
    tick_at(12 * 3600 + SPAN_GRACE_MS / 1000 - 60)
    assert recorded() == 16
    tick_at(12 * 3600 + SPAN_GRACE_MS / 1000)
    assert recorded() == 4
    # Then a later tick makes only the 4 shard queries and the record's read
    calls: Counter[str] = Counter()
    original = BaseClient._make_api_call

    def counted(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls[operation] += 1
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    tick_at(12 * 3600 + SPAN_GRACE_MS / 1000 + 60)
    assert dict(calls) == {"Query": 5}
    # And raising the count again calls the lowering off and is recorded as before
    configure({"scheduler": {"dueShards": 8}})
    tick_at(12 * 3600 + SPAN_GRACE_MS / 1000 + 120)
    assert recorded() == 8
