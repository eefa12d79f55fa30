"""Long runs (README, "Long runs"): accepted runs, heartbeats, timeouts, cancel, reports, on moto.

SQS delays follow the fake clock here (moto's SQS reads chalicelib's clock), so a check
message delayed to a deadline two hours away arrives when the clock gets there.
"""
from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.clock import now_ms
from chalicelib.engine import callbacks
from chalicelib.store.models import JobModel, RunModel
from conftest import NO_JITTER, call, create_job, delivery, drive, report

T0 = 1_893_456_000_000


def only_run(job_id: str) -> RunModel:
    [run] = list(RunModel.query(job_id))
    return run


# --- accepted runs and their reports -------------------------------------------------------

def test_an_accepted_run_completed_30_s_later_ends_succeeded_with_its_output(stack: dict[str, Any]) -> None:
    # Given an agent that accepts the work
    stack["agent"].respond_with(202, body="working")
    job = create_job(stack, name="accepted")
    drive(stack, 6)
    sent = delivery(stack)
    assert only_run(job["id"]).status == "running"
    assert sent["callbackUrl"] == f"http://localhost:3000/api/runs/{sent['runId']}"
    # When it reports 30 s later with its callback token
    drive(stack, 30)
    answer = report(stack, "complete", {"status": "succeeded", "output": {"posts": 3},
                                        "usage": {"inputTokens": 1200, "outputTokens": 300, "costUsd": 0.02}},
                    sent["callbackToken"])
    # Then the run succeeded with its output and usage, and the job counts it
    assert answer.status_code == 200, answer.body
    run = json.loads(answer.body)
    assert (run["status"], run["output"], run["usage"]["inputTokens"]) == ("succeeded", {"posts": 3}, 1200)
    stored = JobModel.get(job["id"])
    assert (stored.status, stored.runCount, stored.lastRunStatus, stored.activeRun) == ("completed", 1, "succeeded",
                                                                                         None)


