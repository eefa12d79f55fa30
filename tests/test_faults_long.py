"""Fault injection at every I/O boundary of an accepted (202) run: accept, the deadline check,
heartbeat, complete, cancel and the timeout, with the injector of ``tests/fault_injector.py``.

The life: a single-run job due in 60 s, delivered to an HTTP agent that answers 202; the agent
heartbeats, then reports success through the API (as a client would: a 5xx or a crash is
retried, a 409 means the attempt is over). After the fault, production recovers (tick, SQS
redelivery after the visibility timeout, deadlines passing), and an agent still holding an
accepted attempt reports it. The audit: the run ended (never left ``running`` past its
deadline, never lost), every delivery carried the same run id, and the job is consistent.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from chalicelib import runtime
from chalicelib.clock import now_ms
from chalicelib.errors import JobsError, RunConflict
from chalicelib.store.models import JobModel, RunModel
from devtools.agent_server import AgentServer
from fault_injector import WRITES, Crash, Injector
from infra.resources import QUEUE_VISIBILITY_S
from invariants import check_quiet
from test_faults import FIRST_AT, RETRY, drain, ledger, queue_url, tick_at

LONG_AGENT = "6f1c2a8e-1d8b-4c1e-9a55-0c6b2d4f7e10"
LONG_WRITES = 9
TIMEOUT_MS = 120_000


@pytest.fixture
def long_engine(engine: dict[str, Any], configure: Any) -> Iterator[dict[str, Any]]:
    """The fault engine, plus an HTTP agent that accepts every delivery with 202."""
    with AgentServer() as agent:
        agent.respond_with(202)
        configure({"agents": {LONG_AGENT: {"url": agent.url, "timeoutMs": 10_000}}, "retryPolicy": RETRY})
        yield {**engine, "agent": agent}


def as_a_client(action: Callable[[], Any]) -> Any:
    """Call the API as an agent would: retry a 5xx or a dropped answer; a 409 ends the attempt."""
    for _ in range(4):
        try:
            return action()
        except RunConflict:
            return None
        except (JobsError, Crash):
            continue
    return None


def attempts_first(engine: dict[str, Any]) -> None:
    """Run every queued attempt, but not the deadline checks: the agent reports before its deadline."""
    sqs, url = boto3.client("sqs"), queue_url(engine)
    held: list[dict[str, Any]] = []
    for _ in range(6):
        from conftest import receive_all

        records = receive_all(url)
        held += [r for r in records if json.loads(r["body"]).get("kind") == "check"]
        attempts = [r for r in records if json.loads(r["body"]).get("kind") != "check"]
        if not attempts:
            break
        engine["clock"].t = max(engine["clock"].t, min(json.loads(r["body"])["notBefore"] for r in attempts) / 1000)
        failed = {f["itemIdentifier"] for f in runtime.executor().handle_batch(attempts)["batchItemFailures"]}
        for record in attempts:
            if record["messageId"] in failed:  # SQS shows it again after the visibility timeout
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0)
            else:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=record["receiptHandle"])
        if failed:
            engine["clock"].advance(QUEUE_VISIBILITY_S)
    for record in held:  # the checks come back (their delay is what the fake clock models)
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0)


USAGE = {"inputTokens": 700, "outputTokens": 300, "costUsd": 0.25}  # what a budgeted life's agent reports


def agent_reports(engine: dict[str, Any]) -> None:
    """The agent holding the latest accepted attempt heartbeats, then reports success (with its
    usage, when the engine says so); a silent agent reports nothing."""
    if not engine["agent"].requests or engine.get("silent"):
        return
    sent = engine["agent"].requests[-1].json()
    attempt, service = sent["attempt"], runtime.run_service()
    outcome = {"status": "succeeded", "output": {"ok": True}, **({"usage": USAGE} if engine.get("usage") else {})}
    as_a_client(lambda: service.heartbeat(sent["runId"], {"progress": {"pct": 50}}, attempt))
    as_a_client(lambda: service.complete(sent["runId"], outcome, attempt))


def long_life(engine: dict[str, Any]) -> str:
    """Create, deliver (202), heartbeat, complete, then let the deadline check pass."""
    from test_faults import create_as_a_client_would

    body = {"name": "long-life", "agentId": LONG_AGENT, "schedule": "2030-01-01T00:01:00Z", "payload": {},
            "timeoutMs": TIMEOUT_MS, "retryPolicy": RETRY}
    job_id = create_as_a_client_would(body)
    attempts_first(engine)
    agent_reports(engine)
    drain(queue_url(engine), engine["clock"])
    return job_id


def settle(engine: dict[str, Any], job_id: str) -> RunModel:
    """Production recovers; an agent still holding an accepted attempt reports it; deadlines pass."""
    for _ in range(4):
        tick_at(engine["clock"], now_ms() + 60_000)
        attempts_first(engine)
        agent_reports(engine)
        drain(queue_url(engine), engine["clock"])
    engine["clock"].advance(4 * TIMEOUT_MS / 1000)
    drain(queue_url(engine), engine["clock"])
    [run] = list(RunModel.query(job_id, consistent_read=True))
    return run


def audit_long(request: pytest.FixtureRequest, engine: dict[str, Any], job_id: str, run: RunModel,
               expected: str | None = None) -> None:
    """The run ended (not lost, not stuck running), one run id throughout, the job consistent,
    and the invariants hold (``expected``: the status it must end with)."""
    delivered = {r.json()["runId"] for r in engine["agent"].requests}
    stuck = run.status in ("running", "queued", "retrying")
    ledger("faults-long", request.node.name, occurrences=1, lost=int(not engine["agent"].requests), stuck=int(stuck))
    assert engine["agent"].requests, "lost: never delivered"
    assert delivered == {run.id} and run.id == f"run-{FIRST_AT:013d}-{job_id.removeprefix('job-')}"
    assert not stuck and run.status in ("succeeded", "failed"), (run.status, run.error)
    if expected is not None:
        assert run.status == expected, (run.status, run.error)
    job = JobModel.get(job_id, consistent_read=True)
    assert job.activeRun is None and job.status == ("completed" if run.status == "succeeded" else "failed")
    assert int(job.runCount) == 1
    check_quiet(request, queue_url(engine))


def test_the_long_life_has_the_writes_the_sweep_expects(long_engine: dict[str, Any], faults: Injector,
                                                        request: pytest.FixtureRequest) -> None:
    job_id = long_life(long_engine)
    writes = [c for c in faults.log if c in WRITES]
    # create, enqueue, advance, claim, accept, hold the slot to the deadline, send the check,
    # heartbeat, complete (run + job + slot in one transaction)
    assert len(writes) == LONG_WRITES, writes
    run = settle(long_engine, job_id)
    assert (run.status, json.loads(run.output)) == ("succeeded", {"ok": True})
    audit_long(request, long_engine, job_id, run)


@pytest.mark.parametrize("kind", ["throttle", "lost", "crash"])
@pytest.mark.parametrize("nth", range(4, LONG_WRITES + 1))
def test_a_fault_at_any_write_of_an_accepted_run_loses_nothing_and_leaves_nothing_running(
        long_engine: dict[str, Any], faults: Injector, request: pytest.FixtureRequest, nth: int, kind: str) -> None:
    # Given the nth write of the accepted run's life fails (before reaching AWS, or after committing)
    fault = faults.add_any(WRITES, kind=kind, skip=nth - 1)
    job_id = long_life(long_engine)
    assert fault.fired == 1
    faults.clear()
    # Then after recovery the run ended once, with one run id, and nothing is left running
    audit_long(request, long_engine, job_id, settle(long_engine, job_id))


@pytest.mark.parametrize("kind", ["throttle", "lost", "crash"])
@pytest.mark.parametrize("which", ["check read", "timeout write"])
def test_a_fault_in_the_timeout_path_still_times_the_run_out(
        long_engine: dict[str, Any], faults: Injector, request: pytest.FixtureRequest, kind: str, which: str) -> None:
    # Given an accepted run whose agent never reports
    from test_faults import create_as_a_client_would

    body = {"name": "silent-life", "agentId": LONG_AGENT, "schedule": "2030-01-01T00:01:00Z", "payload": {},
            "timeoutMs": TIMEOUT_MS, "retryPolicy": {**RETRY, "maxAttempts": 1}}
    job_id = create_as_a_client_would(body)
    attempts_first(long_engine)
    # When the deadline check's read, or its timeout write, fails once
    if which == "check read":
        fault = faults.add("dynamodb", "GetItem", kind=kind)
    else:
        fault = faults.add_any(frozenset({("dynamodb", "TransactWriteItems")}), kind=kind)
    drain(queue_url(long_engine), long_engine["clock"])
    assert fault.fired == 1
    faults.clear()
    long_engine["clock"].advance(4 * TIMEOUT_MS / 1000)
    drain(queue_url(long_engine), long_engine["clock"])
    # Then the run still ends failed ("timed out"), not stuck running
    [run] = list(RunModel.query(job_id, consistent_read=True))
    ledger("faults-long", request.node.name, occurrences=1, lost=0, stuck=int(run.status == "running"))
    assert run.status == "failed" and "timed out" in run.error, (run.status, run.error)
    assert JobModel.get(job_id).activeRun is None
    check_quiet(request, queue_url(long_engine))


@pytest.mark.parametrize("kind", ["throttle", "lost", "crash"])
def test_a_fault_while_cancelling_an_accepted_run_still_ends_it(
        long_engine: dict[str, Any], faults: Injector, request: pytest.FixtureRequest, kind: str) -> None:
    from test_faults import create_as_a_client_would

    body = {"name": "cancel-life", "agentId": LONG_AGENT, "schedule": "2030-01-01T00:01:00Z", "payload": {},
            "timeoutMs": TIMEOUT_MS, "retryPolicy": RETRY}
    job_id = create_as_a_client_would(body)
    attempts_first(long_engine)
    run_id = long_engine["agent"].requests[-1].json()["runId"]
    # When the operator's cancel write fails once (the operator retries, as a client would)
    fault = faults.add("dynamodb", "UpdateItem", kind=kind)
    as_a_client(lambda: runtime.run_service().cancel(run_id))
    assert fault.fired == 1
    faults.clear()
    as_a_client(lambda: runtime.run_service().cancel(run_id))
    # Then the agent's next report (whatever it says), or the deadline, ends it cancelled
    agent_reports(long_engine)
    long_engine["clock"].advance(4 * TIMEOUT_MS / 1000)
    drain(queue_url(long_engine), long_engine["clock"])
    [run] = list(RunModel.query(job_id, consistent_read=True))
    ledger("faults-long", request.node.name, occurrences=1, lost=0, stuck=int(run.status == "running"))
    assert run.status == "cancelled" and len(long_engine["agent"].requests) == 1
    assert JobModel.get(job_id).activeRun is None
    check_quiet(request, queue_url(long_engine))


# --- an agent that never reports: accepted with 202, then silence --------------------------------
#
# The life: create (stored, enqueued, advanced), claim, accept, hold the slot to the deadline, send
# the deadline check; the agent says nothing more, so the check times the attempt out (one attempt:
# the run ends failed). Every write of it, with each kind; the run must end failed ("timed out").

SILENT_WRITES = 9


def silent_life(engine: dict[str, Any]) -> str:
    """Create, deliver (202), then silence until well past the deadline."""
    from test_faults import create_as_a_client_would

    body = {"name": "silent-life", "agentId": LONG_AGENT, "schedule": "2030-01-01T00:01:00Z", "payload": {},
            "timeoutMs": TIMEOUT_MS, "retryPolicy": {**RETRY, "maxAttempts": 1}}
    job_id = create_as_a_client_would(body)
    attempts_first(engine)
    drain(queue_url(engine), engine["clock"])
    engine["clock"].advance(4 * TIMEOUT_MS / 1000)
    drain(queue_url(engine), engine["clock"])
    return job_id


def test_the_silent_life_has_the_writes_the_sweep_expects(long_engine: dict[str, Any], faults: Injector,
                                                          request: pytest.FixtureRequest) -> None:
    engine = {**long_engine, "silent": True}
    job_id = silent_life(engine)
    writes = [c for c in faults.log if c in WRITES]
    # create, enqueue, advance, claim, accept, hold the slot to the deadline, send the check;
    # then the check's timeout: the attempt handed to the DLQ (the last one), the final write
    assert len(writes) == SILENT_WRITES, writes
    run = settle(engine, job_id)
    assert "timed out" in (run.error or "")
    audit_long(request, engine, job_id, run, expected="failed")


@pytest.mark.parametrize("kind", ["throttle", "lost", "crash"])
@pytest.mark.parametrize("nth", range(4, SILENT_WRITES + 1))
def test_a_fault_at_any_write_of_a_silent_accepted_run_still_times_it_out(
        long_engine: dict[str, Any], faults: Injector, request: pytest.FixtureRequest, nth: int, kind: str) -> None:
    # Given an agent that accepts (202) and never reports, and the nth write of that life failing
    engine = {**long_engine, "silent": True}
    fault = faults.add_any(WRITES, kind=kind, skip=nth - 1)
    job_id = silent_life(engine)
    assert fault.fired == 1
    faults.clear()
    # Then after recovery the run ended failed ("timed out"), once, and the invariants hold
    run = settle(engine, job_id)
    assert "timed out" in (run.error or ""), (run.status, run.error)
    audit_long(request, engine, job_id, run, expected="failed")


# --- a budgeted job whose agent reports usage -------------------------------------------------------

BUDGET = {"maxTokensPerDay": 100_000, "maxCostUsdPerDay": 100}
LAST_USAGE = (1_000, 0.5)  # what the job's previous run (yesterday) reported: the claim reserves it
BUDGETED_WRITES = 9  # after create and the seed of the last usage


def budgeted_job(engine: dict[str, Any]) -> str:
    """A budgeted single-run job due in 60 s (created and enqueued), whose last run reported LAST_USAGE."""
    body = {"name": "budget-life", "agentId": LONG_AGENT, "schedule": "2030-01-01T00:01:00Z", "payload": {},
            "timeoutMs": TIMEOUT_MS, "retryPolicy": RETRY, "budget": BUDGET}
    job_id = str(runtime.jobs().create(body)["id"])
    JobModel(job_id).update(actions=[JobModel.lastUsageTokens.set(LAST_USAGE[0]),
                                     JobModel.lastUsageCost.set(LAST_USAGE[1])])
    return job_id


def budgeted_life(engine: dict[str, Any], job_id: str) -> None:
    """Deliver (202), heartbeat, complete with USAGE, then let the deadline check pass."""
    attempts_first(engine)
    agent_reports(engine)
    drain(queue_url(engine), engine["clock"])


def test_the_budgeted_life_has_the_writes_the_sweep_expects(long_engine: dict[str, Any], faults: Injector,
                                                            request: pytest.FixtureRequest) -> None:
    engine = {**long_engine, "usage": True}
    job_id = budgeted_job(engine)
    before = len(faults.log)
    budgeted_life(engine, job_id)
    # claim (refused: no budget day yet), start the day, claim (refused: it learns the job's last
    # usage), claim (reserving it), accept, hold the slot, send the check, heartbeat, complete
    writes = [c for c in faults.log[before:] if c in WRITES]
    assert len(writes) == BUDGETED_WRITES, writes
    run = settle(engine, job_id)
    assert (int(run.reservedTokens), float(run.reservedCost)) == LAST_USAGE
    audit_budgeted(request, engine, job_id, run, expected="succeeded")


def audit_budgeted(request: pytest.FixtureRequest, engine: dict[str, Any], job_id: str, run: RunModel,
                   expected: str | None = None) -> None:
    """The run ended once, as the accepted-run sweep allows (a fault that cost the agent its attempt
    may leave the next one to time out); the day's totals are what it reported: USAGE if it
    succeeded, nothing if it timed out, its reservation given back either way (invariant (d))."""
    audit_long(request, engine, job_id, run, expected=expected)
    job = JobModel.get(job_id, consistent_read=True)
    reported = (1_000, 0.25) if run.status == "succeeded" else (0, 0.0)
    assert (json.loads(run.usage) if run.usage else None) == (USAGE if run.status == "succeeded" else None)
    assert (int(job.usedTokens), float(job.usedCost)) == reported, job.attribute_values


# a lost answer or a crash follows a write that committed, and only 7 of the 9 do (not the two
# refused claims): for those kinds, the nth write that committed
BUDGET_SWEEP = [(nth, kind) for kind in ("throttle", "lost", "crash") for nth in range(1, BUDGETED_WRITES + 1)
                if kind == "throttle" or nth <= BUDGETED_WRITES - 2]


@pytest.mark.parametrize("nth, kind", BUDGET_SWEEP)
def test_a_fault_at_any_write_of_a_budgeted_run_keeps_the_day_totals(
        long_engine: dict[str, Any], faults: Injector, request: pytest.FixtureRequest, nth: int, kind: str) -> None:
    # Given a budgeted job whose agent reports usage, and the nth write after its create failing
    engine = {**long_engine, "usage": True}
    job_id = budgeted_job(engine)
    fault = faults.add_any(WRITES, kind=kind, skip=nth - 1)
    budgeted_life(engine, job_id)
    assert fault.fired == 1
    faults.clear()
    # Then after recovery the run ended once, and the day counts exactly what it reported
    audit_budgeted(request, engine, job_id, settle(engine, job_id))
