"""Guard rails (README, "Guard rails"): the circuit breaker, on moto."""
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
from conftest import call, record_job


def create(**overrides: Any) -> dict[str, Any]:
    return runtime.jobs().create(record_job(**overrides))


def run_round(job_id: str, at_ms: int, executors: int = 8) -> list[str]:
    """``executors`` parallel executors, each handed a different occurrence due at ``at_ms``."""
    generation = int(JobModel.get(job_id).generation)
    messages = [Message(Occurrence(job_id, scheduled_run_id(job_id, at_ms + i), at_ms + i, Trigger.SCHEDULE,
                                   generation, 1), at_ms + i) for i in range(executors)]
    executor = runtime.executor()
    with ThreadPoolExecutor(max_workers=executors) as pool:
        return [o.value for o in pool.map(executor.run, messages)]


def failed_runs(job_id: str) -> list[RunModel]:
    return [r for r in RunModel.query(job_id) if r.status == "failed"]


def test_eight_executors_and_an_always_failing_agent_pause_the_job_after_exactly_3_failed_runs(
        engine: dict[str, Any]) -> None:
    # Given a job with maxConsecutiveFailures 3 whose agent always fails
    job = create(name="breaker", schedule=None, interval=60_000, maxConsecutiveFailures=3)
    engine["recorder"].failures_left["breaker"] = 10_000
    # When 8 parallel executors run 5 rounds of its occurrences
    clock = engine["clock"]
    for _ in range(5):
        clock.advance(60)
        run_round(job["id"], int(clock.t * 1000))
    # Then exactly 3 runs failed, the job is paused with the count and the last error, and nothing
    # started after the pause
    stored = JobModel.get(job["id"])
    assert len(failed_runs(job["id"])) == 3 and len(engine["recorder"].calls) == 3
    assert (stored.status, int(stored.consecutiveFailures), stored.dueShard) == ("paused", 3, None)
    assert "3 consecutive failed runs" in stored.pausedReason and "agent answered 503" in stored.pausedReason
    view = runtime.jobs().get(job["id"])
    assert (view["pausedReason"], view["consecutiveFailures"], view["maxConsecutiveFailures"]) == (
        stored.pausedReason, 3, 3)


def test_resuming_clears_the_breaker_and_a_success_resets_the_count(engine: dict[str, Any]) -> None:
    job = create(name="breaker-resume", schedule=None, interval=60_000, maxConsecutiveFailures=2)
    engine["recorder"].failures_left["breaker-resume"] = 2
    for _ in range(2):
        engine["clock"].advance(60)
        run_round(job["id"], int(engine["clock"].t * 1000), executors=1)
    assert JobModel.get(job["id"]).status == "paused"
    resumed = runtime.jobs().update(job["id"], {"status": "active"})
    assert (resumed["status"], resumed["pausedReason"], resumed["consecutiveFailures"]) == ("active", None, 0)
    engine["clock"].advance(60)
    run_round(job["id"], int(engine["clock"].t * 1000), executors=1)
    stored = JobModel.get(job["id"])
    assert (stored.status, int(stored.consecutiveFailures)) == ("active", 0)


def test_a_success_between_failures_keeps_the_job_running(engine: dict[str, Any]) -> None:
    job = create(name="breaker-flaky", schedule=None, interval=60_000, maxConsecutiveFailures=2)
    for fails in (1, 0, 1, 0):
        engine["recorder"].failures_left["breaker-flaky"] = fails
        engine["clock"].advance(60)
        run_round(job["id"], int(engine["clock"].t * 1000), executors=1)
    assert JobModel.get(job["id"]).status == "active" and len(failed_runs(job["id"])) == 2


@pytest.mark.parametrize("value", [0, 1001, -1, "3", 2.5])
def test_max_consecutive_failures_out_of_range_is_a_400_naming_it(client: Any, value: Any) -> None:
    body = record_job(name="bad-breaker", schedule=None, interval=60_000, maxConsecutiveFailures=value)
    answer = call(client, "POST", "/api/jobs", body)
    assert answer.status_code == 400 and json.loads(answer.body)["Message"].startswith("maxConsecutiveFailures")
    assert json.loads(call(client, "GET", "/api/jobs").body) == []


# --- schedule bounds -------------------------------------------------------------------------

@pytest.fixture
def timed(aws: dict[str, str], configure: Any, fake_clock: Any, sqs_on_fake_clock: None,
          recorder: Any) -> dict[str, Any]:
    """moto AWS whose SQS delays follow the fake clock, a default config and the recorder."""
    configure({})
    return {**aws, "clock": fake_clock, "recorder": recorder}


