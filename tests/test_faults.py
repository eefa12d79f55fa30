"""Fault injection at every I/O boundary of the tick, the executor and the API.

Faults are injected *below* PynamoDB and the SQS wrapper, in botocore's
``BaseClient._make_api_call``, so every layer above sees exactly what AWS would hand
it after botocore's own retries gave up:

* ``throttle``: the call never reaches AWS (``ProvisionedThroughputExceededException`` for
  DynamoDB, ``ThrottlingException`` for SQS);
* ``lost``: the call reaches AWS and commits, then its answer is lost (a 500 / timeout);
* ``crash``: the call commits, then the process dies (a Lambda timeout or OOM): the
  surrounding code's generic handlers see a :class:`Crash`, nothing after it runs;
* ``partial``: SQS accepts only every other entry of a ``SendMessageBatch``.

After the fault, recovery is what production does: the next minute tick, and SQS showing
every message that was not deleted again after the queue's visibility timeout (540 s,
longer than every lease), which :func:`drain` models by advancing the fake clock.

Each test then audits: every expected occurrence started (lost = 0), none succeeded
twice (twice = 0; the one documented exception: an outcome that could not be recorded
after the agent did the work is delivered again with the *same* run id, at most twice),
and the job's counters, status and due-index entry are consistent.
Each test appends its figures to ``.local/reliability/results.jsonl`` for docs/reliability.md.
"""
from __future__ import annotations

import fcntl
import json
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib import runtime
from chalicelib.clock import now_ms
from chalicelib.engine.dispatch import scheduled_run_id
from chalicelib.store.models import JobModel, RunModel
from chalicelib.store.sqs import EARLY_MS
from conftest import AGENT_ID, FakeClock, Recorder, call, receive_all, record_job
from fault_injector import READS, WRITES, Crash, Injector, is_advance, is_api_update, is_claim
from infra.resources import QUEUE_VISIBILITY_S
from invariants import check_quiet

ROOT = Path(__file__).resolve().parent.parent
LEDGER = ROOT / ".local" / "reliability" / "results.jsonl"
T0 = 1_893_456_000_000  # 2030-01-01T00:00:00Z, the fake clock's start
AT_0005 = T0 + 300_000  # first occurrence of the daily "5 0 * * *" jobs below
RETRY = {"maxAttempts": 3, "initialDelayMs": 1000, "maxDelayMs": 4000, "multiplier": 2, "jitter": False}


# --- recovery and audit -------------------------------------------------------------------------

def drain(queue_url: str, clock: FakeClock, rounds: int = 12) -> int:
    """Run the queue empty as Lambda and SQS would; returns how many records failed on the way.

    A failed record stays in flight; SQS shows it again after the visibility timeout,
    which is modelled by advancing the clock that long and making it visible now.
    """
    sqs, failures = boto3.client("sqs"), 0
    for _ in range(rounds):
        records = receive_all(queue_url)
        if not records:
            return failures
        # SQS's DelaySeconds (disabled in tests) would not show a message before this.
        earliest = min(json.loads(r["body"])["notBefore"] for r in records) - EARLY_MS
        clock.t = max(clock.t, earliest / 1000)
        failed = {f["itemIdentifier"] for f in runtime.executor().handle_batch(records)["batchItemFailures"]}
        for record in records:
            if record["messageId"] in failed:
                sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=record["receiptHandle"],
                                              VisibilityTimeout=0)
            else:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=record["receiptHandle"])
        if failed:
            failures += len(failed)
            clock.advance(QUEUE_VISIBILITY_S)
    raise AssertionError(f"queue not empty after {rounds} rounds")


def ledger(suite: str, case: str, **figures: Any) -> None:
    """Append one test's figures to .local/reliability/results.jsonl (read by docs/reliability.md)."""
    LEDGER.parent.mkdir(parents=True, exist_ok=True)
    with LEDGER.open("a", encoding="utf-8") as out:
        fcntl.flock(out, fcntl.LOCK_EX)
        out.write(json.dumps({"suite": suite, "case": case, **figures}, sort_keys=True) + "\n")


