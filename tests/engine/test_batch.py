"""A batch of attempts worked per batch (chalicelib/engine/batch.py): one claim transaction, one read.

Each case counts the executor's DynamoDB calls (botocore, below PynamoDB) and checks the
outcomes are those of the per-message path: duplicates, overlaps, paused jobs and maxRuns
lose their claim alone, and the rest of the batch still runs, once.
"""
from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from botocore.client import BaseClient

from chalicelib import runtime
from chalicelib.clock import now_ms
from chalicelib.engine.batch import MAX_CLAIMS, batchable
from chalicelib.engine.dispatch import scheduled_run_id
from chalicelib.store.models import JobModel, RunModel, Trigger
from chalicelib.store.runs import Occurrence
from chalicelib.store.sqs import BURST_EARLY_MS, EARLY_MS, Kind, Message, encode
from chalicelib.store.sqs import _burst_instants as burst_instants
from chalicelib.store.sqs import _visible_from as visible_from
from conftest import receive_all, record_job

T0 = 1_893_456_000_000  # 2030-01-01T00:00:00Z, the fake clock's start
AT_0005 = T0 + 300_000


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every DynamoDB operation made from now on, counted."""
    seen: Counter[str] = Counter()
    original = BaseClient._make_api_call

    def counted(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name == "dynamodb":
            seen[operation] += 1
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    return seen


def burst(count: int, **overrides: Any) -> list[str]:
    """``count`` daily jobs due at 00:05, sent by the 00:04:58 tick; their ids."""
    ids = [runtime.jobs().create(record_job(name=f"burst{i}", schedule="5 0 * * *", **overrides))["id"]
           for i in range(count)]
    return ids


def tick(engine: dict[str, Any]) -> list[dict[str, Any]]:
    """The tick just before 00:05; the records it queued."""
    engine["clock"].t = (AT_0005 - 2_000) / 1000
    runtime.dispatcher().tick(now_ms())
    return receive_all(engine["queue_url"])


def record(message: Message, tag: str) -> dict[str, Any]:
    """A Lambda SQS record for ``message``."""
    return {"messageId": tag, "body": encode(message), "receiptHandle": tag}


def test_a_batch_of_ten_is_claimed_in_one_transaction_and_read_in_one_call(engine: dict[str, Any],
                                                                           calls: Counter[str]) -> None:
    # Given ten jobs due at the same instant, in one SQS batch
    ids = burst(10)
    records = tick(engine)
    calls.clear()
    # When the executor works the batch
    assert runtime.executor().handle_batch(records) == {"batchItemFailures": []}
    # Then one claim transaction, one read, and one outcome write each: 1.2 calls per occurrence
    assert calls == Counter({"TransactWriteItems": 1 + 10, "BatchGetItem": 1}), calls
    assert sorted(engine["recorder"].runs()) == sorted(scheduled_run_id(j, AT_0005) for j in ids)


def test_the_per_message_reference_path_makes_three_calls_each(engine: dict[str, Any], calls: Counter[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTOS_EXECUTOR_BATCH", "0")
    runtime.reset()
    burst(10)
    records = tick(engine)
    calls.clear()
    assert runtime.executor().handle_batch(records) == {"batchItemFailures": []}
    assert calls == Counter({"TransactWriteItems": 20, "GetItem": 10}), calls


def test_losers_leave_the_transaction_and_the_rest_still_runs_once(engine: dict[str, Any],
                                                                   calls: Counter[str]) -> None:
    # Given a batch where one job is paused, one is busy with another run (overlap skip), one has
    # used up its maxRuns, and one occurrence already ran (a redelivered message)
    ids = burst(8)
    paused, busy, exhausted, ran = ids[:4]
    records = tick(engine)
    runtime.jobs().update(paused, {"status": "paused"})
    JobModel(busy).update(actions=[JobModel.activeRun.set("run-other"), JobModel.activeUntil.set(now_ms() + 60_000)])
    JobModel(exhausted).update(actions=[JobModel.maxRuns.set(1), JobModel.startedRuns.set(1)])
    runtime.executor().handle_batch([r for r in records if ran in r["body"]])
    calls.clear()
    # When the whole batch comes (the ran one again)
    assert runtime.executor().handle_batch(records) == {"batchItemFailures": []}
    made = Counter(calls)
    # Then the four lose alone and say why, the other four run, and nothing runs twice
    starts = Counter(engine["recorder"].runs())
    assert starts == Counter({scheduled_run_id(j, AT_0005): 1 for j in [ran, *ids[4:]]}), starts
    status = {j: RunModel.get(j, scheduled_run_id(j, AT_0005)) for j in ids[1:3]}
    assert RunModel.count(paused) == 0  # dropped by the pause: not a run (contract section 13)
    assert status[busy].status == "skipped" and "overlap" in status[busy].error and "run-other" in status[busy].error
    assert status[exhausted].status == "skipped" and "maxRuns" in status[exhausted].error
    # one cancelled transaction (its reasons name the four), one that wins for the four others; the
    # exhausted job completed with its history event (maxRuns) in one more; the busy one's skip opens
    # its job's streak of overlap skips (its run and the job's pointer: one more)
    assert made["TransactWriteItems"] == 2 + 4 + 1 + 1, made
    assert made["GetItem"] == 0 and made["BatchGetItem"] == 1, made


def test_two_attempts_of_one_job_in_a_batch_cannot_share_its_transaction(engine: dict[str, Any]) -> None:
    # Given an interval job whose two occurrences (overlap allow) reach the executor in one batch
    job = runtime.jobs().create(record_job(name="twice", schedule=None, interval=1_000, overlap="allow"))
    # (the first two: the API sends its occurrences on parallel threads, so SQS holds them in no
    # particular order; a later one would be too early to hold, and re-queued)
    records = sorted(receive_all(engine["queue_url"]), key=lambda r: json.loads(r["body"])["scheduledAt"])
    assert len(records) >= 2
    # When it runs them: the second claims on its own (DynamoDB forbids two writes to one item)
    engine["clock"].t = (T0 + 1_000) / 1000
    assert runtime.executor().handle_batch(records[:2]) == {"batchItemFailures": []}
    # Then both ran, once each
    assert sorted(engine["recorder"].runs()) == [scheduled_run_id(job["id"], T0 + 1_000 * k) for k in (1, 2)]


def test_only_attempts_within_the_hold_and_one_per_job_are_batched() -> None:
    now = T0
    occ = [Occurrence(f"job-{k}", f"run-{k}", now, Trigger.SCHEDULE, 1, 1) for k in range(4)]
    messages: list[Message | None] = [
        Message(occ[0], now + 1_000), Message(occ[0], now + 2_000),  # the same job twice
        Message(occ[1], now + 60_000),  # too early to hold: re-queued per message
        Message(occ[2], now, Kind.CHECK), None,  # a deadline check, a malformed body
        Message(occ[3], now)]
    assert batchable(messages, now) == [0, 5]
    many = [Message(Occurrence(f"job-{k}", f"run-{k}", now, Trigger.SCHEDULE, 1, 1), now) for k in range(60)]
    assert len(batchable(many, now)) == MAX_CLAIMS


def test_a_burst_arrives_earlier_the_larger_it_is_and_still_within_the_hold() -> None:
    from chalicelib.engine.progress import HOLD_MAX_MS

    assert EARLY_MS + BURST_EARLY_MS + 1000 <= HOLD_MAX_MS  # + SQS's whole-second delays
    occ = Occurrence("job-1", "run-1", T0, Trigger.SCHEDULE, 1, 1)
    # Given bursts of 100, 200, 201 and 1,000 due at four instants, and 99 at a fifth
    sizes = {T0: 100, T0 + 1000: 200, T0 + 2000: 201, T0 + 3000: 1000, T0 + 4000: 99}
    burst = [Message(occ, at) for at, n in sizes.items() for _ in range(n)]
    instants = burst_instants(burst)
    # Then each burst arrives a second earlier per 200 of it, at most BURST_EARLY_MS; the 99 on time
    assert instants == {T0: 1000, T0 + 1000: 1000, T0 + 2000: 2000, T0 + 3000: BURST_EARLY_MS}
    assert visible_from(burst[0], instants) == T0 - 1000
    assert visible_from(burst[-1], instants) == T0 + 4000
