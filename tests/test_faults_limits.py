"""Fault injection at every write of a run that waits for its agent's slot (``maxConcurrent``)
and is charged to the agent's budget, with the injector of ``test_faults``.

The life: an agent with ``maxConcurrent: 1`` and a budget whose one slot is held by a run whose
executor died (its lease ends in 60 s); two occurrences of two jobs arrive and wait in its line;
the lease passes, a wake reaps the dead slot and grants it to the first; its final write frees
the slot and the second starts. A throttle, a lost answer or a crash at any write of that life,
then production recovers (SQS redelivery after the visibility timeout, wakes, leases passing).
The audit: both occurrences started exactly once and succeeded, nothing is left holding a slot
or waiting, and the agent's day counts both runs.
"""
from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib import runtime
from chalicelib.engine.dispatch import scheduled_run_id
from chalicelib.store.models import AgentModel, JobModel, RunModel, Trigger, agent_item_id
from chalicelib.store.runs import Occurrence
from chalicelib.store.sqs import EARLY_MS, Message
from conftest import receive_all, record_job
from fault_injector import WRITES, Injector
from infra.resources import QUEUE_VISIBILITY_S
from invariants import check_quiet
from test_faults import ledger, queue_url

AGENT = "8c7d6e5f-4a3b-4c2d-9e1f-0a9b8c7d6e5f"
LIMITED_WRITES = 29  # the writes (DynamoDB and SQS) of the life after its setup
GHOST_LEASE_S = 60


@pytest.fixture
def limited_engine(engine: dict[str, Any], configure: Any) -> dict[str, Any]:
    """The fault engine with an agent limited to one slot and a daily budget (in-process actions)."""
    configure({"agents": {AGENT: {"maxConcurrent": 1, "budget": {"maxCostUsdPerDay": 100}}}})
    return engine


def life(engine: dict[str, Any], faults: Injector | None = None, nth: int = 0, kind: str = "") -> list[Occurrence]:
    """The ghost holds the slot; two occurrences arrive and wait; the lease passes; both run."""
    clock = engine["clock"]
    jobs = [runtime.jobs().create(record_job(name=f"limited-{i}", agentId=AGENT, schedule=None,
                                             interval=3_600_000)) for i in range(2)]
    now = int(clock.t * 1000)
    AgentModel(agent_item_id(AGENT), holders={"run-ghost": now + GHOST_LEASE_S * 1000}, queued=0).save()
    occurrences = [Occurrence(job["id"], scheduled_run_id(job["id"], now + i), now + i, Trigger.SCHEDULE,
                              int(JobModel.get(job["id"]).generation), 1) for i, job in enumerate(jobs)]
    runtime.queue().send([Message(occ, now) for occ in occurrences], now)
    fault = faults.add_any(WRITES, kind=kind, skip=nth - 1) if faults is not None and nth else None
    drain_all(engine)
    if fault is not None:
        assert fault.fired == 1, "the sweep's write did not happen"
    return occurrences


def drain_all(engine: dict[str, Any]) -> None:
    """Production recovers: the queue is run empty, redeliveries and wakes come as time passes.

    One record at a time, earliest first (then by body): the life's writes come in one order,
    so that the sweep's n-th write is the same write in every run."""
    sqs, url, clock = boto3.client("sqs"), queue_url(engine), engine["clock"]
    for _ in range(200):
        records = sorted(receive_all(url), key=_order)
        if not records:
            return
        for later in records[1:]:  # back in the queue, untouched
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=later["receiptHandle"], VisibilityTimeout=0)
        record = records[0]
        clock.t = max(clock.t, (json.loads(record["body"])["notBefore"] - EARLY_MS) / 1000)
        if runtime.executor().handle_batch([record])["batchItemFailures"]:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0)
            clock.advance(QUEUE_VISIBILITY_S)  # SQS shows a failed record again after this
        else:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=record["receiptHandle"])
    raise AssertionError("queue not empty after 200 records")


def _order(record: dict[str, Any]) -> tuple[int, str, int]:
    body = json.loads(record["body"])
    return body["notBefore"], body.get("kind", ""), body["scheduledAt"]


def audit(request: pytest.FixtureRequest, engine: dict[str, Any], occurrences: list[Occurrence],
          boundary: bool = False) -> None:
    """Each occurrence ran once and succeeded (twice, same run id, only at the delivery boundary:
    a final write that never reached AWS); the agent holds and waits for nothing."""
    starts = engine["recorder"].runs()
    runs = [RunModel.get(o.job_id, o.run_id, consistent_read=True) for o in occurrences]
    agent = AgentModel.get(agent_item_id(AGENT), consistent_read=True)
    holders = dict(agent.holders.as_dict()) if agent.holders is not None else {}
    lost = sum(1 for o in occurrences if o.run_id not in starts)
    twice = sum(1 for o in occurrences if starts.count(o.run_id) > 1)
    ledger("faults-limits", request.node.name, occurrences=len(occurrences), lost=lost,
           twice=0 if boundary else twice, boundary_twice=twice if boundary else 0)
    assert lost == 0 and twice <= (1 if boundary else 0), starts
    assert all(starts.count(o.run_id) <= 2 for o in occurrences), starts
    assert [r.status for r in runs] == ["succeeded", "succeeded"], [(r.status, r.error) for r in runs]
    assert holders == {} and int(agent.queued or 0) == 0, (holders, agent.queued)
    assert all(r.queueAgent is None for r in runs)
    check_quiet(request, queue_url(engine))


def test_the_limited_life_has_the_writes_the_sweep_expects(limited_engine: dict[str, Any], faults: Injector,
                                                           request: pytest.FixtureRequest) -> None:
    occurrences = life(limited_engine, faults)
    writes = [c for c in faults.log if c in WRITES]
    # after the 2 creates and the ghost: the sends, per arrival its claim, gate, enqueue, the
    # job's slot held and its wake; the wakes' reaps, grants and starts; per granted run its
    # claim, gate, final write (run, job and agent slot) and the agent's settlement
    assert len(writes) == 4 + LIMITED_WRITES, writes
    audit(request, limited_engine, occurrences)


SWEEP = [(nth, "throttle") for nth in range(1, 1 + LIMITED_WRITES)] + [
    # a lost answer or a crash follows a write that succeeded, and only 26 of the life's writes
    # do (the gates that find every slot taken, and such, fail their condition)
    (nth, kind) for kind in ("lost", "crash") for nth in range(1, LIMITED_WRITES - 2)]


@pytest.mark.parametrize("nth, kind", SWEEP)
def test_a_fault_at_any_write_of_a_limited_run_loses_nothing_and_starts_nothing_twice(
        limited_engine: dict[str, Any], faults: Injector, request: pytest.FixtureRequest, nth: int, kind: str) -> None:
    # Given the nth write of the life fails (before reaching AWS, or after committing)
    occurrences = life(limited_engine, faults, nth, kind)
    faults.clear()
    drain_all(limited_engine)
    # Then both occurrences ran once, and no slot or place in line is left behind (a throttled
    # final write is the delivery boundary: the attempt runs again, with the same run id)
    audit(request, limited_engine, occurrences, boundary=kind == "throttle")