def audit(request: pytest.FixtureRequest, recorder: Recorder, expected: list[str], failed_starts: int = 0,
          boundary: bool = False) -> None:
    """Every expected run id started and succeeded once (at most twice, same id, at the boundary).

    ``failed_starts`` counts starts the test made fail on purpose (attempts that are retried).
    """
    starts = Counter(recorder.runs())
    lost = [r for r in expected if starts[r] == 0]
    extra = sum(starts.values()) - len(expected) - failed_starts
    ledger("faults", request.node.name, occurrences=len(expected), lost=len(lost),
           twice=0 if boundary else max(0, extra), boundary_twice=max(0, extra) if boundary else 0)
    assert not lost, f"lost: {lost}"
    assert set(starts) <= set(expected), f"unexpected runs: {set(starts) - set(expected)}"
    if boundary:
        assert 0 <= extra <= len(expected), f"more than twice: {starts}"
    else:
        assert extra == 0, f"started twice: {starts}"


def assert_job(job_id: str, succeeded: int, failed: int = 0, status: str = "active") -> None:
    """The job's counters match its finished runs, no run is left in flight, and it is armed iff active."""
    job = JobModel.get(job_id, consistent_read=True)
    finals = Counter(r.status for r in RunModel.query(job_id, consistent_read=True))
    assert (int(job.runCount), int(job.failureCount)) == (succeeded + failed, failed), job.attribute_values
    assert (finals["succeeded"], finals["failed"]) == (succeeded, failed), finals
    assert not {"running", "retrying", "queued"} & set(finals), finals
    assert job.lastRunStatus == ("succeeded" if succeeded else "failed" if failed else None)
    assert job.status == status
    armed = job.dueShard is not None and job.nextRunAt is not None and int(job.nextRunAt) > now_ms()
    assert armed == (status == "active"), (job.dueShard, job.nextRunAt, now_ms())


def daily(name: str = "daily", **overrides: Any) -> dict[str, Any]:
    """A job due at 00:05 every day, created at 00:00 (the tick sends it at 00:04)."""
    return runtime.jobs().create(record_job(name=name, schedule="5 0 * * *", **overrides))


def tick_at(clock: FakeClock, epoch_ms: int) -> Any:
    """Move the clock to ``epoch_ms`` (never back) and run one tick."""
    clock.t = max(clock.t, epoch_ms / 1000)
    return runtime.dispatcher().tick(now_ms())


def queue_url(engine: dict[str, Any]) -> str:
    """The jobs queue of this test's moto."""
    return str(engine["queue_url"])


# --- 1. every write and every read of one job's whole life ---------------------------------------
#
# The life: POST a daily job due in 60 s (stored, then enqueued at once: it is inside the
# lookahead), its first attempt fails retryably, the retry succeeds. The job stays active,
# so only the run item's claim, not the job's status, can stop a second start. In order, its AWS writes are: create
# (TransactWriteItems), enqueue (SendMessageBatch), advance (UpdateItem), claim attempt 1
# (TransactWriteItems), mark it retrying (UpdateItem), send attempt 2 (SendMessageBatch),
# claim attempt 2 (TransactWriteItems), record the outcome (TransactWriteItems).

LIFE_WRITES = 8
LIFE_READS = 2  # the executor reads the job once per attempt, after its claim (BatchGetItem, or GetItem per message)
FIRST_AT = T0 + 60_000  # 00:01


def create_as_a_client_would(body: dict[str, Any]) -> str:
    """POST until it succeeds; a retry that finds the name taken means the first POST landed."""
    from chalicelib.errors import JobsError

    for _ in range(3):
        try:
            return str(runtime.jobs().create(body)["id"])
        except (JobsError, Crash):
            found = [j.id for j in JobModel.scan(JobModel.name == body["name"])]
            if found:
                return found[0]
    raise AssertionError("create never succeeded")


def live_once_job(engine: dict[str, Any]) -> str:
    """The life above, up to an empty queue; returns the job id."""
    engine["recorder"].failures_left["life"] = 1
    body = record_job(name="life", schedule="1 0 * * *", retryPolicy=RETRY)
    job_id = create_as_a_client_would(body)
    drain(queue_url(engine), engine["clock"])
    return job_id


def recover(engine: dict[str, Any]) -> None:
    """What production does next: the minute tick, then the queue run empty."""
    tick_at(engine["clock"], now_ms() + 60_000)
    drain(queue_url(engine), engine["clock"])


