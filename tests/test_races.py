"""Races: parallel ticks and executors against concurrent PATCH (pause, reschedule) and DELETE.

Threads call the service layer (``runtime.jobs()``) directly: Chalice's test client swaps
``os.environ`` per request and is not thread-safe.

moto's DynamoDB has no locking: a conditional write is a check and a write that another
thread can interleave, which real DynamoDB never allows for one item. The
``atomic_dynamodb`` fixture makes each DynamoDB call atomic (one at a time), which is
faithful: every race in this code is *between* calls, and those stay free to interleave.

What is checked, with real time stamps (``time.monotonic_ns``) on both sides:
* every occurrence starts at most once;
* a claim that *began* after a pause or a delete *returned* never wins (so nothing
  starts after the 200/204, apart from a delivery whose claim committed before it);
* after a schedule change returned, no claim of an older generation wins;
* a deleted job's item never reappears, a paused job is never re-armed.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient

from chalicelib import runtime
from chalicelib.clock import from_ms, now_ms
from chalicelib.engine import batch
from chalicelib.engine.dispatch import scheduled_run_id
from chalicelib.store.models import JobModel, NameClaim, RunModel
from chalicelib.store.runs import Claim, Occurrence, RunStore
from chalicelib.store.sqs import decode
from conftest import pump, receive_all, record_job
from infra.resources import QUEUE_VISIBILITY_S
from invariants import check_quiet
from test_faults import drain, ledger

T0 = 1_893_456_000_000  # the fake clock's start, 2030-01-01T00:00:00Z
AT_0005 = T0 + 300_000
TICK_AT = AT_0005 - 2_000  # inside the executor's hold window: no re-queue spinning


@dataclass(frozen=True)
class ClaimSeen:
    """One call of RunStore.claim: what it was for, when it began, what it found."""

    job_id: str
    run_id: str
    generation: int
    began_ns: int
    result: Claim


@dataclass(frozen=True)
class Change:
    """One API change and the instant it returned to its caller."""

    job_id: str
    kind: str  # pause | reschedule | delete
    old_generation: int
    returned_ns: int
    new_at: int | None = None  # a reschedule's single run (epoch ms)


@pytest.fixture
def atomic_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each DynamoDB call is atomic, as on AWS (moto's conditional writes are not)."""
    lock = threading.Lock()
    original = BaseClient._make_api_call

    def serialized(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name != "dynamodb":
            return original(client, operation, params)
        with lock:
            return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", serialized)


@pytest.fixture
def claims(monkeypatch: pytest.MonkeyPatch) -> list[ClaimSeen]:
    """Every claim made during the test, time-stamped when it began."""
    seen: list[ClaimSeen] = []
    original = RunStore.claim

    def traced(self: RunStore, occ: Occurrence, *args: Any) -> Any:
        began = time.monotonic_ns()
        result = original(self, occ, *args)
        seen.append(ClaimSeen(occ.job_id, occ.run_id, occ.generation, began, result[0]))
        return result

    monkeypatch.setattr(RunStore, "claim", traced)
    original_batch = batch.claim_all

    def traced_batch(runs: RunStore, messages: Any, *args: Any) -> Any:
        began = time.monotonic_ns()
        claimed, lost = original_batch(runs, messages, *args)
        for message, result in [(m, Claim.CLAIMED) for m, _ in claimed] + [(m, r[0]) for m, r in lost]:
            occ = message.occurrence
            seen.append(ClaimSeen(occ.job_id, occ.run_id, occ.generation, began, result))
        return claimed, lost

    monkeypatch.setattr(batch, "claim_all", traced_batch)
    return seen


@pytest.fixture(params=["batched", "per_message"])
def executor_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, engine: dict[str, Any]) -> str:
    """Each test twice: batches claimed in one transaction (the default), and one claim per message."""
    monkeypatch.setenv("AGENTOS_EXECUTOR_BATCH", "1" if request.param == "batched" else "0")
    runtime.reset()
    return str(request.param)


def run_threads(targets: list[Callable[[], None]]) -> None:
    """Start every target behind one barrier, join them all, re-raise the first error."""
    barrier, errors = threading.Barrier(len(targets)), []

    def wrapped(target: Callable[[], None]) -> None:
        try:
            barrier.wait()
            target()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=wrapped, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors and not any(t.is_alive() for t in threads), errors


