"""The executor: claim, hold, deliver, retry, dead-letter, on moto.

README, "Agents: how an occurrence is delivered", is what these tests hold it to."""
from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from chalicelib import runtime
from chalicelib.clock import now_ms
from chalicelib.config import RetryPolicy
from chalicelib.engine.executor import Outcome, backoff_ms
from chalicelib.store.models import JobModel, RunModel, Trigger
from chalicelib.store.runs import Occurrence
from chalicelib.store.sqs import Message, decode
from conftest import AGENT_ID, NO_JITTER, job_body, pump, receive_all, record_job
from devtools.agent_server import AgentServer


def create(**overrides: Any) -> dict[str, Any]:
    return runtime.jobs().create(record_job(**overrides))


def run_all(engine: dict[str, Any], seconds: float = 0) -> None:
    engine["clock"].advance(seconds)
    while pump(engine["queue_url"]):
        pass


def runs_of(job_id: str) -> list[RunModel]:
    return list(RunModel.query(job_id))


def test_occurrence_runs_and_is_recorded_on_run_and_job(engine: dict[str, Any]) -> None:
    job = create(name="once", schedule="2030-01-01T00:00:30Z")
    run_all(engine, 31)
    [run] = runs_of(job["id"])
    assert (run.status, run.attempt, run.trigger, run.scheduledAt) == ("succeeded", 1, "schedule", 1_893_456_030_000)
    stored = JobModel.get(job["id"])
    assert (stored.status, stored.runCount, stored.lastRunStatus, stored.dueShard) == (
        "completed", 1, "succeeded", None)
    assert engine["recorder"].runs() == [run.id]


def test_executor_holds_an_early_message_until_its_instant(engine: dict[str, Any]) -> None:
    create(name="early", schedule="2030-01-01T00:00:03Z")
    pump(engine["queue_url"])  # the clock is at 00:00:00: the executor waits 3 s (on the fake clock)
    [(_, _, started)] = engine["recorder"].calls
    assert started == 1_893_456_003.0


def test_duplicated_sqs_message_reaches_the_agent_once(engine: dict[str, Any]) -> None:
    create(name="dup", schedule="2030-01-01T00:00:10Z")
    [record] = receive_all(engine["queue_url"])
    sqs = boto3.client("sqs")
    for _ in range(3):  # SQS at-least-once: the same body arrives again
        sqs.send_message(QueueUrl=engine["queue_url"], MessageBody=record["body"])
    sqs.change_message_visibility(QueueUrl=engine["queue_url"], ReceiptHandle=record["receiptHandle"],
                                  VisibilityTimeout=0)
    run_all(engine, 11)
    assert len(engine["recorder"].calls) == 1


def test_retries_keep_the_run_id_and_back_off(engine: dict[str, Any]) -> None:
    # Given an agent that fails twice, then succeeds
    job = create(name="flaky", schedule="2030-01-01T00:00:10Z", retryPolicy=NO_JITTER)
    engine["recorder"].failures_left["flaky"] = 2
    # When the executor runs whatever is due, letting time pass
    for _ in range(6):
        run_all(engine, 5)
    # Then three attempts of one run id, 1 s then 2 s apart, and the run succeeded
    calls = engine["recorder"].calls
    assert [c[1] for c in calls] == [1, 2, 3] and len({c[0] for c in calls}) == 1
    assert [calls[1][2] - calls[0][2] >= 1.0, calls[2][2] - calls[1][2] >= 2.0] == [True, True]
    [run] = runs_of(job["id"])
    assert (run.status, run.attempt, run.error) == ("succeeded", 3, None)
    assert JobModel.get(job["id"]).runCount == 1


