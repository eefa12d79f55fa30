"""A job parked by its spent budget (engine/parking.py, store/parks.py): its skips until the next
budget day are counted ahead in one write; the views show only those whose time has come; a change
unparks it; the day's end resumes it (on moto, through the executor and the API)."""
from __future__ import annotations

from typing import Any

import pytest

from chalicelib import clock, runtime
from chalicelib.clock import iso
from chalicelib.store.models import JobModel, RunModel
from conftest import call, create_job, drive, pump
from invariants import check_quiet

TOKYO_MIDNIGHT = "2030-01-01T15:00:00.000Z"  # 2030-01-01T00:00Z is 09:00 in Tokyo
TOKYO_MIDNIGHT_MS = 1_893_510_000_000
SPENDS = '{"usage": {"inputTokens": 500}}'


def spent_job(stack: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """A 1-s Tokyo job whose first run spends its whole day's budget, driven until it parks."""
    stack["agent"].respond_with(200, body=SPENDS)
    job = create_job(stack, name="parked", schedule=None, interval=1_000, timezone="Asia/Tokyo",
                     budget={"maxTokensPerDay": 100}, **overrides)
    drive(stack, 5)
    return job


def view(stack: dict[str, Any], job_id: str) -> dict[str, Any]:
    answer = call(stack["client"], "GET", f"/api/jobs/{job_id}")
    assert answer.status_code == 200
    return dict(answer.json_body)


def streak_of(stack: dict[str, Any], job_id: str) -> dict[str, Any]:
    """The API view of the job's one budget streak record."""
    (run,) = [r for r in RunModel.query(job_id) if r.status == "skipped"]
    return dict(call(stack["client"], "GET", f"/api/runs/{run.id}").json_body)


def idle(stack: dict[str, Any], seconds: int) -> int:
    """Let ``seconds`` pass with a tick each minute; how many messages the executor worked."""
    worked = 0
    for _ in range(seconds // 60):
        stack["clock"].advance(60)
        runtime.dispatcher().tick(clock.now_ms())
        while (n := pump(stack["queue_url"])):
            worked += n
    return worked


def test_a_spent_budget_parks_the_job_until_the_next_budget_day(stack: dict[str, Any],
                                                                request: pytest.FixtureRequest) -> None:
    # Given a 1-s job whose day's budget is spent by its first run
    job = spent_job(stack)
    # Then it is parked at the first occurrence of the next Tokyo day, and shows only the skips that came
    stored = JobModel.get(job["id"])
    assert stored.parkedUntil is not None and iso(stored.nextRunAt) == TOKYO_MIDNIGHT
    shown = view(stack, job["id"])
    assert shown["blocked"]["until"] == TOKYO_MIDNIGHT
    assert shown["skipped"]["budget"] == streak_of(stack, job["id"])["skippedCount"] >= 3
    assert idle(stack, 120) <= 90  # the occurrences already sent (the tick's 90-s lookahead) are skipped
    first = view(stack, job["id"])["skipped"]["budget"]
    # When an hour passes with a tick each minute
    worked = idle(stack, 3_600)
    # Then nothing of the job was dispatched, yet its count grew by the hour's occurrences
    assert worked == 0 and len(stack["agent"].requests) == 1
    later = view(stack, job["id"])["skipped"]["budget"]
    streak = streak_of(stack, job["id"])
    assert later == streak["skippedCount"] == first + 3_600
    assert streak["lastSkippedAt"] <= iso(clock.now_ms())
    check_quiet(request, stack["queue_url"])


def test_raising_the_budget_unparks_the_job_and_takes_back_what_did_not_come(
        stack: dict[str, Any], request: pytest.FixtureRequest) -> None:
    job = spent_job(stack)
    idle(stack, 600)
    counted = view(stack, job["id"])["skipped"]["budget"]
    # When an operator raises the budget
    stack["agent"].respond_with(200)
    answer = call(stack["client"], "PATCH", f"/api/jobs/{job['id']}", {"budget": {"maxTokensPerDay": 100_000}})
    assert answer.status_code == 200, answer.json_body
    # Then the job is armed again from now, and its stored counts hold only the skips that came
    assert answer.json_body["skipped"]["budget"] == counted and answer.json_body["blocked"] is None
    stored = JobModel.get(job["id"])
    assert stored.parkedUntil is None and int(stored.nextRunAt) <= clock.now_ms() + 91_000  # sent at once
    assert int(stored.skippedBudget) == int(stored.streakCount) == counted
    drive(stack, 3)
    assert len(stack["agent"].requests) >= 3  # it runs again at once
    check_quiet(request, stack["queue_url"])


def test_pausing_a_parked_job_keeps_only_the_skips_that_came(stack: dict[str, Any],
                                                             request: pytest.FixtureRequest) -> None:
    job = spent_job(stack)
    idle(stack, 120)
    counted = view(stack, job["id"])["skipped"]["budget"]
    assert call(stack["client"], "PATCH", f"/api/jobs/{job['id']}", {"status": "paused"}).status_code == 200
    idle(stack, 120)
    assert view(stack, job["id"])["skipped"]["budget"] == counted == int(JobModel.get(job["id"]).skippedBudget)
    # And resumed while still spent, it parks again in the same streak
    assert call(stack["client"], "PATCH", f"/api/jobs/{job['id']}", {"status": "active"}).status_code == 200
    drive(stack, 5)
    assert iso(JobModel.get(job["id"]).nextRunAt) == TOKYO_MIDNIGHT
    assert view(stack, job["id"])["skipped"]["budget"] == streak_of(stack, job["id"])["skippedCount"] > counted
    check_quiet(request, stack["queue_url"])


def test_the_next_budget_day_resumes_a_parked_job(stack: dict[str, Any], request: pytest.FixtureRequest) -> None:
    job = spent_job(stack)
    skipped_before = view(stack, job["id"])["skipped"]["budget"]
    # When the clock reaches Tokyo's midnight, the tick finds the job due again
    stack["clock"].advance((TOKYO_MIDNIGHT_MS - clock.now_ms()) / 1000 - 30)
    runtime.dispatcher().tick(clock.now_ms())
    drive(stack, 40)
    # Then it ran in the new budget day (spending it again: parked until the next midnight)
    assert len(stack["agent"].requests) == 2
    stored = JobModel.get(job["id"])
    assert iso(stored.nextRunAt) == "2030-01-02T15:00:00.000Z"
    runs = sorted(RunModel.query(job["id"]), key=lambda r: r.id)
    first_streak = next(r for r in runs if r.status == "skipped")
    # The first streak holds every occurrence of the spent day after the first run: 15:00 - 00:00:0x
    assert int(first_streak.skippedCount) > skipped_before and int(first_streak.skippedCount) >= 53_990
    check_quiet(request, stack["queue_url"])


def test_a_cron_job_parks_and_counts_its_occurrences(stack: dict[str, Any], request: pytest.FixtureRequest) -> None:
    stack["agent"].respond_with(200, body=SPENDS)
    job = create_job(stack, name="cron-parked", schedule="* * * * *", timezone="Asia/Tokyo",
                     budget={"maxTokensPerDay": 100})
    idle(stack, 180)  # 00:01 runs and spends, 00:02 is skipped and parks, 00:03 is counted ahead
    assert iso(JobModel.get(job["id"]).nextRunAt) == TOKYO_MIDNIGHT
    assert view(stack, job["id"])["skipped"]["budget"] == 2
    idle(stack, 3_600)
    assert view(stack, job["id"])["skipped"]["budget"] == streak_of(stack, job["id"])["skippedCount"] == 62
    check_quiet(request, stack["queue_url"])


def _parks(params: dict[str, Any]) -> bool:
    return "parkedUntil" in set(params.get("ExpressionAttributeNames", {}).values())


@pytest.mark.parametrize("kind", ["throttle", "lost", "crash"])
def test_a_fault_at_the_park_keeps_the_counts_true(stack: dict[str, Any], faults: Any, kind: str,
                                                   request: pytest.FixtureRequest) -> None:
    # Given the write that parks a spent job fails once (throttled, its answer lost, the process dying)
    fault = faults.add("dynamodb", "UpdateItem", kind=kind, match=_parks)
    job = spent_job(stack)
    drive(stack, 700, step=10)  # a message that failed comes back after the receive's 600-s visibility
    assert fault.fired
    # Then the job is parked (by that write, or by the next skip), and its counts agree
    assert iso(JobModel.get(job["id"]).nextRunAt) == TOKYO_MIDNIGHT
    assert view(stack, job["id"])["skipped"]["budget"] == streak_of(stack, job["id"])["skippedCount"]
    check_quiet(request, stack["queue_url"])