def change_jobs(kind: str, job_ids: list[str], changes: list[Change]) -> Callable[[], None]:
    """A thread body applying one kind of API change to each job, stamping when each returned."""
    def body() -> None:
        service = runtime.jobs()
        for k, job_id in enumerate(job_ids):
            generation = int(JobModel.get(job_id, consistent_read=True).generation)
            # A single run 1-5 s ahead, later than every earlier one: an executor holding an
            # earlier one moves the fake clock to it, which must not put this one in the past.
            new_at = (now_ms() // 1000 + 2 + k) * 1000
            if kind == "pause":
                service.update(job_id, {"status": "paused"})
            elif kind == "reschedule":
                service.update(job_id, {"schedule": from_ms(new_at).strftime("%Y-%m-%dT%H:%M:%SZ")})
            else:
                service.delete(job_id)
            changes.append(Change(job_id, kind, generation, time.monotonic_ns(),
                                  new_at if kind == "reschedule" else None))
    return body


def ticking(times: int) -> Callable[[], None]:
    """A thread body running ``times`` minute ticks back to back."""
    def body() -> None:
        for _ in range(times):
            runtime.dispatcher().tick(now_ms())
    return body


def executing(queue_url: str, stop: threading.Event, errors: list[BaseException],
              failed: list[dict[str, Any]] | None = None) -> Callable[[], None]:
    """A thread body that runs the queue like a Lambda poller until ``stop`` (errors are kept).

    A record the executor reports failed stays in flight, as on SQS; it is kept in ``failed``
    so that the test can bring it back as SQS would after the visibility timeout."""
    sqs = boto3.client("sqs")

    def poll_once() -> int:
        records = receive_all(queue_url, max_rounds=1)
        for start in range(0, len(records), 10):  # Lambda's batches
            batch_records = records[start:start + 10]
            answer = runtime.executor().handle_batch(batch_records)
            failures = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
            for record in batch_records:
                if record["messageId"] in failures:
                    (failed if failed is not None else []).append(record)
                else:
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=record["receiptHandle"])
        return len(records)

    def body() -> None:
        try:
            while not stop.is_set():
                if not poll_once():
                    time.sleep(0.01)
        except BaseException as exc:
            errors.append(exc)
    return body


def redeliver(engine: dict[str, Any], failed: list[dict[str, Any]]) -> None:
    """SQS shows the records that failed again once their visibility timeout passed."""
    if not failed:
        return
    engine["clock"].advance(QUEUE_VISIBILITY_S)
    sqs = boto3.client("sqs")
    for record in failed:
        sqs.change_message_visibility(QueueUrl=engine["queue_url"], ReceiptHandle=record["receiptHandle"],
                                      VisibilityTimeout=0)


def late_wins(claims: list[ClaimSeen], changes: list[Change]) -> list[tuple[Change, ClaimSeen]]:
    """Claims that began after a change returned and still won, though the change forbids them."""
    found = []
    for change in changes:
        for claim in claims:
            stale = change.kind != "reschedule" or claim.generation <= change.old_generation
            if claim.job_id == change.job_id and claim.result is Claim.CLAIMED \
                    and claim.began_ns > change.returned_ns and stale:
                found.append((change, claim))
    return found


def in_flight(claims: list[ClaimSeen], changes: list[Change]) -> int:
    """Occurrences claimed before their job's pause/delete/reschedule returned (they may still start)."""
    return sum(1 for change in changes for claim in claims
               if claim.job_id == change.job_id and claim.result is Claim.CLAIMED
               and claim.began_ns < change.returned_ns and claim.generation <= change.old_generation)


# --- everything at once ---------------------------------------------------------------------------

GROUPS = {"pause": 4, "reschedule": 4, "delete": 4, "untouched": 4}


def create_groups() -> dict[str, list[str]]:
    """Daily 00:05 jobs, in the groups above."""
    service, groups = runtime.jobs(), {}
    for kind, count in GROUPS.items():
        groups[kind] = [service.create(record_job(name=f"{kind}{i}", schedule="5 0 * * *"))["id"]
                        for i in range(count)]
    return groups