def test_exhausted_retries_end_in_the_dlq_failed_and_logged(engine: dict[str, Any], configure: Any) -> None:
    path = configure({"retryPolicy": {**NO_JITTER, "maxAttempts": 2}})
    job = create(name="doomed", schedule="2030-01-01T00:00:10Z")
    engine["recorder"].failures_left["doomed"] = 99
    for _ in range(5):
        run_all(engine, 5)
    [run] = runs_of(job["id"])
    assert (run.status, run.attempt, run.error) == ("failed", 2, "agent answered 503")
    stored = JobModel.get(job["id"])
    assert (stored.status, stored.failureCount, stored.lastRunStatus) == ("failed", 1, "failed")
    dead = [json.loads(r["body"]) for r in receive_all(engine["dlq_url"])]
    assert [(d["runId"], d["attempt"], d["failure"]) for d in dead] == [(run.id, 3, "agent answered 503")]
    [line] = (path.parent / "logs" / "failures.jsonl").read_text().splitlines()
    assert {k: json.loads(line)[k] for k in ("jobId", "runId", "attempt", "error")} == {
        "jobId": job["id"], "runId": run.id, "attempt": 2, "error": "agent answered 503"}


def test_dlq_redrive_runs_the_failed_occurrence_once_more(engine: dict[str, Any], configure: Any) -> None:
    configure({"retryPolicy": {**NO_JITTER, "maxAttempts": 1}})
    job = create(name="redriven", schedule="2030-01-01T00:00:10Z")
    engine["recorder"].failures_left["redriven"] = 1
    run_all(engine, 11)
    [dead] = receive_all(engine["dlq_url"])
    sqs = boto3.client("sqs")
    for _ in range(2):  # a redrive, delivered twice by SQS
        sqs.send_message(QueueUrl=engine["queue_url"], MessageBody=dead["body"])
    run_all(engine, 1)
    [run] = runs_of(job["id"])
    assert (run.status, run.attempt) == ("succeeded", 2)
    assert Counter(engine["recorder"].runs()) == {run.id: 2}


def test_non_retryable_failure_is_not_retried(engine: dict[str, Any]) -> None:
    job = runtime.jobs().create(job_body(name="unknown", schedule="2030-01-01T00:00:10Z",
                                         payload={"action": "NO_SUCH_ACTION"}, retryPolicy=NO_JITTER))
    run_all(engine, 11)
    [run] = runs_of(job["id"])
    assert run.status == "failed" and run.attempt == 1 and "NO_SUCH_ACTION" in run.error


def queued_count(queue_url: str) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


@pytest.mark.parametrize("change", ["delete", "pause", "reschedule"])
def test_deleted_paused_and_rescheduled_jobs_start_nothing(engine: dict[str, Any], change: str) -> None:
    # Given a job whose next occurrences are already in SQS
    job = create(name=f"gone-{change}", schedule=None, interval=5_000)
    assert queued_count(engine["queue_url"]) > 0
    # When it is deleted, paused or moved to another schedule
    if change == "delete":
        runtime.jobs().delete(job["id"])
    else:
        runtime.jobs().update(job["id"], {"status": "paused"} if change == "pause" else {"schedule": "0 12 * * *"})
    # Then none of the queued occurrences starts, and none is a run (contract section 13: no record)
    run_all(engine, 100)
    assert engine["recorder"].calls == []
    assert list(runs_of(job["id"])) == []


def test_manual_run_runs_once(engine: dict[str, Any]) -> None:
    job = create(name="manual", schedule="0 12 * * *")
    run = runtime.jobs().run_now(job["id"])
    run_all(engine)
    assert engine["recorder"].runs() == [run["id"]]
    [stored] = runs_of(job["id"])
    assert (stored.status, stored.trigger) == ("succeeded", "manual")


def test_requeues_a_message_far_ahead(engine: dict[str, Any]) -> None:
    job = create(name="far", schedule="0 12 * * *")
    at = now_ms() + 600_000
    message = Message(Occurrence(job["id"], "run-x", at, Trigger.SCHEDULE, 1, 1), at)
    assert runtime.executor().run(message) is Outcome.REQUEUED
    assert [decode(r["body"]).occurrence.run_id for r in receive_all(engine["queue_url"])] == ["run-x"]
    assert engine["recorder"].calls == []


