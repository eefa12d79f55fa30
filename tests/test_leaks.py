"""The second review's findings (issue 23): state between messages never leaks, on moto.

Each test names its finding. They drive the stack fixture: an HTTP agent, SQS on the fake clock.
"""
from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib import runtime
from chalicelib.store.models import AgentModel, JobModel, RunModel, agent_item_id
from conftest import AGENT_ID, NO_JITTER, call, create_job, delivery, drive, report
from fault_injector import Injector


def runs_of(job_id: str) -> list[RunModel]:
    return list(RunModel.query(job_id, consistent_read=True))


def only_run(job_id: str) -> RunModel:
    [run] = runs_of(job_id)
    return run


# --- finding 1: an accepted run whose deadline check is lost -----------------------------------

def test_an_accepted_run_whose_check_send_is_throttled_still_times_out(stack: dict[str, Any],
                                                                      faults: Injector) -> None:
    # Given an agent that accepts and never reports, and the deadline check's send throttled once
    stack["agent"].respond_with(202)
    job = create_job(stack, name="lost-check", timeoutMs=60_000, retryPolicy={**NO_JITTER, "maxAttempts": 1})
    fault = faults.add("sqs", "SendMessageBatch", kind="throttle",
                       match=lambda p: any('"check"' in e["MessageBody"] for e in p["Entries"]))
    # When the run is accepted and time passes beyond the queue's visibility timeout
    drive(stack, 6)
    assert fault.fired == 1
    faults.clear()
    drive(stack, 900, step=30)
    # Then the attempt timed out (the returning message sent the check), nothing is left running
    run = only_run(job["id"])
    assert run.status == "failed" and "timed out" in (run.error or ""), (run.status, run.error)
    assert JobModel.get(job["id"]).activeRun is None


# --- finding 4: overlapping runs settle their own reservations --------------------------------

def test_two_overlapping_accepted_runs_count_both_of_their_reports(stack: dict[str, Any]) -> None:
    # Given a budgeted job whose runs overlap and are accepted
    stack["agent"].respond_with(202)
    job = create_job(stack, name="overlapping", schedule="2031-01-01T00:00:00Z", overlap="allow",
                     budget={"maxTokensPerDay": 100_000}, timeoutMs=3_600_000)
    for _ in range(2):
        assert call(stack["client"], "POST", f"/api/jobs/{job['id']}/run").status_code == 202
        drive(stack, 2)
    assert len(stack["agent"].requests) >= 2, [(r.id, r.status, r.error) for r in runs_of(job["id"])]
    first, second = (r.json() for r in stack["agent"].requests[:2])
    assert first["runId"] != second["runId"]
    # When both report 1,000 tokens
    for sent in (first, second):
        answer = call(stack["client"], "POST", f"/api/runs/{sent['runId']}/complete",
                      {"status": "succeeded", "usage": {"inputTokens": 600, "outputTokens": 400}},
                      {"Authorization": f"Bearer {sent['callbackToken']}"})
        assert answer.status_code == 200, answer.body
    # Then the day counts both
    assert runtime.jobs().get(job["id"])["usageToday"]["tokens"] == 2000


def test_reports_of_overlapping_runs_cannot_exceed_the_budget_by_more_than_a_run(stack: dict[str, Any]) -> None:
    # Given a 3,000-token budget, runs that overlap, and a first run that reported 1,000
    stack["agent"].respond_with(202)
    job = create_job(stack, name="overlap-budget", schedule="2031-01-01T00:00:00Z", overlap="allow",
                     budget={"maxTokensPerDay": 3000}, timeoutMs=3_600_000)
    assert call(stack["client"], "POST", f"/api/jobs/{job['id']}/run").status_code == 202
    drive(stack, 2)
    token = delivery(stack)["callbackToken"]
    usage = {"status": "succeeded", "usage": {"inputTokens": 1000}}
    assert report(stack, "complete", usage, token).status_code == 200
    # When six more runs start while each reports 1,000 only at the end
    for _ in range(6):
        call(stack["client"], "POST", f"/api/jobs/{job['id']}/run")
        drive(stack, 2)
    for sent in [r.json() for r in stack["agent"].requests[1:]]:
        call(stack["client"], "POST", f"/api/runs/{sent['runId']}/complete", usage,
             {"Authorization": f"Bearer {sent['callbackToken']}"})
    # Then the runs that started could not pass the budget by more than one run's report
    started = len(stack["agent"].requests)
    assert started <= 4, started
    assert runtime.jobs().get(job["id"])["usageToday"]["tokens"] == 1000 * started


# --- finding 9: an attempt past its deadline is over ----------------------------------------