def pump_all(engine: dict[str, Any], seconds: float) -> None:
    """Let ``seconds`` pass (the minute tick included), running what SQS shows at each second."""
    from conftest import pump

    end = engine["clock"].t + seconds
    while True:
        if int(engine["clock"].t) % 60 == 0:
            runtime.dispatcher().tick(int(engine["clock"].t * 1000))
        while pump(engine["queue_url"]):
            pass
        if engine["clock"].t >= end:
            return
        engine["clock"].advance(1)


def statuses(job_id: str) -> list[tuple[str, str | None]]:
    return [(r.status, r.error) for r in sorted(RunModel.query(job_id), key=lambda r: r.scheduledAt)]


def test_max_runs_completes_the_job_after_exactly_that_many_starts(timed: dict[str, Any]) -> None:
    job = create(name="max-runs", schedule=None, interval=60_000, maxRuns=3)
    for _ in range(5):
        pump_all(timed, 60)
    assert len(timed["recorder"].calls) == 3
    stored = JobModel.get(job["id"])
    assert (stored.status, int(stored.startedRuns), stored.dueShard) == ("completed", 3, None)
    assert runtime.jobs().get(job["id"])["nextRunAt"] is None


def test_max_runs_holds_under_eight_parallel_executors(engine: dict[str, Any]) -> None:
    job = create(name="max-runs-burst", schedule=None, interval=3_600_000, maxRuns=3, overlap="allow")
    engine["clock"].advance(1)
    outcomes = run_round(job["id"], int(engine["clock"].t * 1000))
    assert len(engine["recorder"].calls) == 3 and outcomes.count("skipped") == 5
    skipped = [error or "" for status, error in statuses(job["id"]) if status == "skipped"]
    assert all("maxRuns" in error or "completed" in error for error in skipped)
    assert JobModel.get(job["id"]).status == "completed"


def test_start_at_delays_the_first_occurrence(timed: dict[str, Any]) -> None:
    job = create(name="start-at", schedule="*/5 * * * *", startAt="2030-01-01T02:03:00Z")
    assert job["nextRunAt"] == "2030-01-01T02:05:00.000Z" and job["startAt"] == "2030-01-01T02:03:00.000Z"
    interval = create(name="start-at-interval", schedule=None, interval=60_000, startAt="2030-01-01T01:00:00Z")
    assert interval["nextRunAt"] == "2030-01-01T01:00:00.000Z"
    pump_all(timed, 600)
    assert timed["recorder"].calls == []


def test_end_at_stops_the_schedule_and_completes_the_job(timed: dict[str, Any]) -> None:
    job = create(name="end-at", schedule=None, interval=60_000, endAt="2030-01-01T00:02:30Z")
    for _ in range(4):
        pump_all(timed, 60)
    assert len(timed["recorder"].calls) == 2
    assert JobModel.get(job["id"]).status == "completed"
    # The tick that found 00:03 past endAt armed the job's end entry instead: nothing after endAt was sent
    assert statuses(job["id"]) == [("succeeded", None), ("succeeded", None)]


def test_an_occurrence_past_its_catchup_window_is_skipped_as_missed(timed: dict[str, Any]) -> None:
    job = create(name="catch-up", schedule=None, interval=60_000, catchupWindowMs=5_000)
    timed["clock"].advance(330)  # the system was down: the 00:01 occurrence is 4.5 minutes late
    runtime.dispatcher().tick(int(timed["clock"].t * 1000))
    pump_all(timed, 0)
    missed = [e or "" for s, e in statuses(job["id"]) if s == "skipped"]
    assert missed and missed[0].startswith("missed") and timed["recorder"].calls == []
    pump_all(timed, 60)  # the next occurrence is on time and runs
    assert len(timed["recorder"].calls) == 1


@pytest.mark.parametrize("fields, field", [
    ({"startAt": "2030-01-02T00:00:00Z", "endAt": "2030-01-01T12:00:00Z"}, "endAt"),
    ({"endAt": "2029-12-31T00:00:00Z"}, "endAt"),
    ({"endAt": "tomorrow"}, "endAt"),
    ({"maxRuns": 0}, "maxRuns"),
    ({"catchupWindowMs": -1}, "catchupWindowMs"),
    ({"startAt": 5}, "startAt"),
])
def test_bad_bounds_are_400s_naming_the_field(engine: dict[str, Any], client: Any, fields: dict[str, Any],
                                              field: str) -> None:
    body = record_job(name="bad-bounds", schedule=None, interval=60_000, **fields)
    answer = call(client, "POST", "/api/jobs", body)
    assert answer.status_code == 400 and json.loads(answer.body)["Message"].startswith(field), answer.body
    assert json.loads(call(client, "GET", "/api/jobs").body) == []


