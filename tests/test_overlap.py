"""The overlap policy (README, "Long runs"): skip, queue, allow, decided atomically with the claim."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chalicelib import runtime
from chalicelib.engine.dispatch import scheduled_run_id
from chalicelib.store.models import JobModel, RunModel, Trigger
from chalicelib.store.runs import Occurrence
from chalicelib.store.sqs import Message
from conftest import call, create_job, drive, report

T0 = 1_893_456_000_000


def runs_by_status(job_id: str) -> dict[str, list[RunModel]]:
    found: dict[str, list[RunModel]] = {}
    for run in RunModel.query(job_id):
        found.setdefault(run.status, []).append(run)
    return found


def skips_of(job_id: str) -> int:
    """The occurrences the job's overlap skips cover (one record per streak: contract section 13)."""
    return int(JobModel.get(job_id).skippedOverlap or 0)


def test_skip_records_overlapping_occurrences_as_skipped_naming_the_run_in_progress(stack: dict[str, Any]) -> None:
    # Given a job every 2 s whose agent accepts and keeps working
    stack["agent"].respond_with(202)
    job = create_job(stack, name="skipper", schedule=None, interval=2_000)
    # When 10 s pass
    drive(stack, 10)
    # Then one run is in progress and every later occurrence was skipped, naming it
    found = runs_by_status(job["id"])
    [running] = found["running"]
    assert len(found["skipped"]) == 1 and skips_of(job["id"]) >= 3  # one streak record covers them
    assert all("overlap" in r.error and running.id in r.error for r in found["skipped"])
    assert len(stack["agent"].requests) == 1
    # and a manual run is refused with 409 naming it
    answer = call(stack["client"], "POST", f"/api/jobs/{job['id']}/run")
    assert answer.status_code == 409 and running.id in json.loads(answer.body)["Message"]


def test_queue_keeps_one_waiting_run_and_starts_it_within_1_s_of_the_end(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(202)
    job = create_job(stack, name="queuer", schedule=None, interval=2_000, overlap="queue")
    drive(stack, 9)
    found = runs_by_status(job["id"])
    [_running], [waiting] = found["running"], found["queued"]
    assert skips_of(job["id"]) >= 2 and all("waits" in r.error for r in found["skipped"])
    # When the run in progress completes
    token = stack["agent"].requests[0].json()["callbackToken"]
    ended_at = stack["clock"].t
    assert report(stack, "complete", {"status": "succeeded"}, token).status_code == 200
    drive(stack, 1, step=0.5)
    # Then the waiting run starts within a second, on its own run id
    second = stack["agent"].requests[1]
    assert second.json()["runId"] == waiting.id
    started = int(RunModel.get(job["id"], waiting.id).startedAt) / 1000
    assert started - ended_at <= 1.0
    assert JobModel.get(job["id"]).activeRun == waiting.id


def test_allow_starts_every_occurrence_on_time(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(202)
    job = create_job(stack, name="allower", schedule=None, interval=2_000, overlap="allow")
    drive(stack, 9)
    assert len(runs_by_status(job["id"])["running"]) == len(stack["agent"].requests) >= 4


def test_overlap_is_validated_and_patchable(stack: dict[str, Any]) -> None:
    bad = call(stack["client"], "POST", "/api/jobs", {"name": "x", "agentId": "550e8400-e29b-41d4-a716-446655440000",
                                                       "interval": 5000, "payload": {}, "overlap": "sometimes"})
    assert bad.status_code == 400 and json.loads(bad.body)["Message"].startswith("overlap")
    job = create_job(stack, name="patched")
    assert job["overlap"] == "skip" and job["timeoutMs"] == 900_000 and job["heartbeatTimeoutMs"] is None
    answer = call(stack["client"], "PATCH", f"/api/jobs/{job['id']}",
                  {"overlap": "queue", "timeoutMs": 86_400_000, "heartbeatTimeoutMs": 60_000})
    assert json.loads(answer.body)["overlap"] == "queue" and json.loads(answer.body)["timeoutMs"] == 86_400_000
    for field, value in (("timeoutMs", 999), ("timeoutMs", 86_400_001), ("heartbeatTimeoutMs", 0)):
        answer = call(stack["client"], "PATCH", f"/api/jobs/{job['id']}", {field: value})
        assert answer.status_code == 400 and json.loads(answer.body)["Message"].startswith(field)


@pytest.mark.parametrize("round_", range(25))
def test_eight_executors_and_a_manual_run_never_start_two_runs_of_a_skip_job(
        stack: dict[str, Any], round_: int) -> None:
    # Given a skip job and 8 different occurrences of it delivered at once by 8 executors,
    # racing a POST /run: 25 rounds of 9 racers = 225 races
    stack["agent"].respond_with(202)
    job = create_job(stack, name=f"race-{round_}", schedule=None, interval=3_600_000)
    stored = JobModel.get(job["id"])
    now = stack["clock"].t * 1000
    messages = [Message(Occurrence(job["id"], scheduled_run_id(job["id"], int(now) + i), int(now) + i,
                                   Trigger.SCHEDULE, int(stored.generation), 1), int(now)) for i in range(8)]
    executor = runtime.executor()

    def race(i: int) -> Any:
        if i == 8:
            return call(stack["client"], "POST", f"/api/jobs/{job['id']}/run").status_code
        return executor.run(messages[i]).value
    with ThreadPoolExecutor(max_workers=9) as pool:
        list(pool.map(race, range(9)))
    drive(stack, 1)
    # Then exactly one run started: the agent saw one delivery, one run is running
    found = runs_by_status(job["id"])
    delivered = [(r.json()["runId"], r.json()["attempt"]) for r in stack["agent"].requests]
    # (a slow answer on a loaded machine may time out and be retried: that is the same run)
    assert len({run_id for run_id, _ in delivered}) == 1, (delivered, found)
    assert len(found.get("running", []) + found.get("retrying", [])) == 1, (delivered, found)
    assert skips_of(job["id"]) >= 7


def test_cancelling_the_waiting_run_frees_its_place_and_it_never_starts(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(202)
    job = create_job(stack, name="queue-cancel", schedule=None, interval=2_000, overlap="queue")
    drive(stack, 5)
    [waiting] = runs_by_status(job["id"])["queued"]
    answer = call(stack["client"], "POST", f"/api/runs/{waiting.id}/cancel")
    assert answer.status_code == 202 and json.loads(answer.body)["status"] == "cancelled"
    assert JobModel.get(job["id"]).waitingRun is None
    token = stack["agent"].requests[0].json()["callbackToken"]
    assert report(stack, "complete", {"status": "succeeded"}, token).status_code == 200
    drive(stack, 1, step=0.5)
    assert waiting.id not in {r.json()["runId"] for r in stack["agent"].requests}
    assert RunModel.get(job["id"], waiting.id).status == "cancelled"