def run_everything(engine: dict[str, Any], groups: dict[str, list[str]], changes: list[Change]) -> None:
    """3 tickers, 2 executors and 3 API callers released together at 00:04:58."""
    engine["clock"].t = TICK_AT / 1000
    stop, errors, failed = threading.Event(), list[BaseException](), list[dict[str, Any]]()
    executors = [threading.Thread(target=executing(engine["queue_url"], stop, errors, failed)) for _ in range(2)]
    for thread in executors:
        thread.start()
    try:
        run_threads([ticking(2) for _ in range(3)]
                    + [change_jobs(kind, groups[kind], changes) for kind in ("pause", "reschedule", "delete")])
    finally:
        stop.set()
        for thread in executors:
            thread.join(120)
    assert not errors and not any(t.is_alive() for t in executors), errors
    redeliver(engine, failed)
    runtime.dispatcher().tick(now_ms())
    drain(engine["queue_url"], engine["clock"])


@pytest.mark.slow
def test_parallel_ticks_and_executors_with_pause_reschedule_delete(
        engine: dict[str, Any], atomic_dynamodb: None, claims: list[ClaimSeen], request: pytest.FixtureRequest,
        executor_path: str) -> None:
    # Both paths. The per-message path used to lose, about 1 time in 6 under load, the first
    # rescheduled job's single run: its new instant is the old 00:05 (same run id, generation 2),
    # and an executor that found generation 1's claim still "running" gave up 5 s of the clock
    # after the instant, which the other holds move through in a fraction of a real second
    # (test_reschedule_onto_the_held_instant_runs_once_though_the_old_claimant_is_slow, below).
    # Given 16 daily jobs due at 00:05
    groups, changes = create_groups(), list[Change]()
    # When ticks, executors and API changes race from 00:04:58
    run_everything(engine, groups, changes)
    starts = Counter(engine["recorder"].runs())
    # Then no occurrence started twice, and no claim begun after a change returned won
    wins = late_wins(claims, changes)
    must_run = [scheduled_run_id(j, AT_0005) for j in groups["untouched"]] \
        + [scheduled_run_id(c.job_id, c.new_at) for c in changes if c.new_at is not None]
    lost = [r for r in must_run if starts[r] == 0]
    twice = [r for r, n in starts.items() if n > 1]
    ledger("races", request.node.name, occurrences=len(must_run), lost=len(lost), twice=len(twice),
           late_wins=len(wins), in_flight=in_flight(claims, changes), claims=len(claims))
    assert not twice and not lost and not wins, (twice, lost, wins)
    assert_final_state(groups)
    check_quiet(request, engine["queue_url"])


def assert_final_state(groups: dict[str, list[str]]) -> None:
    """Deleted jobs stay gone (item and name), paused ones stay disarmed, the rest are armed."""
    for job_id in groups["delete"]:
        assert JobModel.count(job_id) == 0
    names = {c.id for c in NameClaim.scan(NameClaim.id.startswith("name#"))}
    assert not {n for n in names if n.startswith("name#delete")}
    for job_id in groups["pause"]:
        job = JobModel.get(job_id)
        assert (job.status, job.dueShard) == ("paused", None)
    for job_id in groups["reschedule"]:
        assert JobModel.get(job_id).status == "completed"
    for job_id in groups["untouched"]:
        job = JobModel.get(job_id)
        assert (job.status, int(job.runCount)) == ("active", 1) and job.dueShard is not None


# --- one interleaving at a time ------------------------------------------------------------------

def daily(name: str = "daily") -> str:
    """A job due at 00:05 every day."""
    return str(runtime.jobs().create(record_job(name=name, schedule="5 0 * * *"))["id"])


def after_due_read(monkeypatch: pytest.MonkeyPatch, action: Callable[[], object]) -> list[bool]:
    """Run ``action`` once, right after the tick has read the due index and before it writes
    (the list returned is non-empty once it ran)."""
    store, original, done = runtime.job_store(), runtime.job_store().due, list[bool]()

    def due(shard: int, before_ms: int) -> Iterator[JobModel]:
        found = list(original(shard, before_ms))
        if found and not done:
            done.append(True)
            action()
        return iter(found)

    monkeypatch.setattr(store, "due", due)
    return done


def tick_and_drain(engine: dict[str, Any], at_ms: int) -> None:
    """One tick at ``at_ms``, then the queue run empty."""
    engine["clock"].t = max(engine["clock"].t, at_ms / 1000)
    runtime.dispatcher().tick(now_ms())
    drain(engine["queue_url"], engine["clock"])