def test_the_life_has_the_writes_and_reads_the_sweep_expects(engine: dict[str, Any], faults: Injector,
                                                             request: pytest.FixtureRequest) -> None:
    # Given no fault, When the job lives its life
    job_id = live_once_job(engine)
    # Then the sweeps below cover each of its writes and reads
    assert faults.count(WRITES) == LIFE_WRITES, [c for c in faults.log if c in WRITES]
    assert faults.count(READS) == LIFE_READS, [c for c in faults.log if c in READS]
    audit(request, engine["recorder"], [scheduled_run_id(job_id, FIRST_AT)], failed_starts=1)
    assert_job(job_id, succeeded=1)
    check_quiet(request, queue_url(engine))


@pytest.mark.parametrize("kind", ["throttle", "lost", "crash"])
@pytest.mark.parametrize("nth", range(1, LIFE_WRITES + 1))
def test_a_fault_at_any_write_loses_nothing_and_runs_nothing_twice(
        engine: dict[str, Any], faults: Injector, request: pytest.FixtureRequest, nth: int, kind: str) -> None:
    # Given the nth write of the job's life fails (before reaching AWS, or after committing)
    fault = faults.add_any(WRITES, kind=kind, skip=nth - 1)
    # When the job lives its life, then production recovers as it would
    job_id = live_once_job(engine)
    assert fault.fired == 1
    faults.clear()
    recover(engine)
    # Then its one occurrence succeeded exactly once, except that an outcome write that never
    # reached AWS after the agent did the work re-delivers the same run id (docs/reliability.md)
    boundary = nth == LIFE_WRITES and kind == "throttle"
    audit(request, engine["recorder"], [scheduled_run_id(job_id, FIRST_AT)], failed_starts=1, boundary=boundary)
    assert_job(job_id, succeeded=1)
    check_quiet(request, queue_url(engine))


@pytest.mark.parametrize("nth", range(1, LIFE_READS + 1))
def test_a_throttled_read_loses_nothing(engine: dict[str, Any], faults: Injector, request: pytest.FixtureRequest,
                                        nth: int) -> None:
    fault = faults.add_any(READS, skip=nth - 1)
    job_id = live_once_job(engine)
    assert fault.fired == 1
    recover(engine)
    audit(request, engine["recorder"], [scheduled_run_id(job_id, FIRST_AT)], failed_starts=1)
    assert_job(job_id, succeeded=1)
    check_quiet(request, queue_url(engine))


# --- 2. the minute tick ---------------------------------------------------------------------------

TICK_FAULTS = [
    ("dynamodb", "Query", "throttle", None, 3),  # the due index cannot be read
    ("sqs", "SendMessageBatch", "throttle", None, 3),  # SQS refuses the batch
    ("sqs", "SendMessageBatch", "lost", None, 3),  # SQS took it, the tick thinks it did not
    ("sqs", "SendMessageBatch", "crash", None, 3),  # sent, then the tick dies before advancing
    ("dynamodb", "TransactWriteItems", "throttle", is_advance, 3),  # sent, the batched advance is refused
    ("dynamodb", "TransactWriteItems", "lost", is_advance, 3),
    ("dynamodb", "TransactWriteItems", "crash", is_advance, 3),
    ("dynamodb", "UpdateItem", "throttle", is_advance, 1),  # one due job: its own UpdateItem
    ("dynamodb", "UpdateItem", "lost", is_advance, 1),
    ("dynamodb", "UpdateItem", "crash", is_advance, 1),
]


@pytest.mark.parametrize("service, operation, kind, match, count", TICK_FAULTS,
                         ids=[f"{s}.{o}-{k}-{n}" for s, o, k, _, n in TICK_FAULTS])