def test_a_heartbeat_after_the_heartbeat_deadline_is_a_409(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(202)
    create_job(stack, name="late-heartbeat", heartbeatTimeoutMs=10_000, timeoutMs=600_000)
    drive(stack, 6)
    token = delivery(stack)["callbackToken"]
    stack["clock"].advance(11)  # past the heartbeat deadline, before the check is handled
    answer = report(stack, "heartbeat", {}, token)
    assert answer.status_code == 409, answer.body


def test_a_complete_after_the_timeout_is_a_409(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(202)
    job = create_job(stack, name="late-complete", timeoutMs=60_000)
    drive(stack, 6)
    token = delivery(stack)["callbackToken"]
    stack["clock"].advance(61)
    answer = report(stack, "complete", {"status": "succeeded"}, token)
    assert answer.status_code == 409, answer.body
    assert only_run(job["id"]).status == "running"  # the check times it out, not the late report


# --- finding 10: a lone surrogate in a report is a 400 -------------------------------------

def test_a_lone_surrogate_in_output_or_progress_is_a_400(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(202)
    job = create_job(stack, name="surrogate", timeoutMs=600_000)
    drive(stack, 6)
    run_id, token = delivery(stack)["runId"], delivery(stack)["callbackToken"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for what, raw in (("heartbeat", '{"progress": "\\ud800"}'),
                      ("complete", '{"status": "succeeded", "output": {"x": "\\ud800"}}')):
        answer = stack["client"].http.post(f"/api/runs/{run_id}/{what}", headers=headers, body=raw.encode())
        assert answer.status_code == 400, (what, answer.body)
        assert json.loads(answer.body)["Message"].startswith(("progress", "output")), answer.body
    assert only_run(job["id"]).status == "running"


# --- findings 2 and 5: agent slots of gone jobs ------------------------------------------

def limit_agent(stack: dict[str, Any], configure: Any, **extra: Any) -> None:
    """The stack's agent, limited to one run at a time."""
    configure({"agents": {AGENT_ID: {"url": stack["agent"].url, "timeoutMs": 10_000, "maxConcurrent": 1, **extra}},
               "retryPolicy": NO_JITTER})


def holders() -> dict[str, Any]:
    item = AgentModel.get(agent_item_id(AGENT_ID), consistent_read=True)
    return dict(item.holders.attribute_values if item.holders is not None else {})


@pytest.mark.parametrize("ending", ["complete", "timeout"])
def test_deleting_a_job_whose_accepted_run_holds_the_agents_slot_frees_it(
        stack: dict[str, Any], configure: Any, ending: str) -> None:
    # Given an agent limited to one run, whose one slot an accepted run holds
    limit_agent(stack, configure)
    stack["agent"].respond_with(202)
    job = create_job(stack, name="deleted-holder", timeoutMs=60_000)
    drive(stack, 6)
    sent = delivery(stack)
    assert list(holders()) == [sent["runId"]]
    # When the job is deleted, then the run reports (or times out)
    runtime.jobs().delete(job["id"])
    if ending == "complete":
        assert report(stack, "complete", {"status": "succeeded"}, sent["callbackToken"]).status_code == 200
    else:
        drive(stack, 70)
    # Then the slot is free at once, not at the run's deadline
    assert holders() == {}


@pytest.mark.parametrize("change", ["delete", "pause"])
def test_a_waiting_run_whose_job_went_gives_back_the_slot_it_is_granted(
        stack: dict[str, Any], configure: Any, change: str) -> None:
    # Given an agent limited to one run: job A's accepted run holds the slot, job B's run waits for it
    limit_agent(stack, configure)
    stack["agent"].respond_with(202)
    first = create_job(stack, name="holder", timeoutMs=600_000)
    second = create_job(stack, name="waiter", schedule="2030-01-01T00:00:08Z")
    drive(stack, 10)
    assert [r.status for r in runs_of(second["id"])] == ["queued"]
    # When B is deleted or paused, then A ends and the slot goes to B
    if change == "delete":
        runtime.jobs().delete(second["id"])
    else:
        runtime.jobs().update(second["id"], {"status": "paused"})
    assert report(stack, "complete", {"status": "succeeded"}, delivery(stack)["callbackToken"]).status_code == 200
    drive(stack, 3)
    # Then B's skip gives the slot back: nothing holds it, nothing waits
    assert holders() == {}, holders()
    assert int(AgentModel.get(agent_item_id(AGENT_ID)).queued or 0) == 0
    assert JobModel.get(first["id"]).status == "completed"


# --- findings 6 and 8: cancelling a run that waits --------------------------------------------

def test_cancelling_a_retrying_run_hands_the_slot_to_the_waiting_occurrence(stack: dict[str, Any]) -> None:
    # Given an overlap-queue job: run 1 failed and waits a minute for its retry, run 2 waits for the slot
    stack["agent"].respond_with(500)
    job = create_job(stack, name="queue-cancel", schedule="2031-01-01T00:00:00Z", overlap="queue",
                     retryPolicy={**NO_JITTER, "initialDelayMs": 60_000})
    first = json.loads(call(stack["client"], "POST", f"/api/jobs/{job['id']}/run").body)
    drive(stack, 2)
    second = json.loads(call(stack["client"], "POST", f"/api/jobs/{job['id']}/run").body)
    drive(stack, 2)
    assert [r.status for r in sorted(runs_of(job["id"]), key=lambda r: r.id)] == ["retrying", "queued"]
    # When run 1 is cancelled
    stack["agent"].respond_with(200)
    assert call(stack["client"], "POST", f"/api/runs/{first['id']}/cancel").status_code == 202
    drive(stack, 2)
    # Then run 2 started within about a second, and the job's slot is its own, then free
    run = RunModel.get(job["id"], second["id"])
    assert run.status == "succeeded", (run.status, run.error)
    stored = JobModel.get(job["id"])
    assert (stored.activeRun, stored.waitingRun) == (None, None)


def test_cancelling_a_retrying_run_gives_back_its_reservation(stack: dict[str, Any]) -> None:
    # Given a budgeted job whose last run reported 1,000 tokens, and a run retrying (it reserved 1,000)
    stack["agent"].respond_with(202)
    job = create_job(stack, name="cancel-reserved", schedule="2031-01-01T00:00:00Z",
                     budget={"maxTokensPerDay": 100_000}, retryPolicy={**NO_JITTER, "initialDelayMs": 60_000})
    call(stack["client"], "POST", f"/api/jobs/{job['id']}/run")
    drive(stack, 2)
    done = {"status": "succeeded", "usage": {"inputTokens": 1000}}
    assert report(stack, "complete", done, delivery(stack)["callbackToken"]).status_code == 200
    call(stack["client"], "POST", f"/api/jobs/{job['id']}/run")
    drive(stack, 2)
    failed = {"status": "failed", "error": "boom"}
    assert report(stack, "complete", failed, delivery(stack)["callbackToken"]).status_code == 200
    assert runtime.jobs().get(job["id"])["usageToday"]["tokens"] == 2000  # 1,000 spent + 1,000 reserved
    # When the retrying run is cancelled
    assert call(stack["client"], "POST", f"/api/runs/{delivery(stack)['runId']}/cancel").status_code == 202
    # Then only what was reported counts
    assert runtime.jobs().get(job["id"])["usageToday"]["tokens"] == 1000


@pytest.mark.parametrize("reported", ["succeeded", "failed"])
def test_a_cancelled_run_that_reports_counts_as_cancelled_on_its_job(stack: dict[str, Any], reported: str) -> None:
    # Given an accepted run asked to stop
    stack["agent"].respond_with(202)
    job = create_job(stack, name=f"cancel-then-{reported}", timeoutMs=600_000)
    drive(stack, 6)
    sent = delivery(stack)
    assert call(stack["client"], "POST", f"/api/runs/{sent['runId']}/cancel").status_code == 202
    # When its agent reports whatever it reports
    body = {"status": reported, "retryable": False}
    assert report(stack, "complete", body, sent["callbackToken"]).status_code == 200
    # Then the run and its job both say cancelled, and no failure is counted
    stored = JobModel.get(job["id"])
    assert (runs_of(job["id"])[0].status, stored.lastRunStatus, int(stored.failureCount)) == (
        "cancelled", "cancelled", 0)


def test_a_retry_still_runs_after_its_job_was_completed_by_another_run(stack: dict[str, Any]) -> None:
    # Given a run waiting for its retry, and its job completed meanwhile (maxRuns reached by a later
    # run that ended first, or endAt passed): an occurrence in progress still finishes
    stack["agent"].respond_with(500)
    job = create_job(stack, name="retry-after-complete", retryPolicy={**NO_JITTER, "initialDelayMs": 5_000})
    drive(stack, 6)
    assert [r.status for r in runs_of(job["id"])] == ["retrying"]
    JobModel(job["id"]).update(actions=[JobModel.status.set("completed"), JobModel.dueShard.remove()])
    stack["agent"].respond_with(200)
    # When its retry comes due
    drive(stack, 6)
    # Then it ran, with the same run id
    [run] = runs_of(job["id"])
    assert (run.status, int(run.attempt)) == ("succeeded", 2), (run.status, run.error)
