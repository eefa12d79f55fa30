"""Continuity under faults: the state is written atomically with the success (contract section 12).

The sweep fails each write on the success path, one case at a time, with each kind of fault of
tests/fault_injector.py (``throttle``: refused before AWS; ``lost``: committed, its answer lost;
``crash``: committed, then the process dies; ``conflict`` on transactions): the run's final write
(its transaction: the run, the job's counters, lastSuccess and state, the agent's slot) and every
other write after the agent's answer (the agent's budget settled, the next attempt of a retried
run: its retrying mark, its message, its claim, its slot). Three paths to a success:

* ``answer``: the agent answers 200 with ``{"state": NEW}`` at once;
* ``complete``: the agent accepted (202) and reports ``succeeded`` with ``state`` NEW;
* ``retried``: the first attempt answers 503 with ``{"state": BAD}`` (a failed attempt: never
  saved), the second 200 with NEW.

After the fault, before any recovery, the job's state is OLD or NEW (never a mix, never BAD), and
it is NEW exactly when the run is recorded succeeded and named by lastSuccess. Production then
recovers (SQS shows the unfinished message again after its visibility timeout; the agent sends
its report again): the state is NEW, the run succeeded once, and the invariants hold.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.store.models import JobModel, RunModel
from conftest import AGENT_ID, NO_JITTER, call, create_job, delivery, drive
from devtools.agent_server import Response
from fault_injector import WRITES, Injector
from infra.resources import QUEUE_VISIBILITY_S
from invariants import check_quiet
from test_faults import ledger

OLD = {"v": "old", "seen": list(range(50))}
NEW = {"v": "new", "seen": list(range(60)), "note": "n" * 2000}
BAD = {"v": "from a failed attempt"}
USAGE = {"inputTokens": 10, "outputTokens": 5}
# Writes after the agent's (first) answer in each path, as the baseline test counts them.
SUCCESS_WRITES = {"answer": 2, "complete": 2, "retried": 7}
KINDS = ["throttle", "lost", "crash"]


def limited(stack: dict[str, Any], configure: Any) -> None:
    """The stack's agent with a concurrency slot and a budget: more writes on the success path."""
    agent = {"url": stack["agent"].url, "timeoutMs": 10_000, "maxConcurrent": 2,
             "budget": {"maxTokensPerDay": 1_000_000}}
    configure({"agents": {AGENT_ID: agent}, "retryPolicy": NO_JITTER})


def prepared(stack: dict[str, Any], configure: Any, path: str) -> str:
    """A job due at 00:00:05 whose state is OLD, and the agent's answers for ``path``; the job id."""
    limited(stack, configure)
    job = create_job(stack, name=f"faults-{path}")
    assert call(stack["client"], "PATCH", f"/api/jobs/{job['id']}", {"state": OLD}).status_code == 200
    success = json.dumps({"out": 1, "usage": USAGE, "state": NEW})
    if path == "answer":
        stack["agent"].respond_with(200, body=success)
    elif path == "complete":
        stack["agent"].respond_with(202)
    else:
        stack["agent"].script(Response(503, json.dumps({"state": BAD}).encode()), Response(200, success.encode()))
    return str(job["id"])


def after_answer(stack: dict[str, Any], path: str) -> Callable[[dict[str, Any]], bool]:
    """Matches the calls made once the agent gave its first answer (a report: every call)."""
    return lambda params: path == "complete" or len(stack["agent"].requests) >= 1


def live(stack: dict[str, Any], path: str) -> list[int]:
    """Run the occurrence; for ``complete``, accept it, then report (statuses of each report)."""
    drive(stack, 12)
    if path != "complete":
        return []
    return [report_success(stack)]


def report_success(stack: dict[str, Any]) -> int:
    """The agent's report of success with NEW (as a kit sends it); the HTTP status."""
    sent = delivery(stack, 0)
    body = {"status": "succeeded", "output": {"out": 1, "state": NEW}, "usage": USAGE, "state": NEW}
    try:
        answer = call(stack["client"], "POST", f"/api/runs/{sent['runId']}/complete", body,
                      {"Authorization": f"Bearer {sent['callbackToken']}"})
    except Exception:  # the injected crash: the API's process died mid-request
        return 0
    return int(answer.status_code)


def continuity_of(job_id: str) -> tuple[Any, str | None, list[RunModel]]:
    """The job's state, the run its lastSuccess names, and its runs (consistent reads)."""
    job = JobModel.get(job_id, consistent_read=True)
    named = json.loads(job.lastSuccess)["runId"] if job.lastSuccess else None
    return (json.loads(job.state) if job.state else None), named, list(RunModel.query(job_id, consistent_read=True))


def assert_whole(job_id: str) -> bool:
    """The state is OLD or NEW, and NEW exactly when the run is recorded succeeded and named; True if NEW."""
    state, named, runs = continuity_of(job_id)
    assert state in (OLD, NEW), state
    [run] = runs
    saved = state == NEW
    assert saved == (run.status == "succeeded") == (named == run.id), (state, run.status, named)
    return saved