def test_bad_record_fails_alone(engine: dict[str, Any]) -> None:
    create(name="good", schedule="2030-01-01T00:00:01Z")
    [good] = receive_all(engine["queue_url"])
    engine["clock"].advance(2)
    result = runtime.executor().handle_batch([{"messageId": "bad", "body": "{not json"}, good])
    assert result == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    assert len(engine["recorder"].calls) == 1


def test_backoff_grows_and_honours_retry_after() -> None:
    policy = RetryPolicy(**NO_JITTER)
    assert [backoff_ms(policy, n, None) for n in (1, 2, 3, 10)] == [1000, 2000, 4000, 60_000]
    assert backoff_ms(policy, 1, 30) == 30_000
    jittered = RetryPolicy(**{**NO_JITTER, "jitter": True})
    assert all(500 <= backoff_ms(jittered, 1, None) <= 1000 for _ in range(50))


def test_http_agent_receives_the_documented_body_signed(aws: dict[str, Any], configure: Any,
                                                      no_sqs_delay: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_SECRET", "top-secret-value")
    with AgentServer(secret=b"top-secret-value") as agent:
        configure({"agents": {AGENT_ID: {"url": agent.url, "secretEnv": "AGENT_SECRET", "timeoutMs": 2000}}})
        at = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)
        job = runtime.jobs().create(job_body(name="http", schedule=at.isoformat()))
        pump(aws["queue_url"])
        [request] = agent.wait_for(1)
    assert request.signature_valid
    body = request.json()
    assert set(body) == {"jobId", "jobName", "runId", "agentId", "scheduledAt", "attempt", "trigger", "payload",
                         "callbackUrl", "callbackToken", "timeoutAt", "state", "lastSuccess"}
    assert (body["state"], body["lastSuccess"]) == (None, None)  # a first run: no memory yet (section 12)
    assert body["callbackUrl"].endswith(f"/api/runs/{body['runId']}")
    assert (body["jobId"], body["jobName"], body["agentId"], body["attempt"], body["trigger"]) == (
        job["id"], "http", AGENT_ID, 1, "schedule")
    assert body["scheduledAt"] == at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert request.header("X-AgentOS-Run-Id") == body["runId"]
    assert body["payload"] == job["payload"]
    # on the second, unless this busy machine delays the one start (the e2e interval test checks
    # the median of several against the second; the figures are `make bench`'s)
    assert 0 <= request.received_at - at.timestamp() < 3.0


