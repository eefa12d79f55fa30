"""Per-agent concurrency (README "Guard rails": ``agents.<id>.maxConcurrent``), on moto."""
from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from chalicelib import clock, runtime
from chalicelib.engine import actions
from chalicelib.engine.dispatch import scheduled_run_id
from chalicelib.store.models import AgentModel, JobModel, RunModel, Trigger, agent_item_id
from chalicelib.store.runs import Occurrence
from chalicelib.store.sqs import Message
from conftest import job_body, receive_all

AGENT = "7a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d"
AT = 1_893_456_000_000  # a whole minute


class Meter:
    """The test agent: records starts in order and the most attempts running at once."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.starts: list[str] = []
        self.started_at: dict[str, float] = {}
        self.lock = threading.Lock()
        self.release = threading.Event()  # the first five hold their slots until this is set

    def __call__(self, ctx: Any) -> str:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.starts.append(ctx.run_id)
            self.started_at[ctx.run_id] = time.monotonic()
            first = len(self.starts) <= 5
        # The first five hold their slots until every other occurrence has arrived and waits;
        # the rest take a little while, so that the waiting ones pile up behind the limit.
        if first:
            self.release.wait(30)
        time.sleep(0.05)
        with self.lock:
            self.running -= 1
        return "done"


METER = Meter()
actions.action("METER")(lambda ctx: METER(ctx))


@pytest.fixture
def limited(aws: dict[str, str], configure: Any, fake_clock: Any, no_sqs_delay: None) -> dict[str, Any]:
    """An agent with maxConcurrent 5 (no url: in-process actions), a frozen clock, a fresh meter."""
    global METER
    configure({"agents": {AGENT: {"maxConcurrent": 5}}})
    METER = Meter()
    METER.release.set()  # only the burst test holds the first five
    fake_clock.t = AT / 1000
    return {**aws, "clock": fake_clock}


def burst_messages(count: int, spacing_ms: int = 10, **overrides: Any) -> list[Message]:
    """One occurrence of each of ``count`` jobs of the agent, all due in the same second."""
    messages = []
    for i in range(count):
        body = job_body(name=f"limited-{i:03d}", agentId=AGENT, schedule=None, interval=3_600_000,
                        payload={"action": "METER"}, **overrides)
        job = runtime.jobs().create(body)
        at = AT + 1_000 + i * spacing_ms
        generation = int(JobModel.get(job["id"]).generation)
        messages.append(Message(Occurrence(job["id"], scheduled_run_id(job["id"], at), at, Trigger.SCHEDULE,
                                           generation, 1), AT + 1_000))
    return messages


def drain(queue_url: str, pollers: int = 3) -> list[dict[str, Any]]:
    """Like Lambda's SQS pollers: several batches of 10 in flight, until only messages due later
    than the (frozen) clock's next seconds are left: those are parked in flight and returned."""
    sqs = boto3.client("sqs")
    parked: list[dict[str, Any]] = []

    def poll() -> None:
        idle = 0
        while idle < 3:
            records = receive_all(queue_url, max_rounds=1)
            later = [r for r in records if json.loads(r["body"])["notBefore"] > clock.now_ms() + 5_000]
            parked.extend(later)
            records = [r for r in records if r not in later]
            if not records:
                idle += 1
                time.sleep(0.05)
                continue
            idle = 0
            failures = {f["itemIdentifier"] for f in runtime.executor().handle_batch(records)["batchItemFailures"]}
            for record in records:
                if record["messageId"] not in failures:
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=record["receiptHandle"])
    with ThreadPoolExecutor(max_workers=pollers) as pool:
        list(pool.map(lambda _: poll(), range(pollers)))
    return parked


def unpark(queue_url: str, parked: list[dict[str, Any]]) -> None:
    """Make parked messages visible again (their time has come on the fake clock)."""
    for record in parked:
        boto3.client("sqs").change_message_visibility(QueueUrl=queue_url, ReceiptHandle=record["receiptHandle"],
                                                      VisibilityTimeout=0)


GRANTS: list[tuple[str, float]] = []


@pytest.fixture
def serialized_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """One moto call at a time, as the moto server serves them (in-process moto's DynamoDB and
    SQS iterate their dicts while other threads write them)."""
    from botocore.client import BaseClient

    lock, original = threading.Lock(), BaseClient._make_api_call

    def serialized(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        with lock:
            return original(client, operation, params)
    monkeypatch.setattr(BaseClient, "_make_api_call", serialized)


@pytest.fixture
def grants(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float]]:
    """Every slot granted to a waiting run, in order, with the real time of the grant."""
    from chalicelib.engine.agent_limits import AgentLimits

    original, lock = AgentLimits._grant, threading.Lock()
    GRANTS.clear()

    def grant(self: AgentLimits, agent_id: str, waiting: Any, *args: Any) -> Any:
        with lock:  # serialised here so that the recorded order is the order of the writes
            done = original(self, agent_id, waiting, *args)
            if done:
                GRANTS.append((waiting.occurrence.run_id, time.monotonic()))
        return done
    monkeypatch.setattr(AgentLimits, "_grant", grant)
    return GRANTS