def test_tick_fault_then_next_tick_loses_nothing(engine: dict[str, Any], faults: Injector,
                                                 request: pytest.FixtureRequest, service: str, operation: str,
                                                 kind: str, match: Any, count: int) -> None:
    # Given daily jobs at 00:05 (spread over the due shards) and a faulty 00:04 tick
    jobs = [daily(f"daily{i}")["id"] for i in range(count)]
    fault = faults.add(service, operation, kind=kind, times=99, **({"match": match} if match else {}))
    tick_at(engine["clock"], AT_0005 - 60_000)
    assert fault.fired >= 1
    faults.clear()
    # When the 00:05 tick runs and the executor drains the queue
    tick_at(engine["clock"], AT_0005)
    drain(queue_url(engine), engine["clock"])
    # Then each occurrence ran exactly once and each job waits for tomorrow
    audit(request, engine["recorder"], [scheduled_run_id(j, AT_0005) for j in jobs])
    for job_id in jobs:
        assert_job(job_id, succeeded=1)
    check_quiet(request, queue_url(engine))


def test_batched_advance_in_conflict_is_written_again(engine: dict[str, Any], faults: Injector,
                                                     request: pytest.FixtureRequest) -> None:
    # Given three daily jobs at 00:05 whose batched advance first meets another write's transaction
    jobs = [daily(f"daily{i}")["id"] for i in range(3)]
    fault = faults.add("dynamodb", "TransactWriteItems", kind="conflict", match=is_advance)
    # When the 00:04 tick dispatches them
    report = tick_at(engine["clock"], AT_0005 - 60_000)
    # Then the batch was written again at once: all three advanced, nothing left to re-send
    assert fault.fired == 1 and (report.advanced, report.lost_races, report.errors) == (3, 0, [])
    drain(queue_url(engine), engine["clock"])
    audit(request, engine["recorder"], [scheduled_run_id(j, AT_0005) for j in jobs])
    check_quiet(request, queue_url(engine))


def test_partial_batch_failure_resends_and_dedupes(engine: dict[str, Any], faults: Injector,
                                                   request: pytest.FixtureRequest) -> None:
    # Given an interval job whose 8 first occurrences go out in one batch, half refused by SQS
    fault = faults.add("sqs", "SendMessageBatch", kind="partial")
    job = runtime.jobs().create(record_job(name="fast", schedule=None, interval=10_000))
    assert fault.fired == 1 and len(receive_all(queue_url(engine))) == 4
    # When the next tick re-sends all 8 (the job was not advanced) and the queue drains
    report = runtime.dispatcher().tick(now_ms())
    assert report.occurrences == 8
    drain(queue_url(engine), engine["clock"])
    # Then each of the 8 started once
    audit(request, engine["recorder"], [scheduled_run_id(job["id"], T0 + 10_000 * k) for k in range(1, 9)])
    assert_job(job["id"], succeeded=8)
    check_quiet(request, queue_url(engine))


def test_message_seen_again_after_success_starts_nothing(
        engine: dict[str, Any], request: pytest.FixtureRequest) -> None:
    # Given an occurrence that ran, but whose message was never deleted (SQS is at-least-once)
    job = daily()
    tick_at(engine["clock"], AT_0005 - 60_000)
    records = receive_all(queue_url(engine))
    runtime.executor().handle_batch(records)
    # When SQS shows the same message again, twice
    for _ in range(2):
        engine["clock"].advance(QUEUE_VISIBILITY_S)
        assert runtime.executor().handle_batch(records) == {"batchItemFailures": []}
    # Then it started once
    audit(request, engine["recorder"], [scheduled_run_id(job["id"], AT_0005)])
    assert_job(job["id"], succeeded=1)
    check_quiet(request, queue_url(engine))


# --- 2b. a burst worked per batch (chalicelib/engine/batch.py) --------------------------------------------
#
# Twelve jobs due at the same instant reach the executor in one batch: one TransactWriteItems
# claims them all, one BatchGetItem reads their jobs at the instant, then each records its
# outcome. A fault at the batch's claim or read must lose nothing and start nothing twice.

BURST = 12
BATCH_FAULTS = [("TransactWriteItems", kind) for kind in ("throttle", "lost", "crash", "conflict")] \
    + [("BatchGetItem", kind) for kind in ("throttle", "lost", "crash")]