def console_pause(job_id: str) -> None:
    """What an operator's edit in the DynamoDB console does: status only, due entry kept."""
    JobModel(job_id).update(actions=[JobModel.status.set("paused")])


@pytest.mark.parametrize("paused_in_console", [False, True])
def test_delete_between_tick_read_and_write_does_not_resurrect(
        engine: dict[str, Any], atomic_dynamodb: None, monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest, paused_in_console: bool) -> None:
    # Given the tick has read a due job (active, or paused in the console) from the index
    job_id = daily()
    if paused_in_console:
        console_pause(job_id)
    fired = after_due_read(monkeypatch, lambda: runtime.jobs().delete(job_id))
    # When the job is deleted before the tick writes (advance, or disarm)
    tick_and_drain(engine, TICK_AT)
    assert fired
    # Then no job item reappears and nothing started
    assert JobModel.count(job_id) == 0, JobModel.get(job_id).attribute_values
    assert engine["recorder"].runs() == []
    ledger("races", request.node.name, occurrences=0, lost=0, twice=0, late_wins=0)
    check_quiet(request, engine["queue_url"])


def test_pause_between_tick_read_and_advance_keeps_it_disarmed(
        engine: dict[str, Any], atomic_dynamodb: None, monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest) -> None:
    job_id = daily()
    fired = after_due_read(monkeypatch, lambda: runtime.jobs().update(job_id, {"status": "paused"}))
    tick_and_drain(engine, TICK_AT)
    assert fired
    job = JobModel.get(job_id)
    assert (job.status, job.dueShard) == ("paused", None)  # the tick's advance did not re-arm it
    assert engine["recorder"].runs() == []  # its occurrence, sent after the pause, was skipped
    ledger("races", request.node.name, occurrences=0, lost=0, twice=0, late_wins=0)
    check_quiet(request, engine["queue_url"])


def test_reschedule_between_tick_read_and_send_drops_the_old_occurrence(
        engine: dict[str, Any], atomic_dynamodb: None, monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest) -> None:
    # Given the tick read a 00:05 job, then the job was moved to 00:10 before the tick sent 00:05
    job_id = daily()
    fired = after_due_read(monkeypatch, lambda: runtime.jobs().update(job_id, {"schedule": "10 0 * * *"}))
    tick_and_drain(engine, TICK_AT)
    assert fired
    tick_and_drain(engine, T0 + 598_000)
    # Then only the new schedule's occurrence ran, once
    expected = [scheduled_run_id(job_id, T0 + 600_000)]
    assert engine["recorder"].runs() == expected
    assert [run.id for run in RunModel.query(job_id)] == expected  # the dropped one is not a run
    ledger("races", request.node.name, occurrences=1, lost=0, twice=0, late_wins=0)
    check_quiet(request, engine["queue_url"])


def during_claim(monkeypatch: pytest.MonkeyPatch, action: Callable[[], object], after_commit: bool) -> list[bool]:
    """Run ``action`` once, just before the executor's claim is sent, or just after it committed
    (the list returned is non-empty once it ran)."""
    original, done = RunStore.claim, list[bool]()

    def claim(self: RunStore, occ: Occurrence, *args: Any, **kwargs: Any) -> Any:
        if not after_commit and not done:
            done.append(True)
            action()
        result = original(self, occ, *args, **kwargs)
        if after_commit and not done:
            done.append(True)
            action()
        return result

    monkeypatch.setattr(RunStore, "claim", claim)
    original_batch = batch.claim_all

    def claim_all(runs: RunStore, *args: Any) -> Any:
        if not after_commit and not done:
            done.append(True)
            action()
        result = original_batch(runs, *args)
        if after_commit and not done:
            done.append(True)
            action()
        return result

    monkeypatch.setattr(batch, "claim_all", claim_all)
    return done