def recover(stack: dict[str, Any], path: str, statuses: list[int]) -> None:
    """What production does next: SQS shows what was not done again; the agent reports again."""
    drive(stack, QUEUE_VISIBILITY_S + 60, step=30)
    if path == "complete" and (not statuses or statuses[-1] != 200):
        assert report_success(stack) == 200


def counting(matches: Callable[[dict[str, Any]], bool], seen: list[str]) -> Callable[[dict[str, Any]], bool]:
    """A fault's match that never fires: it notes each call ``matches`` accepts."""
    def match(params: dict[str, Any]) -> bool:
        if matches(params):
            seen.append(str(params.get("TableName") or params.get("QueueUrl") or "transaction"))
        return False
    return match


@pytest.mark.parametrize("path", list(SUCCESS_WRITES))
def test_the_success_paths_have_the_writes_the_sweep_expects(stack: dict[str, Any], configure: Any,
                                                             faults: Injector, request: pytest.FixtureRequest,
                                                             path: str) -> None:
    # Given no fault, When the run succeeds by this path
    job_id = prepared(stack, configure, path)
    if path == "complete":
        drive(stack, 12)
    seen: list[str] = []
    faults.add_any(WRITES, match=counting(after_answer(stack, path), seen))
    statuses = live(stack, path) if path != "complete" else [report_success(stack)]
    # Then the sweep below covers each write after the answer, and the state is NEW
    assert statuses in ([], [200]) and len(seen) == SUCCESS_WRITES[path], seen
    assert assert_whole(job_id) and len(stack["agent"].requests) == (2 if path == "retried" else 1)
    check_quiet(request, stack["queue_url"])


CASES = [(path, nth, kind) for path, count in SUCCESS_WRITES.items() for nth in range(1, count + 1)
         for kind in KINDS]


@pytest.mark.parametrize("path, nth, kind", CASES, ids=[f"{p}-{n}-{k}" for p, n, k in CASES])
def test_a_fault_on_the_success_path_leaves_the_old_state_or_the_new_one(
        stack: dict[str, Any], configure: Any, faults: Injector, request: pytest.FixtureRequest,
        path: str, nth: int, kind: str) -> None:
    # Given a job whose state is OLD, and the nth write after the agent's answer fails
    job_id = prepared(stack, configure, path)
    if path == "complete":
        drive(stack, 12)  # accepted: the writes counted are the report's
    fault = faults.add_any(WRITES, kind=kind, skip=nth - 1, match=after_answer(stack, path))
    # When the run succeeds with NEW
    statuses = live(stack, path) if path != "complete" else [report_success(stack)]
    assert fault.fired == 1
    faults.clear()
    # Then, before any recovery, the job holds OLD or NEW, as its run is recorded
    saved_at_once = assert_whole(job_id)
    # And once production recovered, NEW, with one succeeded run and every invariant
    recover(stack, path, statuses)
    assert assert_whole(job_id)
    ledger("continuity", request.node.name, saved_before_recovery=saved_at_once, kind=kind, path=path)
    check_quiet(request, stack["queue_url"])


@pytest.mark.parametrize("path", ["answer", "complete"])
def test_a_conflict_on_the_final_transaction_is_written_again(stack: dict[str, Any], configure: Any,
                                                             faults: Injector, request: pytest.FixtureRequest,
                                                             path: str) -> None:
    job_id = prepared(stack, configure, path)
    if path == "complete":
        drive(stack, 12)
    answered = after_answer(stack, path)
    fault = faults.add("dynamodb", "TransactWriteItems", kind="conflict", match=answered)
    statuses = live(stack, path) if path != "complete" else [report_success(stack)]
    assert fault.fired == 1 and statuses in ([], [200])
    assert assert_whole(job_id)  # written again at once: no recovery needed
    check_quiet(request, stack["queue_url"])


def test_a_failed_run_under_faults_never_changes_the_state(stack: dict[str, Any], configure: Any,
                                                           faults: Injector, request: pytest.FixtureRequest) -> None:
    # Given a job whose state is OLD and whose every attempt answers 503 with a state
    limited(stack, configure)
    job = create_job(stack, name="faults-failed", retryPolicy={**NO_JITTER, "maxAttempts": 2})
    assert call(stack["client"], "PATCH", f"/api/jobs/{job['id']}", {"state": OLD}).status_code == 200
    stack["agent"].respond_with(503, body=json.dumps({"state": BAD}))
    # When its final write is throttled once, then production recovers
    fault = faults.add_any(WRITES, match=lambda params: len(stack["agent"].requests) >= 2)
    drive(stack, 12)
    assert fault.fired == 1
    faults.clear()
    drive(stack, QUEUE_VISIBILITY_S + 60, step=30)
    # Then the run failed and the state is still OLD, with no lastSuccess
    state, named, [run] = continuity_of(job["id"])
    assert (run.status, state, named) == ("failed", OLD, None)
    check_quiet(request, stack["queue_url"])
