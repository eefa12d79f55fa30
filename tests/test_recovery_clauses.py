"""The engine's recovery clauses, each held by a test that fails without it (issue 23).

The fault sweep (tests/test_faults.py) uses daily and one-off jobs, so nothing ever competes
with a crashed run for what it left behind, and deleting either of these clauses of the claim
left every test green:

* ``runs.RunStore._slot_free``: ``activeUntil < now``, a later occurrence takes the overlap
  slot of a run whose executor died once the slot's bound has passed (else a frequent ``skip``
  job skips every occurrence until SQS shows the dead claimant's message again, ~10 min later);
* ``runs._claimable``: ``leaseUntil < now``, a takeover only of an attempt whose lease has
  passed (else two copies of a message, or a duplicate of a granted waiting run's message,
  start an occurrence twice while its claimant is alive and delivering).

Each test here names the clause it holds. Time is the fake clock; SQS delays and visibility
follow it (``sqs_on_fake_clock``), so a crashed claimant's message comes back when SQS would
show it again (the receive in ``conftest.receive_all`` hides it 600 s).
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import runtime
from chalicelib.clock import now_ms
from chalicelib.engine import actions
from chalicelib.engine.dispatch import scheduled_run_id
from chalicelib.engine.executor import Outcome
from chalicelib.store.models import AgentModel, JobModel, RunModel, Trigger, agent_item_id
from chalicelib.store.runs import Claim, Occurrence, RunStore
from chalicelib.store.sqs import Kind, Message, decode, encode
from conftest import Recorder, job_body, pump, receive_all, record_job
from fault_injector import Injector, is_claim

T0 = 1_893_456_000_000  # 2030-01-01T00:00:00Z, the fake clock's start
MINUTE = 60_000
LIMITED = "7a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d"  # an agent with maxConcurrent 1 (in-process actions)


@pytest.fixture(params=["batched", "per_message"])
def world(request: pytest.FixtureRequest, aws: dict[str, str], configure: Any, fake_clock: Any,
          sqs_on_fake_clock: None, recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """moto, an agent with one slot, a fake clock SQS follows, a recorder; each test on both executor paths."""
    monkeypatch.setenv("AGENTOS_EXECUTOR_BATCH", "1" if request.param == "batched" else "0")
    configure({"agents": {LIMITED: {"maxConcurrent": 1}}})
    return {**aws, "clock": fake_clock, "recorder": recorder}


def run_until(world: dict[str, Any], until_ms: int) -> None:
    """Let time pass second by second to ``until_ms``: a tick at each minute, the queue run at each second."""
    clock = world["clock"]
    while now_ms() < until_ms:
        if now_ms() % MINUTE == 0:
            runtime.dispatcher().tick(now_ms())
        while pump(world["queue_url"]):
            pass
        clock.t = (now_ms() // 1000 + 1)
    while pump(world["queue_url"]):
        pass


def run_of(job_id: str, at_ms: int) -> RunModel:
    return RunModel.get(job_id, scheduled_run_id(job_id, at_ms), consistent_read=True)


# --- _slot_free: (jobs.activeUntil < now_ms) -----------------------------------------------------

def test_the_next_occurrence_takes_a_crashed_runs_overlap_slot_after_its_bound(
        world: dict[str, Any], faults: Injector) -> None:
    # Given a job due every minute that skips overlapping occurrences, and an executor that dies
    # right after its claim of the 00:01 occurrence committed (the slot is held, nobody delivers)
    job = runtime.jobs().create(record_job(name="every-minute", schedule="* * * * *"))
    crash = faults.add("dynamodb", "TransactWriteItems", kind="crash", match=is_claim)
    lease_ms = runtime.executor().lease_ms
    # When five minutes pass (SQS shows the dead claimant's message again only after 600 s)
    run_until(world, T0 + 5 * MINUTE + 30_000)
    # Then the slot held 00:02 off (inside the crashed claim's bound), and every occurrence after the
    # bound ran: 00:03, 00:04, 00:05, each once
    assert crash.fired == 1
    crashed = run_of(job["id"], T0 + MINUTE)
    assert (crashed.status, int(crashed.attempt)) == ("running", 1)
    bound = int(crashed.leaseUntil)
    assert bound <= int(crashed.startedAt) + lease_ms < T0 + 3 * MINUTE
    skipped = run_of(job["id"], T0 + 2 * MINUTE)
    assert skipped.status == "skipped" and crashed.id in skipped.error
    expected = [scheduled_run_id(job["id"], T0 + m * MINUTE) for m in (3, 4, 5)]
    assert world["recorder"].runs() == expected
    assert [run_of(job["id"], T0 + m * MINUTE).status for m in (3, 4, 5)] == ["succeeded"] * 3
    assert JobModel.get(job["id"], consistent_read=True).activeRun is None


# --- _claimable: (model.leaseUntil < now_ms) -------------------------------------------------------

class Gated:
    """An in-process action that records each start, and holds the first start of a run in
    ``hold`` until the test lets it go (so that its claimant is alive and delivering)."""

    def __init__(self) -> None:
        self.starts: list[tuple[str, int]] = []
        self.hold: set[str] = set()
        self.delivering = threading.Event()
        self.go = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, ctx: Any) -> str:
        with self._lock:
            self.starts.append((ctx.run_id, ctx.attempt))
            held = ctx.run_id in self.hold
            self.hold.discard(ctx.run_id)
        if held:
            self.delivering.set()
            assert self.go.wait(30), "the test never let the delivery go"
        return "done"


GATED = Gated()
actions.action("GATED")(lambda ctx: GATED(ctx))


@pytest.fixture
def gated() -> Iterator[Gated]:
    global GATED
    GATED = Gated()
    yield GATED
    GATED.go.set()


def in_thread(work: Any, name: str | None = None) -> tuple[threading.Thread, list[Any]]:
    """Start ``work`` in a thread; its result (or exception) lands in the returned list."""
    out: list[Any] = []

    def body() -> None:
        try:
            out.append(work())
        except BaseException as exc:  # handed to the test
            out.append(exc)
    thread = threading.Thread(target=body, name=name)
    thread.start()
    return thread, out


def test_two_copies_of_a_crashed_claimants_message_take_it_over_once(
        world: dict[str, Any], faults: Injector, gated: Gated, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a one-off occurrence at 00:01 whose claimant died right after its claim committed
    job = runtime.jobs().create(job_body(name="crashed-once", agentId=LIMITED, schedule="2030-01-01T00:01:00Z",
                                         payload={"action": "GATED"}))
    at = T0 + MINUTE
    faults.add("dynamodb", "TransactWriteItems", kind="crash", match=is_claim)
    run_until(world, at + 5_000)
    crashed = run_of(job["id"], at)
    assert crashed.status == "running" and gated.starts == []
    # and, once its lease has passed, two copies of its message (the reconciler's re-send and the one
    # SQS shows again, say) each read the run as crashed before either takes it over
    world["clock"].t = (int(crashed.leaseUntil) + 1_000) / 1000
    message = Message(Occurrence.of_run(crashed)._replace(attempt=1), at)
    first_read, original = threading.Event(), RunStore.claim

    def claim(self: RunStore, occ: Occurrence, now: int, lease: int, started: int, charge: bool = True) -> Any:
        found = original(self, occ, now, lease, started, charge)
        if threading.current_thread().name == "late" and charge:
            assert found[0] is Claim.DUPLICATE and found[1] is not None and found[1].crashed(occ, now)
            first_read.set()
            assert gated.delivering.wait(30)  # the other copy took it over and is delivering now
        return found
    monkeypatch.setattr(RunStore, "claim", claim)
    gated.hold.add(crashed.id)
    executor = runtime.executor()
    late, late_out = in_thread(lambda: executor.run(decode(encode(message))), name="late")
    assert first_read.wait(30)
    early, early_out = in_thread(lambda: executor.run(decode(encode(message))))
    late.join(30)
    gated.go.set()
    early.join(30)
    # Then the copy whose takeover came second found a live lease: it started nothing
    assert (early_out, late_out) == ([Outcome.SUCCEEDED], [Outcome.DUPLICATE]), (early_out, late_out)
    assert gated.starts == [(crashed.id, 1)]
    # and when SQS shows the dead claimant's own message again, it starts nothing either
    world["clock"].t = (at + 11 * MINUTE) / 1000
    assert pump(world["queue_url"]) == 1
    assert gated.starts == [(crashed.id, 1)]
    assert run_of(job["id"], at).status == "succeeded"


def test_a_duplicate_of_a_granted_runs_message_does_not_take_over_its_live_claim(
        world: dict[str, Any], gated: Gated) -> None:
    # Given an agent with one slot, X delivering in it, and Y (same instant) waiting for it
    at = T0 + MINUTE
    x, y = (runtime.jobs().create(job_body(name=name, agentId=LIMITED, schedule="2030-01-01T00:01:00Z",
                                           payload={"action": "GATED"}))["id"] for name in ("x", "y"))
    world["clock"].t = at / 1000
    executor = runtime.executor()

    def attempt(job_id: str) -> Message:
        generation = int(JobModel.get(job_id, consistent_read=True).generation)
        return Message(Occurrence(job_id, scheduled_run_id(job_id, at), at, Trigger.SCHEDULE, generation, 1), at)
    gated.hold.add(scheduled_run_id(x, at))
    running_x, x_out = in_thread(lambda: executor.run(attempt(x)))
    assert gated.delivering.wait(30)
    assert executor.run(attempt(y)) is Outcome.WAITING
    # When X ends, Y is granted the slot and its start (an ``admitted`` message) is sent
    gated.go.set()
    running_x.join(30)
    assert x_out == [Outcome.SUCCEEDED]
    admitted = [m for m in map(decode, (r["body"] for r in receive_all(world["queue_url"])))
                if m.kind is Kind.ADMITTED]
    assert [m.occurrence.run_id for m in admitted] == [scheduled_run_id(y, at)]
    # and SQS hands that message to two executors: the first claims it and is delivering...
    gated.delivering.clear()
    gated.go.clear()
    gated.hold.add(scheduled_run_id(y, at))
    first, first_out = in_thread(lambda: executor.run(admitted[0]))
    assert gated.delivering.wait(30)
    # Then the second copy, inside the first one's lease, starts nothing
    assert executor.run(admitted[0]) is Outcome.DUPLICATE
    gated.go.set()
    first.join(30)
    assert first_out == [Outcome.SUCCEEDED]
    assert gated.starts == [(scheduled_run_id(x, at), 1), (scheduled_run_id(y, at), 1)]
    holders = AgentModel.get(agent_item_id(LIMITED), consistent_read=True).holders
    assert not (holders.attribute_values if holders is not None else {})