@pytest.mark.parametrize("operation, kind", BATCH_FAULTS, ids=[f"{o}-{k}" for o, k in BATCH_FAULTS])
def test_a_fault_at_the_batched_claim_or_read_loses_nothing(engine: dict[str, Any], faults: Injector,
                                                            request: pytest.FixtureRequest, operation: str,
                                                            kind: str) -> None:
    # Given a burst of daily jobs due at 00:05, sent by the 00:04 tick
    jobs = [daily(f"burst{i}")["id"] for i in range(BURST)]
    tick_at(engine["clock"], AT_0005 - 60_000)
    # When the batch's claim (or its read at the instant) fails once, then production recovers
    match = is_claim if operation == "TransactWriteItems" else (lambda params: True)
    fault = faults.add("dynamodb", operation, kind=kind, match=match)
    drain(queue_url(engine), engine["clock"])
    assert fault.fired == 1
    faults.clear()
    recover(engine)
    # Then every occurrence of the burst started exactly once
    audit(request, engine["recorder"], [scheduled_run_id(j, AT_0005) for j in jobs])
    for job_id in jobs:
        assert_job(job_id, succeeded=1)
    check_quiet(request, queue_url(engine))


# --- 3. the API (through Chalice's test client) -----------------------------------------------------

def answer(response: Any) -> Any:
    """The JSON body of a test-client response (None when empty)."""
    return json.loads(response.body) if response.body else None


def assert_unavailable(response: Any, status: int = 503) -> None:
    """A clean JSON error: {Code, Message}, no stack trace, no AWS detail."""
    assert response.status_code == status, response.body
    error = answer(response)
    assert set(error) == {"Code", "Message"}
    assert "Traceback" not in error["Message"] and "Exception" not in error["Message"]


def job_ids(client: Any) -> list[str]:
    """Ids of every job, as GET /api/jobs lists them."""
    return [j["id"] for j in answer(call(client, "GET", "/api/jobs"))]


@pytest.mark.parametrize("operation, kind", [("TransactWriteItems", "throttle"), ("TransactWriteItems", "lost"),
                                             ("TransactWriteItems", "crash"), ("SendMessageBatch", "throttle")])
def test_create_fault(engine: dict[str, Any], client: Any, faults: Injector, request: pytest.FixtureRequest,
                      operation: str, kind: str) -> None:
    # Given creating a job due in 60 s meets a fault
    service = "sqs" if operation == "SendMessageBatch" else "dynamodb"
    fault = faults.add(service, operation, kind=kind)
    body = record_job(name="api", schedule="1 0 * * *")
    response = call(client, "POST", "/api/jobs", body)
    assert fault.fired == 1
    faults.clear()
    # Then a refused write stores nothing; a write that landed is found (a retry gets 409)
    if kind == "throttle" and service == "dynamodb":
        assert_unavailable(response)
        assert job_ids(client) == []
        response = call(client, "POST", "/api/jobs", body)
    elif service == "dynamodb":
        assert_unavailable(response, 503 if kind == "lost" else 500)
        assert call(client, "POST", "/api/jobs", body).status_code == 409
    else:
        assert response.status_code == 201  # stored; the enqueue is the tick's job now
    (job_id,) = job_ids(client)
    # When the next tick runs and the queue drains, Then the occurrence ran once
    tick_at(engine["clock"], T0 + 30_000)
    drain(queue_url(engine), engine["clock"])
    audit(request, engine["recorder"], [scheduled_run_id(job_id, FIRST_AT)])
    assert_job(job_id, succeeded=1)
    check_quiet(request, queue_url(engine))


@pytest.mark.parametrize("kind", ["throttle", "lost"])
def test_pause_fault(engine: dict[str, Any], client: Any, faults: Injector, request: pytest.FixtureRequest,
                     kind: str) -> None:
    # Given a daily job, and a pause whose write is refused (or lands, its answer lost)
    job = daily()
    before = answer(call(client, "GET", f"/api/jobs/{job['id']}"))
    # (a PATCH writes the job and its history event in one transaction: chalicelib/store/events.py)
    fault = faults.add("dynamodb", "TransactWriteItems", kind=kind, match=_is_patch)
    assert_unavailable(call(client, "PATCH", f"/api/jobs/{job['id']}", {"status": "paused"}))
    assert fault.fired == 1
    faults.clear()
    after = answer(call(client, "GET", f"/api/jobs/{job['id']}"))
    # When its time comes
    tick_at(engine["clock"], AT_0005 - 60_000)
    drain(queue_url(engine), engine["clock"])
    # Then a refused pause changed nothing (the job ran); a landed one stopped it
    if kind == "throttle":
        assert after == before
        audit(request, engine["recorder"], [scheduled_run_id(job["id"], AT_0005)])
        assert_job(job["id"], succeeded=1)
    else:
        assert after["status"] == "paused"
        audit(request, engine["recorder"], [])
        assert_job(job["id"], succeeded=0, status="paused")
    check_quiet(request, queue_url(engine))