# --- endAt completes the job within one tick, whatever the schedule's gaps -------------------

def minutes(engine: dict[str, Any], count: int) -> None:
    """``count`` minute ticks, each followed by running whatever SQS shows then."""
    from conftest import pump

    for _ in range(count):
        engine["clock"].advance(60)
        runtime.dispatcher().tick(int(engine["clock"].t * 1000))
        while pump(engine["queue_url"]):
            pass


def test_a_weekly_job_is_completed_one_tick_after_its_end_at(timed: dict[str, Any], client: Any) -> None:
    # Given a weekly job (Tuesdays 00:30; 2030-01-01 is a Tuesday) that ends an hour after its creation
    job = create(name="weekly-end", schedule="30 0 * * 2", endAt="2030-01-01T01:00:00Z")
    # When the ticks run up to endAt
    minutes(timed, 60)
    # Then its one occurrence ran and it is still active at 01:00 (endAt has not passed yet)
    assert len(timed["recorder"].calls) == 1 and JobModel.get(job["id"]).status == "active"
    # And the next tick completes it, out of the due index: not a week later
    minutes(timed, 1)
    stored = JobModel.get(job["id"])
    assert (stored.status, stored.dueShard, stored.nextRunAt) == ("completed", None, None)
    view = json.loads(call(client, "GET", f"/api/jobs/{job['id']}").body)
    assert (view["status"], view["nextRunAt"]) == ("completed", None)
    assert statuses(job["id"]) == [("succeeded", None)]


def test_an_interval_job_whose_end_at_falls_between_two_occurrences(timed: dict[str, Any]) -> None:
    job = create(name="interval-end", schedule=None, interval=600_000, endAt="2030-01-01T00:15:00Z")
    minutes(timed, 15)
    assert JobModel.get(job["id"]).status == "active"  # 00:15: the 00:10 run is done, endAt not passed
    minutes(timed, 1)
    assert JobModel.get(job["id"]).status == "completed"  # 00:16, not 00:20 (the next occurrence)
    minutes(timed, 10)
    assert len(timed["recorder"].calls) == 1 and statuses(job["id"]) == [("succeeded", None)]  # nothing after


def test_a_job_whose_end_at_is_patched_is_completed_once_it_passes(timed: dict[str, Any], client: Any) -> None:
    job = create(name="patched-end", schedule="30 0 * * 2")
    minutes(timed, 1)
    # endAt in the past is refused (an ISO date in the past is a 400, and a failed request changes nothing)
    refused = call(client, "PATCH", f"/api/jobs/{job['id']}", {"endAt": "2030-01-01T00:00:30Z"})
    assert refused.status_code == 400 and json.loads(refused.body)["Message"].startswith("endAt")
    answer = call(client, "PATCH", f"/api/jobs/{job['id']}", {"endAt": "2030-01-01T00:45:00Z"})
    assert answer.status_code == 200, answer.body
    minutes(timed, 44)  # 00:45
    assert JobModel.get(job["id"]).status == "active" and len(timed["recorder"].calls) == 1
    minutes(timed, 1)
    assert json.loads(call(client, "GET", f"/api/jobs/{job['id']}").body)["status"] == "completed"


def test_a_run_in_progress_at_end_at_finishes_normally_then_the_job_completes(stack: dict[str, Any]) -> None:
    from conftest import create_job, drive, report

    # Given a job whose one occurrence before endAt (00:01) is accepted by its agent, still running at endAt
    stack["agent"].respond_with(202)
    job = create_job(stack, name="end-in-progress", schedule=None, interval=60_000, endAt="2030-01-01T00:01:30Z")
    drive(stack, 65)
    drive(stack, 55)  # 00:02, endAt has passed
    # When the tick runs, the job waits for its run
    runtime.dispatcher().tick(int(stack["clock"].t * 1000))
    assert JobModel.get(job["id"]).status == "active"
    answer = report(stack, "complete", {"status": "succeeded"}, delivery_token(stack))
    assert answer.status_code == 200 and json.loads(answer.body)["status"] == "succeeded"
    # Then the next tick completes the job, and nothing else ran
    stack["clock"].advance(60)
    assert runtime.dispatcher().tick(int(stack["clock"].t * 1000)).completed == 1
    assert JobModel.get(job["id"]).status == "completed" and len(stack["agent"].requests) == 1


def delivery_token(stack: dict[str, Any]) -> str:
    from conftest import delivery

    return str(delivery(stack)["callbackToken"])