@pytest.mark.parametrize("after_commit", [False, True])
def test_pause_racing_the_claim(engine: dict[str, Any], atomic_dynamodb: None, monkeypatch: pytest.MonkeyPatch,
                                request: pytest.FixtureRequest, after_commit: bool, executor_path: str) -> None:
    # Given the 00:05 occurrence is queued, and a pause returns just before / just after its claim
    job_id = daily()
    fired = during_claim(monkeypatch, lambda: runtime.jobs().update(job_id, {"status": "paused"}), after_commit)
    tick_and_drain(engine, TICK_AT)
    assert fired
    # Then a claim after the pause skips; so does a claim that committed first, because the
    # executor reads the job again at the instant, after its hold
    started = engine["recorder"].runs()
    assert started == []
    # And nothing more starts, tomorrow included
    tick_and_drain(engine, AT_0005 + 86_400_000 - 2_000)
    assert engine["recorder"].runs() == started
    job = JobModel.get(job_id)
    assert (job.status, job.dueShard, int(job.runCount)) == ("paused", None, len(started))
    ledger("races", request.node.name, occurrences=len(started), lost=0, twice=0, late_wins=0,
           in_flight=len(started))
    check_quiet(request, engine["queue_url"])


def test_resume_does_not_replay_the_paused_period(engine: dict[str, Any], atomic_dynamodb: None,
                                                  request: pytest.FixtureRequest) -> None:
    # Given the 00:05 occurrence was queued, then the job was paused from 00:04:58 to 00:06
    job_id = daily()
    engine["clock"].t = TICK_AT / 1000
    runtime.dispatcher().tick(now_ms())
    runtime.jobs().update(job_id, {"status": "paused"})
    engine["clock"].t = (AT_0005 + 60_000) / 1000
    runtime.jobs().update(job_id, {"status": "active"})
    # When the queue drains, and the next day comes
    drain(engine["queue_url"], engine["clock"])
    assert engine["recorder"].runs() == []
    tick_and_drain(engine, AT_0005 + 86_400_000 - 2_000)
    # Then only the first occurrence after the resume ran
    assert engine["recorder"].runs() == [scheduled_run_id(job_id, AT_0005 + 86_400_000)]
    ledger("races", request.node.name, occurrences=1, lost=0, twice=0, late_wins=0)
    check_quiet(request, engine["queue_url"])


def test_concurrent_reschedules_leave_one_schedule_running_once(
        engine: dict[str, Any], atomic_dynamodb: None, request: pytest.FixtureRequest) -> None:
    from chalicelib.errors import ConcurrentUpdate

    # Given six PATCHes racing to move one job to six different single runs
    job_id, outcomes = daily(), {}
    targets = {k: f"2030-01-01T00:00:{10 * k:02d}Z" for k in range(1, 6)}

    def move(k: int) -> Callable[[], None]:
        def body() -> None:
            try:
                runtime.jobs().update(job_id, {"schedule": targets[k]})
                outcomes[k] = "ok"
            except ConcurrentUpdate:
                outcomes[k] = "409"
        return body

    run_threads([move(k) for k in targets])
    # When every queued occurrence is run
    drain(engine["queue_url"], engine["clock"])
    # Then only the schedule stored last ran, once, and each PATCH either won or got a 409
    final = JobModel.get(job_id).schedule
    assert "ok" in outcomes.values() and set(outcomes.values()) <= {"ok", "409"}
    at = T0 + 10_000 * next(k for k, t in targets.items() if t == final)
    assert engine["recorder"].runs() == [scheduled_run_id(job_id, at)]
    ledger("races", request.node.name, occurrences=1, lost=0, twice=0, late_wins=0)
    check_quiet(request, engine["queue_url"])


def test_manual_run_taken_by_a_fast_executor_before_it_is_recorded(
        engine: dict[str, Any], atomic_dynamodb: None, monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest) -> None:
    # Given an executor so fast that it runs a manual run's message before POST /run records it
    job_id, queue = daily(), runtime.queue()
    original = queue.send_one

    def send_then_run(message: Any, now: int) -> None:
        original(message, now)
        pump(engine["queue_url"])

    monkeypatch.setattr(queue, "send_one", send_then_run)
    # When the run is triggered, Then the caller gets the run (not a 503) and it ran once
    run = runtime.jobs().run_now(job_id)
    assert engine["recorder"].runs() == [run["id"]]
    assert run["trigger"] == "manual" and run["status"] in ("running", "succeeded")
    assert [r.id for r in RunModel.query(job_id)] == [run["id"]]
    ledger("races", request.node.name, occurrences=1, lost=0, twice=0, late_wins=0)
    check_quiet(request, engine["queue_url"])


