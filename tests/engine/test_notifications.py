"""Notifications (contract section 13): queued on the jobs queue, POSTed signed to a real local
receiver, retried up to 3 times, Slack's format on demand, never failing the caller."""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import runtime
from chalicelib.config import NotificationTarget
from chalicelib.engine.notifications import Notifier, is_notification
from conftest import receive_all
from devtools.agent_server import AgentServer

JOB = {"id": "job-0123456789abcdef", "name": "nightly", "agentId": "550e8400-e29b-41d4-a716-446655440000"}
SECRET = "notify-secret"


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[AgentServer]:
    """A local HTTP receiver that checks the signature with its own HMAC implementation."""
    monkeypatch.setenv("NOTIFY_SECRET", SECRET)
    with AgentServer(secret=SECRET.encode(), path="/notify") as server:
        yield server


@pytest.fixture
def plain() -> Iterator[AgentServer]:
    """A receiver that takes unsigned notifications."""
    with AgentServer(path="/notify") as server:
        yield server


def pending(queue_url: str) -> list[dict[str, Any]]:
    """The notifications waiting on the jobs queue (received, so each is taken once)."""
    records = receive_all(queue_url)
    assert all(is_notification(record) for record in records)
    return records


def test_a_notification_is_posted_signed(aws: dict[str, str], no_sqs_delay: None, receiver: AgentServer) -> None:
    # Given a receiver of run.failed with a signing secret, and one of job.late only
    notifier = Notifier([NotificationTarget(receiver.url, ("run.failed",), "NOTIFY_SECRET"),
                         NotificationTarget(receiver.url + "/late", ("job.late",))], runtime.queue())
    # When a run fails
    assert notifier.emit("run.failed", JOB, {"id": "run-1", "status": "failed"}, "the agent answered 500") == 1
    for record in pending(aws["queue_url"]):
        assert notifier.deliver_record(record)
    # Then the receiver got one signed POST of the contract's shape
    [request] = receiver.requests
    body = request.json()
    assert request.signature_valid is True
    assert (body["event"], body["job"], body["run"]["id"], body["message"]) == \
        ("run.failed", JOB, "run-1", "the agent answered 500")
    assert body["at"].endswith("Z")


def test_a_failing_receiver_is_tried_four_times_then_dropped(aws: dict[str, str], no_sqs_delay: None,
                                                             receiver: AgentServer) -> None:
    receiver.respond_with(503)
    notifier = Notifier([NotificationTarget(receiver.url, ("job.paused",), "NOTIFY_SECRET")], runtime.queue())
    notifier.emit("job.paused", JOB, None, "the circuit breaker paused the job after 5 failed runs")
    rounds = 0
    while records := pending(aws["queue_url"]):
        rounds += 1
        for record in records:
            notifier.deliver_record(record)
    assert rounds == 4 and len(receiver.requests) == 4  # the first try and 3 retries
    assert [json.loads(r.body)["event"] for r in receiver.requests] == ["job.paused"] * 4


def test_a_retry_that_succeeds_stops(aws: dict[str, str], no_sqs_delay: None, plain: AgentServer) -> None:
    receiver = plain
    receiver.respond_with(500, 200)
    notifier = Notifier([NotificationTarget(receiver.url, ("job.completed",))], runtime.queue())
    notifier.emit("job.completed", JOB, None, "maxRuns reached")
    while records := pending(aws["queue_url"]):
        for record in records:
            notifier.deliver_record(record)
    assert len(receiver.requests) == 2


def test_slack_format(aws: dict[str, str], no_sqs_delay: None, plain: AgentServer) -> None:
    receiver = plain
    notifier = Notifier([NotificationTarget(receiver.url, ("job.blocked",), None, "slack")], runtime.queue())
    notifier.emit("job.blocked", JOB, None, "budget: $2.00 of $2.00 spent today")
    for record in pending(aws["queue_url"]):
        notifier.deliver_record(record)
    assert len(receiver.requests) == 1 and receiver.requests[0].json() == {
        "text": "*job.blocked*: job `nightly` (job-0123456789abcdef): budget: $2.00 of $2.00 spent today"}


def test_a_receiver_removed_from_the_config_gets_nothing(aws: dict[str, str], no_sqs_delay: None,
                                                        receiver: AgentServer) -> None:
    before = Notifier([NotificationTarget(receiver.url, ("run.failed",))], runtime.queue())
    before.emit("run.failed", JOB, None, "x")
    after = Notifier([NotificationTarget("http://127.0.0.1:9/other", ("run.failed",))], runtime.queue())
    for record in pending(aws["queue_url"]):
        assert after.deliver_record(record)
    assert receiver.requests == []


