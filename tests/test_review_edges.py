"""Edges found by the independent review (issue 23, "Low" items), through the API on moto."""
from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib import runtime
from chalicelib.engine import actions
from chalicelib.engine.dispatch import scheduled_run_id
from chalicelib.store.models import JobModel, Trigger
from chalicelib.store.runs import Occurrence
from chalicelib.store.sqs import Message
from conftest import call, job_body

ZERO = {"costUsd": 0.0, "tokens": 0}


@actions.action("REVIEW_EDGES_SPEND")
def _spend(ctx: Any) -> dict[str, Any]:
    """Reports the usage its payload names."""
    return {"done": True, "usage": ctx.payload["usage"]}


def spender(client: Any, **overrides: Any) -> dict[str, Any]:
    """Create (through the API) an interval job whose runs report 400 tokens and 0.02 USD."""
    body = job_body(schedule=None, interval=60_000, payload={"action": "REVIEW_EDGES_SPEND", "usage": {
        "inputTokens": 150, "outputTokens": 250, "costUsd": 0.02}})
    created = call(client, "POST", "/api/jobs", {**body, **overrides})
    assert created.status_code == 201, created.body
    job: dict[str, Any] = json.loads(created.body)
    return job


def run_one(job_id: str, at_ms: int) -> str:
    """Run the job's scheduled occurrence at ``at_ms`` on an executor, as the queue would."""
    generation = int(JobModel.get(job_id).generation)
    occurrence = Occurrence(job_id, scheduled_run_id(job_id, at_ms), at_ms, Trigger.SCHEDULE, generation, 1)
    return runtime.executor().run(Message(occurrence, at_ms)).value


def read(client: Any, job_id: str) -> dict[str, Any]:
    answer = call(client, "GET", f"/api/jobs/{job_id}")
    assert answer.status_code == 200, answer.body
    job: dict[str, Any] = json.loads(answer.body)
    return job


# --- finding 15: usageToday is on every job -----------------------------------------------

@pytest.mark.parametrize("budget", [None, {"maxTokensPerDay": 1000}], ids=["no budget", "budget"])
def test_usage_today_is_zeros_before_any_usage_with_or_without_a_budget(
        engine: dict[str, Any], client: Any, budget: dict[str, Any] | None) -> None:
    job = spender(client, budget=budget)
    assert job["usageToday"] == ZERO
    assert read(client, job["id"])["usageToday"] == ZERO
    listed = json.loads(call(client, "GET", "/api/jobs").body)
    assert [j["usageToday"] for j in listed] == [ZERO]


def test_usage_today_stays_when_a_budget_is_removed(engine: dict[str, Any], client: Any) -> None:
    job = spender(client, budget={"maxTokensPerDay": 1000})
    engine["clock"].advance(60)
    assert run_one(job["id"], int(engine["clock"].t * 1000)) == "succeeded"
    cleared = call(client, "PATCH", f"/api/jobs/{job['id']}", {"budget": None})
    assert cleared.status_code == 200, cleared.body
    # What the job's runs reported today is still what they reported
    assert json.loads(cleared.body)["usageToday"] == {"costUsd": 0.02, "tokens": 400}


def test_usage_today_counts_a_job_without_a_budget(engine: dict[str, Any], client: Any) -> None:
    # The contract (section 7): "what the job's runs reported today", with or without a budget.
    job = spender(client)
    engine["clock"].advance(60)
    assert run_one(job["id"], int(engine["clock"].t * 1000)) == "succeeded"
    assert read(client, job["id"])["usageToday"] == {"costUsd": 0.02, "tokens": 400}


# --- finding 16: a cron step larger than its field ------------------------------------------

@pytest.mark.parametrize("schedule", ["*/61 * * * *", "0 */24 * * *", "0 0 */32 * *", "0 0 * */13 *",
                                      "0 0 * * */8"])
def test_a_step_larger_than_its_field_is_a_400_naming_schedule_that_changes_nothing(
        client: Any, schedule: str) -> None:
    created = call(client, "POST", "/api/jobs", job_body(schedule=schedule))
    assert created.status_code == 400, created.body
    error = json.loads(created.body)
    assert error["Code"] == "BadRequestError" and error["Message"].startswith("schedule"), error
    assert "step" in error["Message"]
    preview = call(client, "POST", "/api/schedules/preview", {"schedule": schedule})
    assert (preview.status_code, json.loads(preview.body)) == (400, error)
    assert json.loads(call(client, "GET", "/api/jobs").body) == []
    # A PATCH is refused the same way and leaves the job as it was
    job = json.loads(call(client, "POST", "/api/jobs", job_body(name=f"step-{len(schedule)}")).body)
    patched = call(client, "PATCH", f"/api/jobs/{job['id']}", {"schedule": schedule})
    assert (patched.status_code, json.loads(patched.body)) == (400, error)
    assert read(client, job["id"]) == job