# --- a reschedule onto the very instant an older generation holds (the per-message loss) ------

def after_the_first_claim(monkeypatch: pytest.MonkeyPatch, action: Callable[[], object]) -> None:
    """Run ``action`` once, right after the first claim committed, before its claimant holds and
    reads the job (both paths): the claimant is slow there (a descheduled thread, say)."""
    done = list[bool]()
    original_claim, original_batch = RunStore.claim, batch.claim_all

    def first() -> None:
        if not done:
            done.append(True)
            action()

    def claim(self: RunStore, occ: Occurrence, *args: Any) -> Any:
        found = original_claim(self, occ, *args)
        if found[0] is Claim.CLAIMED:
            first()
        return found

    def claim_all(runs: RunStore, messages: Any, *args: Any) -> Any:
        claimed, lost = original_batch(runs, messages, *args)
        if claimed:
            first()
        return claimed, lost
    monkeypatch.setattr(RunStore, "claim", claim)
    monkeypatch.setattr(batch, "claim_all", claim_all)


def run_queue(engine: dict[str, Any], rounds: int) -> None:
    """Run the queue ``rounds`` times, the fake clock at each round's earliest message: in the race
    test the other jobs' holds move the shared fake clock on (to their new single runs, 1-5 s on)."""
    for _ in range(rounds):
        records = receive_all(engine["queue_url"])
        if not records:
            return
        earliest = min(decode(r["body"]).not_before_ms for r in records)
        engine["clock"].t = max(engine["clock"].t, earliest / 1000)
        runtime.executor().handle_batch(records)
        sqs = boto3.client("sqs")
        for record in records:
            sqs.delete_message(QueueUrl=engine["queue_url"], ReceiptHandle=record["receiptHandle"])


def test_reschedule_onto_the_held_instant_runs_once_though_the_old_claimant_is_slow(
        engine: dict[str, Any], executor_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the daily 00:05 occurrence claimed (generation 1) at 00:04:58, and its claimant slow to
    # hold and read the job; meanwhile the job is rescheduled to a single run at that very instant (same
    # run id, generation 2), and the new generation's copy meets the old claim for 8 s of the clock
    job_id = daily()
    rescheduled: list[dict[str, Any]] = []

    def reschedule_and_look_for_8_s() -> None:
        rescheduled.append(runtime.jobs().update(job_id, {"schedule": "2030-01-01T00:05:00Z"}))
        engine["clock"].t = AT_0005 / 1000  # another executor's hold moved the shared clock there
        run_queue(engine, 8)
    after_the_first_claim(monkeypatch, reschedule_and_look_for_8_s)
    tick_and_drain(engine, TICK_AT)
    run_queue(engine, 200)
    # Then the old claimant skipped on reading generation 2, and the new schedule's run started once
    assert rescheduled
    assert engine["recorder"].runs() == [scheduled_run_id(job_id, AT_0005)]
    job = JobModel.get(job_id, consistent_read=True)
    assert (job.status, int(job.runCount)) == ("completed", 1)


def test_reschedule_onto_the_held_instant_runs_once_though_the_old_claimant_died(
        engine: dict[str, Any], executor_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the daily 00:05 occurrence claimed (generation 1) by an executor that dies right after
    # its claim, and the job rescheduled meanwhile to a single run at that very instant
    job_id = daily()

    def reschedule_then_die() -> None:
        runtime.jobs().update(job_id, {"schedule": "2030-01-01T00:05:00Z"})
        raise RuntimeError("the claimant died")
    after_the_first_claim(monkeypatch, reschedule_then_die)
    engine["clock"].t = TICK_AT / 1000
    runtime.dispatcher().tick(now_ms())
    pump(engine["queue_url"])  # claimed at 00:04:58, rescheduled, died (its message is dropped here)
    assert JobModel.get(job_id, consistent_read=True).schedule == "2030-01-01T00:05:00Z"
    run_queue(engine, 200)
    # Then the new generation takes the dead claim over once its lease passed, and runs once
    assert engine["recorder"].runs() == [scheduled_run_id(job_id, AT_0005)]
    job = JobModel.get(job_id, consistent_read=True)
    assert (job.status, int(job.runCount)) == ("completed", 1)