def test_an_unset_secret_never_sends_unsigned(aws: dict[str, str], no_sqs_delay: None, receiver: AgentServer,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SECRET")
    notifier = Notifier([NotificationTarget(receiver.url, ("run.failed",), "NOTIFY_SECRET")], runtime.queue())
    notifier.emit("run.failed", JOB, None, "x")
    while records := pending(aws["queue_url"]):
        for record in records:
            notifier.deliver_record(record)
    assert receiver.requests == []


def test_a_queue_that_refuses_never_fails_the_caller(aws: dict[str, str], faults: Any) -> None:
    faults.add("sqs", "SendMessage", kind="throttle", times=10)
    notifier = Notifier([NotificationTarget("http://127.0.0.1:9/n", ("run.failed",))], runtime.queue())
    assert notifier.emit("run.failed", JOB, None, "x") == 0  # logged, not raised


def test_the_executor_handler_posts_notifications_beside_occurrences(aws: dict[str, str], no_sqs_delay: None,
                                                                     configure: Any, plain: AgentServer) -> None:
    # Given a configured receiver, and a notification queued on the jobs queue
    configure({"notifications": [{"url": plain.url, "events": ["run.failed"]}]})
    runtime.notifier().emit("run.failed", JOB, None, "x")
    records = pending(aws["queue_url"])
    # When the executor's Lambda handler gets it in a batch with a malformed one
    from chalicelib import handlers

    class Event:
        def to_dict(self) -> dict[str, Any]:
            return {"Records": [*records, {"messageId": "bad", "body": '{"notify": 1}'}]}

    answer = handlers._execute(Event())
    # Then it is posted, nothing is failed back to SQS, and the malformed one is dropped
    assert answer == {"batchItemFailures": []}
    assert [r.json()["event"] for r in plain.requests] == ["run.failed"]


def received(server: AgentServer) -> list[tuple[str, str]]:
    """(event, job name) of each notification the receiver got, in order."""
    return [(r.json()["event"], r.json()["job"]["name"]) for r in server.requests]


def test_a_failing_job_notifies_run_failed_then_its_breaker_pause(stack: dict[str, Any], configure: Any,
                                                                  plain: AgentServer) -> None:
    # Given receivers of every event (unsigned: the stack's clock is 2030, a signature's time
    # would be outside the receiver's window; test_a_notification_is_posted_signed checks them),
    # and an agent that always answers 500
    from conftest import AGENT_ID, create_job, drive

    receiver = plain
    configure({"agents": {AGENT_ID: {"url": stack["agent"].url}}, "notifications": [
        {"url": receiver.url, "events": ["run.failed", "job.paused", "job.completed", "job.blocked", "job.late"]}]})
    stack["agent"].respond_with(500)
    create_job(stack, name="breaks", schedule=None, interval=5000, maxConsecutiveFailures=2)
    create_job(stack, name="once")  # one run at 00:00:05 of an agent that fails: completes, failed
    # When its runs fail (no retry policy: each run is one attempt)
    drive(stack, 16)
    # Then each failed run was told, with the run as the API shows it; the breaker's pause
    # once; and the single-run job's end
    events = received(receiver)
    assert events.count(("run.failed", "breaks")) == 2 and events.count(("job.paused", "breaks")) == 1
    assert ("run.failed", "once") in events and ("job.completed", "once") not in events  # it failed
    failed = next(r.json() for r in receiver.requests if r.json()["event"] == "run.failed")
    assert failed["run"]["status"] == "failed" and failed["run"]["id"].startswith("run-")
    assert "HTTP 500" in failed["message"] or "500" in failed["message"]


def test_a_single_run_job_that_succeeds_notifies_completed(stack: dict[str, Any], configure: Any,
                                                           plain: AgentServer) -> None:
    from conftest import AGENT_ID, create_job, drive

    configure({"agents": {AGENT_ID: {"url": stack["agent"].url}},
               "notifications": [{"url": plain.url, "events": ["job.completed"]}]})
    job = create_job(stack, name="single")
    drive(stack, 8)
    assert received(plain) == [("job.completed", "single")]
    assert plain.requests[0].json()["job"]["id"] == job["id"]
    assert plain.requests[0].json()["run"]["status"] == "succeeded"


def test_no_receiver_costs_nothing(stack: dict[str, Any]) -> None:
    # Given no notifications configured, a failing run sends no notification message
    from conftest import create_job, drive

    stack["agent"].respond_with(500)
    create_job(stack, name="quiet")
    drive(stack, 8)
    assert runtime.executor().outcomes.notifier.targets == ()


@pytest.mark.parametrize("where", ["job", "agent"])
def test_a_spent_budget_tells_job_blocked_once_per_block(stack: dict[str, Any], configure: Any, plain: AgentServer,
                                                         where: str) -> None:
    # Given a job (or its agent) with 100 tokens a day, whose first run reports 150
    from conftest import AGENT_ID, create_job, drive

    agent = {"url": stack["agent"].url, **({"budget": {"maxTokensPerDay": 100}} if where == "agent" else {})}
    configure({"agents": {AGENT_ID: agent}, "notifications": [{"url": plain.url, "events": ["job.blocked"]}]})
    stack["agent"].respond_with(200, body=json.dumps({"usage": {"inputTokens": 150}}))
    budget = {"budget": {"maxTokensPerDay": 100}} if where == "job" else {}
    create_job(stack, name=f"spender-{where}", schedule=None, interval=2000, **budget)
    # When its later occurrences are skipped for the rest of the day
    drive(stack, 20)
    # Then the receiver was told once that the job is blocked, naming the budget
    told = [r.json() for r in plain.requests]
    assert [n["event"] for n in told] == ["job.blocked"], told
    assert "budget" in told[0]["message"] and told[0]["job"]["name"] == f"spender-{where}"
    assert len(stack["agent"].requests) == 1  # one run spent it; the rest were skipped