def test_a_run_completed_after_two_hours_still_succeeds(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(202)
    job = create_job(stack, name="two-hours", timeoutMs=3 * 3_600_000)
    drive(stack, 6)
    drive(stack, 2 * 3600, step=60)  # the deadline check is chained past SQS's 15-minute delay limit
    assert only_run(job["id"]).status == "running"
    answer = report(stack, "complete", {"status": "succeeded", "output": "done"}, delivery(stack)["callbackToken"])
    assert answer.status_code == 200 and json.loads(answer.body)["output"] == "done"
    assert len(stack["agent"].requests) == 1


def test_a_silent_accepted_run_times_out_within_5_s_and_is_retried_with_the_same_run_id(
        stack: dict[str, Any]) -> None:
    # Given an agent that accepts, then never reports
    stack["agent"].respond_with(202)
    job = create_job(stack, name="silent", timeoutMs=60_000, retryPolicy={**NO_JITTER, "initialDelayMs": 20_000})
    drive(stack, 6)
    deadline = int(only_run(job["id"]).timeoutAt)
    # When its deadline passes
    drive(stack, 61)
    # Then the attempt failed as timed out, noticed within 5 s, and attempt 2 (same run) went out
    run = only_run(job["id"])
    assert run.status == "retrying" and "timed out" in (run.error or "")
    noticed = int(run.retryAt) - 20_000
    assert 0 <= noticed - deadline <= 5_000
    drive(stack, 20)
    first, second = stack["agent"].requests[0].json(), stack["agent"].requests[1].json()
    assert (first["runId"], first["attempt"]) == (second["runId"], 1) and second["attempt"] == 2


def test_heartbeats_keep_a_run_alive_past_its_heartbeat_timeout(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(202)
    job = create_job(stack, name="beating", heartbeatTimeoutMs=10_000)
    drive(stack, 6)
    token = delivery(stack)["callbackToken"]
    for beat in range(8):  # 8 x 5 s = 40 s, four times the heartbeat timeout
        drive(stack, 5)
        answer = report(stack, "heartbeat", {"progress": {"step": beat}}, token)
        assert answer.status_code == 200, answer.body
    run = json.loads(answer.body)
    assert (run["status"], run["progress"], run["cancelRequested"]) == ("running", {"step": 7}, False)
    # and silence then times it out by its heartbeat deadline: attempt 2 of the same run goes out
    assert len(stack["agent"].requests) == 1
    drive(stack, 12)
    assert [r.json()["attempt"] for r in stack["agent"].requests] == [1, 2]
    assert only_run(job["id"]).attempt == 2


def test_a_late_report_gets_409_and_changes_nothing(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(202)
    job = create_job(stack, name="late", timeoutMs=5_000, retryPolicy={**NO_JITTER, "maxAttempts": 1})
    drive(stack, 6)
    token = delivery(stack)["callbackToken"]
    drive(stack, 10)
    before = only_run(job["id"])
    assert before.status == "failed" and "timed out" in before.error
    answer = report(stack, "complete", {"status": "succeeded"}, token)
    assert answer.status_code == 409 and "attempt" in json.loads(answer.body)["Message"]
    assert only_run(job["id"]).status == "failed"


def test_the_same_report_repeated_answers_200_and_changes_nothing(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(202)
    job = create_job(stack, name="repeat")
    drive(stack, 6)
    token = delivery(stack)["callbackToken"]
    body = {"status": "succeeded", "output": [1, 2]}
    assert report(stack, "complete", body, token).status_code == 200
    finished = only_run(job["id"]).finishedAt
    stack["clock"].advance(5)
    assert report(stack, "complete", body, token).status_code == 200
    assert only_run(job["id"]).finishedAt == finished and JobModel.get(job["id"]).runCount == 1
    assert report(stack, "complete", {"status": "failed"}, token).status_code == 409


def test_a_failed_report_is_retried_unless_not_retryable(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(202)
    job = create_job(stack, name="reported-failure")
    drive(stack, 6)
    assert report(stack, "complete", {"status": "failed", "error": "rate limited"},
                  delivery(stack)["callbackToken"]).status_code == 200
    drive(stack, 2)
    assert delivery(stack)["attempt"] == 2
    assert report(stack, "complete", {"status": "failed", "error": "bad input", "retryable": False},
                  delivery(stack)["callbackToken"]).status_code == 200
    drive(stack, 5)
    run = only_run(job["id"])
    assert (run.status, run.error, len(stack["agent"].requests)) == ("failed", "bad input", 2)


# --- cancel ------------------------------------------------------------------------------------

def test_cancel_stops_an_accepted_run_when_it_reports(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(202)
    job = create_job(stack, name="cancel-accepted")
    drive(stack, 6)
    run_id, token = delivery(stack)["runId"], delivery(stack)["callbackToken"]
    answer = call(stack["client"], "POST", f"/api/runs/{run_id}/cancel")
    assert answer.status_code == 202 and json.loads(answer.body)["cancelRequested"] is True
    beat = json.loads(report(stack, "heartbeat", None, token).body)
    assert beat["cancelRequested"] is True
    done = json.loads(report(stack, "complete", {"status": "succeeded"}, token).body)
    assert done["status"] == "cancelled"
    assert call(stack["client"], "POST", f"/api/runs/{run_id}/cancel").status_code == 409
    assert JobModel.get(job["id"]).activeRun is None


def test_cancel_ends_a_queued_manual_run_at_once_and_it_never_starts(stack: dict[str, Any]) -> None:
    job = create_job(stack, name="cancel-queued", schedule="0 12 * * *")
    queued = json.loads(call(stack["client"], "POST", f"/api/jobs/{job['id']}/run").body)
    answer = call(stack["client"], "POST", f"/api/runs/{queued['id']}/cancel")
    assert answer.status_code == 202 and json.loads(answer.body)["status"] == "cancelled"
    drive(stack, 3)
    assert stack["agent"].requests == [] and only_run(job["id"]).status == "cancelled"


def test_cancel_ends_a_run_waiting_between_attempts(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(503)
    job = create_job(stack, name="cancel-retrying", retryPolicy={**NO_JITTER, "initialDelayMs": 30_000})
    drive(stack, 6)
    assert only_run(job["id"]).status == "retrying"
    answer = call(stack["client"], "POST", f"/api/runs/{only_run(job['id']).id}/cancel")
    assert json.loads(answer.body)["status"] == "cancelled"
    drive(stack, 40)
    assert len(stack["agent"].requests) == 1 and only_run(job["id"]).status == "cancelled"


# --- bad reports --------------------------------------------------------------------------------

@pytest.mark.parametrize("body, status, field", [
    ({"status": "done"}, 400, "status"),
    ({"status": "succeeded", "usage": {"inputTokens": -1}}, 400, "usage.inputTokens"),
    ({"status": "succeeded", "usage": {"tokens": 1}}, 400, "usage.tokens"),
    ({"status": "succeeded", "output": "x" * 40_000}, 413, "output"),
    ({"output": 1}, 400, "status"),
])
def test_bad_completion_reports_are_4xx_naming_the_field(stack: dict[str, Any], body: Any, status: int,
                                                          field: str) -> None:
    stack["agent"].respond_with(202)
    job = create_job(stack, name="bad-report")
    drive(stack, 6)
    answer = report(stack, "complete", body, delivery(stack)["callbackToken"])
    assert answer.status_code == status and json.loads(answer.body)["Message"].startswith(field)
    assert only_run(job["id"]).status == "running"


def test_oversized_progress_is_413(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(202)
    create_job(stack, name="big-progress")
    drive(stack, 6)
    answer = report(stack, "heartbeat", {"progress": "p" * 5000}, delivery(stack)["callbackToken"])
    assert answer.status_code == 413 and "progress" in json.loads(answer.body)["Message"]


def test_callback_tokens_open_one_attempt_of_one_run_only(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(202)
    create_job(stack, name="token-a")
    create_job(stack, name="token-b", schedule="2030-01-01T00:00:06Z")
    drive(stack, 7)
    first, second = (r.json() for r in stack["agent"].requests[:2])
    other_run = call(stack["client"], "POST", f"/api/runs/{first['runId']}/heartbeat", None,
                     {"Authorization": f"Bearer {second['callbackToken']}"})
    tampered = call(stack["client"], "POST", f"/api/runs/{first['runId']}/heartbeat", None,
                    {"Authorization": f"Bearer {first['callbackToken'][:-2]}xx"})
    expired = callbacks.mint(first["runId"], 1, now_ms() - 2 * 3_600_000)
    old = call(stack["client"], "POST", f"/api/runs/{first['runId']}/heartbeat", None,
               {"Authorization": f"Bearer {expired}"})
    older_attempt = call(stack["client"], "POST", f"/api/runs/{first['runId']}/heartbeat", None,
                         {"Authorization": f"Bearer {callbacks.mint(first['runId'], 7, now_ms())}"})
    assert [other_run.status_code, tampered.status_code, old.status_code] == [401, 401, 401]
    assert older_attempt.status_code == 409


def test_reports_on_an_unknown_run_are_404(stack: dict[str, Any]) -> None:
    for path in ("", "/heartbeat", "/cancel"):
        answer = call(stack["client"], "POST" if path else "GET", f"/api/runs/run-1893456000000-00ff{path}")
        assert answer.status_code == 404 and json.loads(answer.body)["Code"] == "NotFoundError"
    assert call(stack["client"], "GET", "/api/runs/nonsense").status_code == 404


def test_get_run_works_for_any_run_and_shows_output(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(200, body=json.dumps({"summary": "3 posts", "usage": {"costUsd": 0.5}}))
    job = create_job(stack, name="sync-output")
    drive(stack, 6)
    run_id = only_run(job["id"]).id
    run = json.loads(call(stack["client"], "GET", f"/api/runs/{run_id}").body)
    assert (run["status"], run["output"]["summary"], run["usage"]) == ("succeeded", "3 posts", {"costUsd": 0.5})
    [listed] = json.loads(call(stack["client"], "GET", f"/api/jobs/{job['id']}/runs").body)
    assert listed["output"] == run["output"]
