"""Guard rails (README, "Guard rails"): the circuit breaker, on moto."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chalicelib import runtime
from chalicelib.dispatch import scheduled_run_id
from chalicelib.models import JobModel, RunModel, Trigger
from chalicelib.runs import Occurrence
from chalicelib.sqs import Message
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
    assert ("skipped", "after endAt: the job is completed") in statuses(job["id"])


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