@pytest.mark.parametrize("change", ["delete", "pause"])
def test_change_during_the_hold_stops_the_occurrence(engine: dict[str, Any], change: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an occurrence already claimed, held until its instant
    job = create(name=f"held-{change}", schedule="2030-01-01T00:00:03Z")
    from chalicelib import clock as clock_module

    original = clock_module.sleep_until

    def change_during_hold(epoch_ms: int) -> None:
        # When the job is deleted or paused while the executor holds the message
        if change == "delete":
            runtime.jobs().delete(job["id"])
        else:
            runtime.jobs().update(job["id"], {"status": "paused"})
        original(epoch_ms)

    monkeypatch.setattr(clock_module, "sleep_until", change_during_hold)
    pump(engine["queue_url"])
    # Then nothing starts after the change returned, and its claim leaves no run (contract section 13)
    assert engine["recorder"].calls == []
    assert list(runs_of(job["id"])) == []
    assert runtime.job_store().find(job["id"]) is None or JobModel.get(job["id"]).activeRun is None


def test_pause_then_resume_during_the_hold_still_runs_the_occurrence_once(
        engine: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a cron job whose 00:01 occurrence is claimed and held by an executor
    job = create(name="resumed-in-hold", schedule="1 0 * * *", retryPolicy=NO_JITTER)
    engine["clock"].advance(59.5)
    from chalicelib import clock as clock_module

    original = clock_module.sleep_until
    resumed: list[bool] = []

    def pause_and_resume_during_hold(epoch_ms: int) -> None:
        # When the job is paused and resumed while the message is held (same instant, new generation)
        if not resumed:
            resumed.append(True)
            runtime.jobs().update(job["id"], {"status": "paused"})
            engine["clock"].advance(0.1)
            runtime.jobs().update(job["id"], {"status": "active"})
        original(epoch_ms)

    monkeypatch.setattr(clock_module, "sleep_until", pause_and_resume_during_hold)
    run_all(engine, 0)
    monkeypatch.setattr(clock_module, "sleep_until", original)
    run_all(engine, 2)
    # Then the occurrence of the new generation runs, once (an earlier version lost it)
    assert len(engine["recorder"].calls) == 1
    assert [r.status for r in runs_of(job["id"])] == ["succeeded"]


def conflict_once(monkeypatch: pytest.MonkeyPatch, operation: str, nth: int = 1) -> list[int]:
    """Make the nth TransactWriteItems call cancel with TransactionConflict (before reaching moto)."""
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    original, seen = BaseClient._make_api_call, [0]

    def api_call(client: Any, name: str, params: dict[str, Any]) -> Any:
        if name == operation:
            seen[0] += 1
            if seen[0] == nth:
                items = params.get("TransactItems", [])
                error = {"Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                         "CancellationReasons": [{"Code": "TransactionConflict"} for _ in items]}
                raise ClientError(error, name)
        return original(client, name, params)
    monkeypatch.setattr(BaseClient, "_make_api_call", api_call)
    return seen


@pytest.mark.parametrize("nth, which", [(1, "claim"), (2, "outcome")])
def test_a_transaction_conflict_is_retried_not_treated_as_an_outage(
        engine: dict[str, Any], monkeypatch: pytest.MonkeyPatch, nth: int, which: str) -> None:
    # Given the claim (1st transaction) or the outcome write (2nd) is cancelled by a conflict once
    job = create(name=f"conflict-{which}", schedule="2030-01-01T00:00:10Z")
    seen = conflict_once(monkeypatch, "TransactWriteItems", nth)
    # When the occurrence runs
    run_all(engine, 11)
    # Then it ran on time, once, and its outcome is recorded (no 9-minute redelivery, no second start)
    assert len(engine["recorder"].calls) == 1 and engine["recorder"].calls[0][2] == 1_893_456_011.0  # when pumped
    [run] = runs_of(job["id"])
    assert run.status == "succeeded" and seen[0] >= nth + 1


def test_a_duplicate_of_a_given_up_attempt_resends_the_next_one_at_its_backoff(engine: dict[str, Any]) -> None:
    # Given an attempt that failed and was given up with a 600 s backoff
    job = create(name="dup-backoff", schedule="2030-01-01T00:00:10Z",
                 retryPolicy={**NO_JITTER, "initialDelayMs": 600_000, "maxDelayMs": 600_000})
    engine["recorder"].failures_left["dup-backoff"] = 1
    engine["clock"].advance(11)
    [first] = receive_all(engine["queue_url"])
    runtime.executor().run(decode(first["body"]))
    [run] = runs_of(job["id"])
    assert run.status == "retrying"
    # When SQS delivers the first attempt's message again
    before = {r["messageId"] for r in receive_all(engine["queue_url"])}
    runtime.executor().run(decode(first["body"]))
    # Then the next attempt it re-sends is due at the backoff, not at once
    resent = [decode(r["body"]) for r in receive_all(engine["queue_url"]) if r["messageId"] not in before]
    assert [m.occurrence.attempt for m in resent] == [2]
    assert resent[0].not_before_ms == int(run.retryAt) >= now_ms() + 599_000
