"""Guard rails (contract §7): the circuit breaker, on moto."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chalicelib import runtime
from chalicelib.dispatch import scheduled_run_id
from chalicelib.history import Occurrence
from chalicelib.models import JobModel, RunModel, Trigger
from chalicelib.queue import Message
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
    for n in range(5):
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
