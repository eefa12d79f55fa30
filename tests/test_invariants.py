"""The invariants checker (tests/invariants.py) finds each violation it is written for: a checker
that passes everything would make every fault test's final check vacuous."""
from __future__ import annotations

import json
from typing import Any

from chalicelib import runtime
from chalicelib.clock import now_ms
from chalicelib.store.models import AgentModel, JobModel, RunModel, agent_item_id
from conftest import AGENT_ID, record_job
from invariants import check_invariants
from test_faults import AT_0005, drain, tick_at


def one_run(engine: dict[str, Any], **job: Any) -> tuple[str, RunModel]:
    """A daily job whose 00:05 occurrence ran (succeeded)."""
    job_id = str(runtime.jobs().create(record_job(name="checked", schedule="5 0 * * *", **job))["id"])
    tick_at(engine["clock"], AT_0005 - 60_000)
    drain(engine["queue_url"], engine["clock"])
    [run] = list(RunModel.query(job_id, consistent_read=True))
    return job_id, run


def found(letter: str) -> list[str]:
    return [v for v in check_invariants(now_ms()) if v.startswith(f"({letter})")]


def test_a_quiet_system_after_a_run_holds_every_invariant(engine: dict[str, Any]) -> None:
    one_run(engine)
    assert check_invariants(now_ms()) == []


def test_a_run_past_its_deadline_or_waiting_for_nothing_is_found(engine: dict[str, Any]) -> None:
    job_id, run = one_run(engine)
    now = now_ms()
    RunModel(job_id, "run-lease", trigger="schedule", scheduledAt=1, status="running", leaseUntil=now - 1).save()
    RunModel(job_id, "run-accepted", trigger="schedule", scheduledAt=2, status="running", acceptedAt=now - 9,
             timeoutAt=now + 60_000, hbDeadline=now).save()
    RunModel(job_id, "run-retry", trigger="schedule", scheduledAt=3, status="retrying", retryAt=now - 10**7).save()
    RunModel(job_id, "run-queued", trigger="manual", scheduledAt=4, status="queued").save()
    RunModel(job_id, "run-fine", trigger="schedule", scheduledAt=5, status="running", leaseUntil=now + 1).save()
    got = found("a")
    assert len(got) == 4 and all(any(r in v for v in got) for r in ("run-lease", "run-accepted", "run-retry",
                                                                     "run-queued")), got


def test_a_slot_not_held_by_a_running_attempt_and_wrong_counts_are_found(engine: dict[str, Any]) -> None:
    job_id, run = one_run(engine)
    AgentModel(agent_item_id(AGENT_ID), holders={run.id: now_ms() + 1000}, queued=1).save()
    assert len(found("b")) == 1 and run.id in found("b")[0]
    assert len(found("c")) == 1


def test_budget_totals_that_differ_from_the_runs_are_found(engine: dict[str, Any]) -> None:
    job_id, run = one_run(engine, budget={"maxTokensPerDay": 10_000})
    job = JobModel.get(job_id, consistent_read=True)
    assert job.usageDay is not None and found("d") == []
    run.update(actions=[RunModel.usage.set(json.dumps({"inputTokens": 5, "outputTokens": 6, "costUsd": 0.1}))])
    [violation] = found("d")
    assert "its runs account for 11 tokens" in violation


def test_an_occurrence_succeeded_twice_and_too_many_attempts_are_found(engine: dict[str, Any]) -> None:
    job_id, run = one_run(engine)
    RunModel(job_id, "run-copy", trigger="schedule", scheduledAt=run.scheduledAt, status="succeeded",
             attempt=4).save()
    got = found("e")
    assert len(got) == 2 and any("succeeded 2 times" in v for v in got) and any("attempt 4 > maxAttempts 3" in v
                                                                                 for v in got), got


def test_a_last_success_that_is_not_the_latest_success_is_found(engine: dict[str, Any]) -> None:
    job_id, run = one_run(engine)
    job = JobModel.get(job_id, consistent_read=True)
    assert json.loads(job.lastSuccess)["runId"] == run.id and found("g") == []
    # A later success the job does not name, then a job that names no run at all
    RunModel(job_id, "run-later", trigger="manual", scheduledAt=int(run.scheduledAt) + 1, status="succeeded",
             startedAt=int(run.finishedAt), finishedAt=int(run.finishedAt) + 1).save()
    [violation] = found("g")
    assert job_id in violation
    job.update(actions=[JobModel.lastSuccess.remove(), JobModel.lastSuccessAt.remove()])
    assert len(found("g")) == 1