def test_reschedule_whose_enqueue_fails_runs_the_new_schedule_once(
        engine: dict[str, Any], client: Any, faults: Injector, request: pytest.FixtureRequest) -> None:
    # Given a daily 00:05 job moved to a single run at 00:00:40, and SQS refusing its enqueue
    job = daily()
    fault = faults.add("sqs", "SendMessageBatch")
    patched = call(client, "PATCH", f"/api/jobs/{job['id']}", {"schedule": "2030-01-01T00:00:40Z"})
    assert patched.status_code == 200, patched.body
    assert fault.fired == 1
    faults.clear()
    # When ticks run until past 00:05
    for at in (T0 + 1_000, AT_0005 - 60_000, AT_0005 + 60_000):
        tick_at(engine["clock"], at)
        drain(queue_url(engine), engine["clock"])
    # Then the new occurrence ran once and the old one never
    audit(request, engine["recorder"], [scheduled_run_id(job["id"], T0 + 40_000)])
    assert_job(job["id"], succeeded=1, status="completed")
    check_quiet(request, queue_url(engine))


@pytest.mark.parametrize("kind", ["throttle", "lost"])
def test_delete_fault(engine: dict[str, Any], client: Any, faults: Injector, request: pytest.FixtureRequest,
                      kind: str) -> None:
    # Given a daily job whose 00:05 occurrence is already queued, and a faulty DELETE
    job = daily()
    tick_at(engine["clock"], AT_0005 - 60_000)
    fault = faults.add("dynamodb", "TransactWriteItems", kind=kind)
    assert_unavailable(call(client, "DELETE", f"/api/jobs/{job['id']}"))
    assert fault.fired == 1
    faults.clear()
    # When the queue drains
    drain(queue_url(engine), engine["clock"])
    # Then a refused delete changed nothing (the job ran); a landed one started nothing more
    if kind == "throttle":
        audit(request, engine["recorder"], [scheduled_run_id(job["id"], AT_0005)])
        assert_job(job["id"], succeeded=1)
        assert call(client, "DELETE", f"/api/jobs/{job['id']}").status_code == 204
    else:
        audit(request, engine["recorder"], [])
        assert call(client, "GET", f"/api/jobs/{job['id']}").status_code == 404
        assert JobModel.count(job["id"]) == 0  # not resurrected by the executor's outcome write
    check_quiet(request, queue_url(engine))


def _is_patch(params: dict[str, Any]) -> bool:
    """A PATCH's transaction: the job's optimistic-lock Update (it names updatedAt) and its event."""
    return any(is_api_update(item.get("Update", {})) for item in params.get("TransactItems", []))


# (the queued record of a run now and its history event are one transaction)
@pytest.mark.parametrize("service, operation", [("sqs", "SendMessageBatch"), ("dynamodb", "TransactWriteItems")])
def test_manual_run_fault(engine: dict[str, Any], client: Any, faults: Injector, request: pytest.FixtureRequest,
                          service: str, operation: str) -> None:
    # Given a manual run whose message (or whose "queued" record) is refused
    job = daily()
    fault = faults.add(service, operation)
    assert_unavailable(call(client, "POST", f"/api/jobs/{job['id']}/run"))
    assert fault.fired == 1
    faults.clear()
    drain(queue_url(engine), engine["clock"])
    runs = [r.id for r in RunModel.query(job["id"])]
    # Then nothing ran if nothing was sent; if the message went out, it ran once (the
    # 503 is then a false negative: see docs/reliability.md)
    expected = [] if service == "sqs" else runs
    assert len(expected) == (0 if service == "sqs" else 1)
    audit(request, engine["recorder"], expected)
    assert_job(job["id"], succeeded=len(expected))
    check_quiet(request, queue_url(engine))


