"""Budgets (README "Guard rails"): per job (its timezone's day) and per agent (UTC day), on moto."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chalicelib import runtime
from chalicelib.engine import actions
from chalicelib.engine.dispatch import scheduled_run_id
from chalicelib.store.models import JobModel, RunModel, Trigger
from chalicelib.store.runs import Occurrence
from chalicelib.store.sqs import Message
from conftest import call, job_body

AGENT = "6f1c2a8e-1d3b-4c5a-9e7f-0a1b2c3d4e5f"
STARTS: list[str] = []


@actions.action("SPEND")
def _spend(ctx: Any) -> dict[str, Any]:
    """Reports the usage its payload names (the test agent of this module)."""
    STARTS.append(ctx.run_id)
    return {"done": True, "usage": ctx.payload["usage"]}


@pytest.fixture(autouse=True)
def _fresh_starts() -> None:
    STARTS.clear()


def spender(**overrides: Any) -> dict[str, Any]:
    body = job_body(schedule=None, interval=60_000, payload={"action": "SPEND", "usage": {
        "inputTokens": 150, "outputTokens": 250, "costUsd": 0.02}})
    return runtime.jobs().create({**body, **overrides})


def occurrence(job_id: str, at_ms: int) -> Message:
    generation = int(JobModel.get(job_id).generation)
    return Message(Occurrence(job_id, scheduled_run_id(job_id, at_ms), at_ms, Trigger.SCHEDULE, generation, 1), at_ms)


def run_one(job_id: str, at_ms: int) -> str:
    return runtime.executor().run(occurrence(job_id, at_ms)).value


def burst(job_id: str, at_ms: int, count: int) -> list[str]:
    """``count`` occurrences of the job, each on its own executor, all at once."""
    messages = [occurrence(job_id, at_ms + i) for i in range(count)]
    with ThreadPoolExecutor(max_workers=count) as pool:
        return [o.value for o in pool.map(runtime.executor().run, messages)]


def test_a_budget_of_1000_tokens_with_runs_of_400_stops_after_the_run_that_crosses_it(
        engine: dict[str, Any]) -> None:
    # Given a job with a budget of 1,000 tokens a day whose runs report 400 tokens each
    job = spender(name="tokens", budget={"maxTokensPerDay": 1000})
    clock = engine["clock"]
    # When six of its occurrences come due one after the other
    outcomes = []
    for _ in range(6):
        clock.advance(60)
        outcomes.append(run_one(job["id"], int(clock.t * 1000)))
    # Then three run (0, 400, 800 counted before each: all below 1,000), the rest are skipped
    assert outcomes == ["succeeded"] * 3 + ["skipped"] * 3
    skipped = [r for r in RunModel.query(job["id"]) if r.status == "skipped"]
    assert all("budget" in r.error for r in skipped)
    view = runtime.jobs().get(job["id"])
    assert view["usageToday"] == {"costUsd": 0.06, "tokens": 1200}
    assert view["budget"] == {"maxTokensPerDay": 1000}


def test_a_burst_cannot_overshoot_by_the_burst(engine: dict[str, Any]) -> None:
    # Given a budgeted job whose last run reported 400 tokens
    job = spender(name="tokens-burst", budget={"maxTokensPerDay": 1000}, overlap="allow")
    clock = engine["clock"]
    clock.advance(60)
    assert run_one(job["id"], int(clock.t * 1000)) == "succeeded"
    # When 12 of its occurrences are claimed at once by 12 executors
    clock.advance(60)
    outcomes = burst(job["id"], int(clock.t * 1000), 12)
    # Then only those that found less than 1,000 counted (400, then 800 reserved) started:
    # one run's worth of overshoot at most, never the burst's
    assert sorted(outcomes).count("succeeded") == 2, outcomes
    assert len(STARTS) == 3
    assert runtime.jobs().get(job["id"])["usageToday"]["tokens"] == 1200


def test_the_budget_day_follows_the_jobs_timezone_and_a_new_day_starts_fresh(engine: dict[str, Any]) -> None:
    job = spender(name="tokens-day", timezone="Asia/Tokyo", budget={"maxTokensPerDay": 500})
    clock = engine["clock"]
    for _ in range(3):
        clock.advance(60)
        run_one(job["id"], int(clock.t * 1000))
    assert len(STARTS) == 2  # 0 then 400 counted: the third found 800
    day = JobModel.get(job["id"]).usageDay
    clock.advance(86_400)
    assert run_one(job["id"], int(clock.t * 1000)) == "succeeded"
    stored = JobModel.get(job["id"])
    assert stored.usageDay != day and int(stored.usedTokens) == 400  # the new day's one run


def test_a_cost_budget_and_raising_it_by_patch(engine: dict[str, Any], client: Any) -> None:
    job = spender(name="cost", budget={"maxCostUsdPerDay": 0.03})
    clock = engine["clock"]
    for _ in range(3):
        clock.advance(60)
        run_one(job["id"], int(clock.t * 1000))
    assert len(STARTS) == 2
    # When an operator raises the budget, the next occurrence runs
    answer = call(client, "PATCH", f"/api/jobs/{job['id']}", {"budget": {"maxCostUsdPerDay": 1}})
    assert answer.status_code == 200 and json.loads(answer.body)["budget"] == {"maxCostUsdPerDay": 1.0}
    clock.advance(60)
    assert run_one(job["id"], int(clock.t * 1000)) == "succeeded"
    # And removing it leaves what was used today (usageToday is on every job)
    cleared = json.loads(call(client, "PATCH", f"/api/jobs/{job['id']}", {"budget": None}).body)
    assert (cleared["budget"], cleared["usageToday"]) == (None, {"costUsd": 0.06, "tokens": 1200})


def test_a_job_without_budget_counts_its_usage_today(engine: dict[str, Any]) -> None:
    # usageToday is what the job's runs reported today, with or without a budget (CONTRACT section 7)
    job = spender(name="free")
    for _ in range(2):
        engine["clock"].advance(60)
        run_one(job["id"], int(engine["clock"].t * 1000))
    assert (runtime.jobs().get(job["id"])["budget"], runtime.jobs().get(job["id"])["usageToday"]) == (
        None, {"costUsd": 0.04, "tokens": 800})
    # And a new day starts from its first report
    engine["clock"].advance(86_400)
    run_one(job["id"], int(engine["clock"].t * 1000))
    assert runtime.jobs().get(job["id"])["usageToday"] == {"costUsd": 0.02, "tokens": 400}


def test_an_agent_budget_counts_across_its_jobs(aws: dict[str, str], configure: Any, fake_clock: Any,
                                                 no_sqs_delay: None) -> None:
    # Given an agent with 1,000 tokens a day (UTC) and two jobs of 400-token runs
    configure({"agents": {AGENT: {"budget": {"maxTokensPerDay": 1000}}}})
    one = spender(name="agent-a", agentId=AGENT)
    two = spender(name="agent-b", agentId=AGENT)
    outcomes = []
    for _ in range(3):
        fake_clock.advance(60)
        now = int(fake_clock.t * 1000)
        outcomes += [run_one(one["id"], now), run_one(two["id"], now)]
    # Then the runs stop once the agent's day crossed 1,000 (0, 0 reserved by first runs; then 400 each)
    assert outcomes.count("succeeded") == 3, outcomes
    skipped = [r.error for job in (one, two) for r in RunModel.query(job["id"]) if r.status == "skipped"]
    assert skipped and all("budget" in e and AGENT in e for e in skipped)


@pytest.mark.parametrize("budget, field", [
    ({"maxTokensPerDay": -1}, "budget.maxTokensPerDay"),
    ({"maxCostUsdPerDay": -0.01}, "budget.maxCostUsdPerDay"),
    ({"maxTokens": 5}, "budget.maxTokens"),
    ({}, "budget"),
    ({"maxTokensPerDay": 2.5}, "budget.maxTokensPerDay"),
    ("lots", "budget"),
])
def test_bad_budgets_are_400s_naming_the_field_and_change_nothing(client: Any, budget: Any, field: str) -> None:
    answer = call(client, "POST", "/api/jobs", job_body(name="bad-budget", budget=budget))
    assert answer.status_code == 400 and json.loads(answer.body)["Message"].startswith(field)
    assert json.loads(call(client, "GET", "/api/jobs").body) == []


def test_a_bad_agent_budget_or_limit_stops_start_up_naming_the_key(tmp_path: Any) -> None:
    from chalicelib.config import load_config
    from chalicelib.errors import ConfigError

    for entry, key in (({"maxConcurrent": 0}, "maxConcurrent"), ({"budget": {"maxCostUsdPerDay": -1}}, "budget"),
                       ({"budget": {"tokens": 3}}, "budget")):
        path = tmp_path / "agentos.config.json"
        path.write_text(json.dumps({"agents": {AGENT: entry}}))
        with pytest.raises(ConfigError) as caught:
            load_config(path)
        assert key in str(caught.value)


def test_a_crashed_claimants_takeover_counts_and_charges_the_run_once(engine: dict[str, Any]) -> None:
    from chalicelib.engine.progress import claim_lease_ms

    # Given an occurrence claimed (counted against maxRuns, its budget reserved) by an executor
    # that then died, before its first run reported (so the reservation was 0)...
    job = spender(name="takeover", budget={"maxTokensPerDay": 10_000}, maxRuns=5)
    clock = engine["clock"]
    clock.advance(60)
    assert run_one(job["id"], int(clock.t * 1000)) == "succeeded"  # last usage: 400
    clock.advance(60)
    message = occurrence(job["id"], int(clock.t * 1000))
    lease = claim_lease_ms(runtime.config())
    runtime.run_store().claim(message.occurrence, int(clock.t * 1000), lease, int(clock.t * 1000))
    # When its lease passes and SQS redelivers the message to another executor
    clock.advance(lease / 1000 + 1)
    assert runtime.executor().run(message).value == "succeeded"
    # Then the run counted once towards maxRuns, and its tokens once towards the budget
    stored = JobModel.get(job["id"])
    assert int(stored.startedRuns) == 2 and int(stored.usedTokens) == 800


def test_costs_are_kept_to_the_nano_dollar_so_any_reported_or_asked_cost_can_be_stored(
        engine: dict[str, Any], client: Any) -> None:
    # Given a cost budget and a reported cost DynamoDB cannot hold as given (below 1e-130;
    # 1e9 + 1e-30 has more than its 38 significant digits): schemathesis found the first one
    answer = call(client, "POST", "/api/jobs", job_body(name="tiny", budget={"maxCostUsdPerDay": 2.2e-309}))
    assert answer.status_code == 201, answer.body
    assert json.loads(answer.body)["budget"] == {"maxCostUsdPerDay": 0.0}
    job = spender(name="odd-costs", budget={"maxCostUsdPerDay": 1_000_000_000},
                  payload={"action": "SPEND", "usage": {"costUsd": 123.4567890123456789}})
    clock = engine["clock"]
    clock.advance(60)
    # When a run reports it, and a second one reports a cost near zero
    assert run_one(job["id"], int(clock.t * 1000)) == "succeeded"
    near_zero = {"payload": {"action": "SPEND", "usage": {"costUsd": 1e-300}}}
    patched = call(client, "PATCH", f"/api/jobs/{job['id']}", near_zero)
    assert patched.status_code == 200, patched.body
    clock.advance(60)
    assert run_one(job["id"], int(clock.t * 1000)) == "succeeded"
    # Then both were recorded and counted to the nano-dollar
    assert runtime.jobs().get(job["id"])["usageToday"]["costUsd"] == 123.456789
    assert float(JobModel.get(job["id"]).usedCost) == 123.456789012