def test_fifty_due_in_one_second_never_run_more_than_five_at_once_and_all_start_in_order(
        limited: dict[str, Any], grants: list[tuple[str, float]], serialized_aws: None) -> None:
    # Given 50 occurrences of an agent with maxConcurrent 5, due within the same second
    messages = burst_messages(50)
    METER.release.clear()
    runtime.queue().send(messages, AT)
    # When SQS hands them to parallel executors
    with ThreadPoolExecutor(max_workers=1) as background:
        drained = background.submit(drain, limited["queue_url"], 8)  # Lambda scales pollers: a long run blocks one
        deadline = time.monotonic() + 30
        while _waiting() < 45 and time.monotonic() < deadline:
            time.sleep(0.05)
        released = time.monotonic()
        METER.release.set()
        drained.result()
    assert all(at >= released for _, at in GRANTS)  # nothing was granted while the first five held
    # Then at most 5 ran at once, all 50 started once, and those that waited started in scheduled order
    assert METER.most == 5
    assert sorted(METER.starts) == sorted(m.occurrence.run_id for m in messages)
    # (the line is served in scheduled order; a granted run then starts within a second, though
    # SQS may hand two runs granted together to their executors in either order)
    scheduled = {m.occurrence.run_id: m.occurrence.scheduled_ms for m in messages}
    granted = [run_id for run_id, _ in GRANTS]
    assert [scheduled[r] for r in granted] == sorted(scheduled[r] for r in granted)
    assert sorted(granted) == sorted(METER.starts[5:])
    waits = sorted(METER.started_at[r] - at for r, at in GRANTS)
    # Grant to start is an SQS hop and a claim: on in-process moto with 80 threads on 2 cores its
    # median stays under the second; the tail is this machine's scheduler (see docs/benchmarks.md).
    assert waits[len(waits) // 2] < 1.0, waits
    assert all(RunModel.get(_job(r), r).status == "succeeded" for r in METER.starts)
    agent = AgentModel.get(agent_item_id(AGENT))
    assert (dict(agent.holders.as_dict()), int(agent.queued)) == ({}, 0)


def _waiting() -> int:
    try:
        return int(AgentModel.get(agent_item_id(AGENT)).queued or 0)
    except AgentModel.DoesNotExist:
        return 0


def _job(run_id: str) -> str:
    from chalicelib.store.runs import job_of_run

    return str(job_of_run(run_id))


def test_a_waiting_run_is_queued_and_shows_it(limited: dict[str, Any]) -> None:
    # Given the agent's 5 slots taken by runs whose executors are gone (leases far ahead)
    for i in range(5):
        AgentModel(agent_item_id(AGENT)).update(actions=[AgentModel.holders.set(AgentModel.holders | {})]) \
            if i == 0 else None
        AgentModel(agent_item_id(AGENT)).update(
            actions=[AgentModel.holders[f"run-{i}"].set(AT + 600_000)])
    [message] = burst_messages(1)
    # When an occurrence arrives
    outcome = runtime.executor().run(message)
    # Then it waits, queued, in its agent's line, and nothing ran
    run = RunModel.get(message.occurrence.job_id, message.occurrence.run_id)
    assert (outcome.value, run.status, run.queueAgent) == ("waiting", "queued", AGENT)
    assert METER.starts == [] and int(AgentModel.get(agent_item_id(AGENT)).queued) == 1
    # And once the dead holders' leases pass, its wake message reaps them and starts it
    parked = drain(limited["queue_url"], pollers=1)
    assert [json.loads(r["body"])["kind"] for r in parked] == ["wake"]
    limited["clock"].t = (AT + 601_000) / 1000
    unpark(limited["queue_url"], parked)
    drain(limited["queue_url"], pollers=1)
    assert METER.starts == [message.occurrence.run_id]
    assert RunModel.get(message.occurrence.job_id, message.occurrence.run_id).status == "succeeded"


def test_cancelling_a_waiting_run_takes_it_out_of_the_line(limited: dict[str, Any]) -> None:
    AgentModel(agent_item_id(AGENT)).update(actions=[AgentModel.holders.set(AgentModel.holders | {})])
    for i in range(5):
        AgentModel(agent_item_id(AGENT)).update(
            actions=[AgentModel.holders[f"run-{i}"].set(AT + 600_000)])
    [message] = burst_messages(1)
    runtime.executor().run(message)
    cancelled = runtime.run_service().cancel(message.occurrence.run_id)
    assert cancelled["status"] == "cancelled"
    assert int(AgentModel.get(agent_item_id(AGENT)).queued) == 0
    assert RunModel.get(message.occurrence.job_id, message.occurrence.run_id).queueAgent is None


def test_an_agent_with_only_limits_needs_no_url(limited: dict[str, Any]) -> None:
    from chalicelib.config import get_config

    entry = get_config().agent(AGENT)
    assert entry is not None and entry.url is None and entry.maxConcurrent == 5