# --- 4. the last attempt, the dead-letter queue and the failure log ------------------------------------

def dlq_bodies(engine: dict[str, Any]) -> list[dict[str, Any]]:
    """Every message in the DLQ (received, not deleted)."""
    return [json.loads(r["body"]) for r in receive_all(str(engine["dlq_url"]))]


def failure_lines(tmp_path: Path) -> list[dict[str, Any]]:
    """The failure log of this test's config (logs.dir is under tmp_path)."""
    path = tmp_path / "logs" / "failures.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def failing_daily(engine: dict[str, Any], configure: Any) -> str:
    """A daily 00:05 job with two attempts, whose action always fails; its 00:05 occurrence is queued."""
    configure({"retryPolicy": {**RETRY, "maxAttempts": 2}})
    engine["recorder"].failures_left["doomed"] = 99
    job_id = daily("doomed")["id"]
    tick_at(engine["clock"], AT_0005 - 60_000)
    return str(job_id)


def test_dead_letter_refused_then_accepted_records_one_failure(
        engine: dict[str, Any], configure: Any, faults: Injector, tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    # Given the last attempt's hand-over to the DLQ is refused once
    job_id = failing_daily(engine, configure)
    fault = faults.add("sqs", "SendMessage")
    # When the queue drains (the last attempt is redelivered after the visibility timeout)
    drain(queue_url(engine), engine["clock"])
    assert fault.fired == 1
    # Then the occurrence is in the DLQ once, logged once, and counted as one failure
    run_id = scheduled_run_id(job_id, AT_0005)
    assert [(b["runId"], b["attempt"]) for b in dlq_bodies(engine)] == [(run_id, 3)]
    assert [line["runId"] for line in failure_lines(tmp_path)] == [run_id]
    audit(request, engine["recorder"], [run_id], failed_starts=2)  # attempt 1, attempt 2 twice
    assert_job(job_id, succeeded=0, failed=1)
    check_quiet(request, queue_url(engine))


def test_crash_after_dead_letter_duplicates_it_and_a_redrive_runs_once(
        engine: dict[str, Any], configure: Any, faults: Injector, request: pytest.FixtureRequest) -> None:
    # Given the process dies right after handing the last attempt to the DLQ
    job_id = failing_daily(engine, configure)
    fault = faults.add("sqs", "SendMessage", kind="crash")
    drain(queue_url(engine), engine["clock"])
    assert fault.fired == 1
    run_id = scheduled_run_id(job_id, AT_0005)
    # Then the redelivered attempt dead-letters it again: the DLQ holds it twice (documented)
    dead = dlq_bodies(engine)
    assert [(b["runId"], b["attempt"]) for b in dead] == [(run_id, 3)] * 2
    assert_job(job_id, succeeded=0, failed=1)
    # When an operator redrives both copies and the agent is healthy again
    engine["recorder"].failures_left["doomed"] = 0
    for body in dead:
        boto3.client("sqs").send_message(QueueUrl=queue_url(engine), MessageBody=json.dumps(body))
    drain(queue_url(engine), engine["clock"])
    # Then attempt 3 started once: the run claim admits one of the two copies
    assert [a for r, a, _ in engine["recorder"].calls if r == run_id] == [1, 2, 2, 3]
    audit(request, engine["recorder"], [run_id], failed_starts=3)
    assert RunModel.get(job_id, run_id).status == "succeeded"
    job = JobModel.get(job_id)
    # The redriven occurrence is counted as finished twice: once failed, once succeeded
    assert (int(job.runCount), int(job.failureCount), job.lastRunStatus) == (2, 1, "succeeded")
    # the operator's redrive started one attempt beyond the policy, on purpose
    check_quiet(request, queue_url(engine), attempts_allowed={run_id: 1})


# --- 5. agents that time out ------------------------------------------------------------------------

def agent_job(engine: dict[str, Any], configure: Any, url: str, max_attempts: int = 3) -> str:
    """A daily 00:05 job delivered over HTTP to ``url`` with a 1 s timeout; its occurrence is queued."""
    from conftest import job_body

    agents = {AGENT_ID: {"url": url, "timeoutMs": 1000}}
    configure({"retryPolicy": {**RETRY, "maxAttempts": max_attempts}, "agents": agents})
    job_id = runtime.jobs().create(job_body(name="remote", schedule="5 0 * * *"))["id"]
    tick_at(engine["clock"], AT_0005 - 60_000)
    return str(job_id)


def test_agent_timeout_is_retried_with_the_same_run_id(engine: dict[str, Any], configure: Any,
                                                      request: pytest.FixtureRequest) -> None:
    from devtools.agent_server import AgentServer, Response

    with AgentServer() as agent:
        # Given an agent whose first answer comes 2.5 s after the 1 s timeout
        agent.script(Response(200, delay_s=2.5), Response(200))
        job_id = agent_job(engine, configure, agent.url, max_attempts=5)  # margin for a loaded CI box
        # When the queue drains
        drain(queue_url(engine), engine["clock"])
        seen = [(r.header("X-AgentOS-Run-Id"), r.json()["attempt"]) for r in agent.requests]
    # Then every request carried the one run id, attempts counted up, and one success was recorded
    run_id = scheduled_run_id(job_id, AT_0005)
    assert len(seen) >= 2 and seen == [(run_id, k) for k in range(1, len(seen) + 1)]
    ledger("faults", request.node.name, occurrences=1, lost=0, twice=0, boundary_twice=1)
    assert_job(job_id, succeeded=1)
    check_quiet(request, queue_url(engine))


def test_agent_that_never_answers_ends_failed_in_the_dlq(engine: dict[str, Any], configure: Any, tmp_path: Path,
                                                        request: pytest.FixtureRequest) -> None:
    from devtools.agent_server import AgentServer

    with AgentServer() as agent:
        agent.respond_with(200, delay_s=5)
        job_id = agent_job(engine, configure, agent.url, max_attempts=2)
        drain(queue_url(engine), engine["clock"])
        assert len(agent.requests) == 2
    run_id = scheduled_run_id(job_id, AT_0005)
    assert [b["runId"] for b in dlq_bodies(engine)] == [run_id]
    assert "timed out" in failure_lines(tmp_path)[0]["error"]
    ledger("faults", request.node.name, occurrences=1, lost=0, twice=0, boundary_twice=0)
    assert_job(job_id, succeeded=0, failed=1)
    check_quiet(request, queue_url(engine))


def test_every_lease_ends_before_sqs_shows_the_message_again(engine: dict[str, Any], configure: Any,
                                                             request: pytest.FixtureRequest) -> None:
    # Given the slowest agent the config accepts (a slower one is refused at start-up)
    from chalicelib.config import get_config
    from chalicelib.errors import ConfigError

    configure({"agents": {AGENT_ID: {"url": "http://127.0.0.1:9/", "timeoutMs": 60_001}}})
    with pytest.raises(ConfigError, match="timeoutMs"):
        get_config()
    configure({"agents": {AGENT_ID: {"url": "http://127.0.0.1:9/", "timeoutMs": 60_000}}})
    # Then a dead claimant's lease has expired when its message comes back
    assert runtime.executor().lease_ms < QUEUE_VISIBILITY_S * 1000
    check_quiet(request, queue_url(engine))


def test_claimant_crash_with_the_slowest_agent_loses_nothing(engine: dict[str, Any], configure: Any,
                                                             faults: Injector, request: pytest.FixtureRequest) -> None:
    from devtools.agent_server import AgentServer

    with AgentServer() as agent:
        # Given an agent allowed the longest timeout, and a claimant that dies right after claiming
        job_id = agent_job(engine, configure, agent.url)
        configure({"agents": {AGENT_ID: {"url": agent.url, "timeoutMs": 60_000}}})
        fault = faults.add("dynamodb", "TransactWriteItems", kind="crash", match=is_claim)
        # When SQS shows the message again after its visibility timeout
        drain(queue_url(engine), engine["clock"])
        assert fault.fired == 1
        # Then the occurrence is delivered, once
        assert [r.header("X-AgentOS-Run-Id") for r in agent.requests] == [scheduled_run_id(job_id, AT_0005)]
    ledger("faults", request.node.name, occurrences=1, lost=0, twice=0, boundary_twice=0)
    assert_job(job_id, succeeded=1)
    check_quiet(request, queue_url(engine))
