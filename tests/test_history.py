"""Contract section 13, runs: ``attempts`` on every run, no record for dropped occurrences,
one record per streak of skips, the job's ``skipped`` totals and ``blocked`` (on moto)."""
from __future__ import annotations

from typing import Any

import pytest

from chalicelib import clock, runtime
from chalicelib.store.models import RunModel
from conftest import AGENT_ID, NO_JITTER, call, create_job, delivery, drive, report
from invariants import check_quiet


def runs_of(job_id: str) -> list[RunModel]:
    """Every stored run of a job (oldest first)."""
    return list(runtime.run_store().all(job_id))


def shown(stack: dict[str, Any], run_id: str) -> dict[str, Any]:
    """The API's view of a run."""
    answer = call(stack["client"], "GET", f"/api/runs/{run_id}")
    assert answer.status_code == 200
    return dict(answer.json_body)


def test_a_retried_run_keeps_every_attempt_with_its_error(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(503, 502, 200)
    job = create_job(stack, name="retried", retryPolicy=NO_JITTER)
    drive(stack, 15)
    (run,) = runs_of(job["id"])
    view = shown(stack, run.id)
    assert view["status"] == "succeeded" and view["attempt"] == 3
    attempts = view["attempts"]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert [a["status"] for a in attempts] == ["failed", "failed", "succeeded"]
    assert "503" in attempts[0]["error"] and "502" in attempts[1]["error"] and attempts[2]["error"] is None
    for entry in attempts:
        assert entry["startedAt"] <= entry["finishedAt"] and entry["durationMs"] >= 0
    assert attempts[0]["finishedAt"] <= attempts[1]["startedAt"]


def test_a_timed_out_attempt_says_so_and_a_running_one_shows_running(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(202)
    job = create_job(stack, name="silent", timeoutMs=5_000, retryPolicy={**NO_JITTER, "initialDelayMs": 60_000})
    drive(stack, 6)
    (run,) = runs_of(job["id"])
    assert [a["status"] for a in shown(stack, run.id)["attempts"]] == ["running"]
    drive(stack, 10)
    first = shown(stack, run.id)["attempts"][0]
    assert first["status"] == "failed" and "timed out" in first["error"] and first["durationMs"] >= 5_000


def test_a_reported_outcome_and_a_cancel_end_their_attempt(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(202)
    create_job(stack, name="reported", retryPolicy={**NO_JITTER, "initialDelayMs": 1_000})
    drive(stack, 6)
    token = delivery(stack)["callbackToken"]
    assert report(stack, "complete", {"status": "failed", "error": "bad input"}, token).status_code == 200
    drive(stack, 3)
    token = delivery(stack)["callbackToken"]
    run_id = delivery(stack)["runId"]
    assert call(stack["client"], "POST", f"/api/runs/{run_id}/cancel").status_code == 202
    assert report(stack, "complete", {"status": "succeeded"}, token).status_code == 200
    view = shown(stack, run_id)
    assert view["status"] == "cancelled"
    assert [(a["status"], a["error"]) for a in view["attempts"]] == [("failed", "bad input"), ("cancelled", None)] \
        or [a["status"] for a in view["attempts"]] == ["failed", "cancelled"]
    assert view["attempts"][0]["error"] == "bad input"


def test_an_attempt_error_is_capped(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(202)
    create_job(stack, name="long-error", retryPolicy=None)
    drive(stack, 6)
    token = delivery(stack)["callbackToken"]
    answer = report(stack, "complete", {"status": "failed", "error": "x" * 1500, "retryable": False}, token)
    assert answer.status_code == 200, answer.json_body
    view = shown(stack, delivery(stack)["runId"])
    assert len(view["attempts"][0]["error"]) == 1000 and len(view["error"]) > 1000


def test_eight_seconds_of_overlap_skips_make_one_record(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(202)  # the first run stays in progress: every next occurrence overlaps
    job = create_job(stack, name="overlapping", schedule=None, interval=1_000, timeoutMs=60_000)
    drive(stack, 10)
    runs = runs_of(job["id"])
    skipped = [r for r in runs if r.status == "skipped"]
    assert len(skipped) == 1 and len([r for r in runs if r.status == "running"]) == 1
    view = shown(stack, skipped[0].id)
    assert view["skippedCount"] >= 8 and "overlap" in view["error"]
    assert view["lastSkippedAt"] > view["scheduledAt"]
    job_view = call(stack["client"], "GET", f"/api/jobs/{job['id']}").json_body
    assert job_view["skipped"] == {"overlap": view["skippedCount"], "budget": 0, "missed": 0}
    listed = call(stack["client"], "GET", f"/api/jobs/{job['id']}/runs").json_body
    assert [r["skippedCount"] for r in listed if r["status"] == "skipped"] == [view["skippedCount"]]


def test_a_run_between_skips_closes_the_streak(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(202)
    job = create_job(stack, name="two-streaks", schedule=None, interval=1_000, timeoutMs=60_000)
    drive(stack, 5)
    token = delivery(stack)["callbackToken"]
    assert report(stack, "complete", {"status": "succeeded"}, token).status_code == 200
    drive(stack, 5)
    skipped = sorted((r for r in runs_of(job["id"]) if r.status == "skipped"), key=lambda r: r.id)
    assert len(skipped) == 2
    counts = [shown(stack, r.id)["skippedCount"] for r in skipped]
    total = call(stack["client"], "GET", f"/api/jobs/{job['id']}").json_body["skipped"]["overlap"]
    assert sum(counts) == total and all(c >= 2 for c in counts)
    assert skipped[0].skippedCount == counts[0]  # the first streak was finalised when the second opened


def test_a_spent_tokyo_day_budget_is_blocked_until_tokyo_midnight_and_its_skips_are_one_record(
        stack: dict[str, Any]) -> None:
    # 2030-01-01T00:00Z is 09:00 in Tokyo: the budget day ends at Tokyo's midnight, 15:00Z
    stack["agent"].respond_with(200, body='{"usage": {"inputTokens": 500}}')
    job = create_job(stack, name="tokyo", schedule=None, interval=1_000, timezone="Asia/Tokyo",
                     budget={"maxTokensPerDay": 100})
    assert call(stack["client"], "GET", f"/api/jobs/{job['id']}").json_body["blocked"] is None
    drive(stack, 8)
    view = call(stack["client"], "GET", f"/api/jobs/{job['id']}").json_body
    assert view["blocked"]["reason"] == "budget" and view["blocked"]["until"] == "2030-01-01T15:00:00.000Z"
    assert "budget" in view["blocked"]["message"] and view["usageToday"]["tokens"] == 500
    skipped = [r for r in runs_of(job["id"]) if r.status == "skipped"]
    assert len(skipped) == 1 and view["skipped"]["budget"] == shown(stack, skipped[0].id)["skippedCount"] >= 5


def test_usage_today_and_skipped_are_on_every_job(stack: dict[str, Any]) -> None:
    job = create_job(stack, name="plain")
    view = call(stack["client"], "GET", f"/api/jobs/{job['id']}").json_body
    assert view["usageToday"] == {"costUsd": 0, "tokens": 0}
    assert view["skipped"] == {"overlap": 0, "budget": 0, "missed": 0} and view["blocked"] is None


def agent_spends_its_budget(stack: dict[str, Any], configure: Any) -> None:
    """The stack's agent has a 100-token daily budget; each of its runs reports 500 tokens."""
    configure({"agents": {AGENT_ID: {"url": stack["agent"].url, "timeoutMs": 10_000,
                                     "budget": {"maxTokensPerDay": 100}}}, "retryPolicy": NO_JITTER})
    stack["agent"].respond_with(200, body='{"usage": {"inputTokens": 500}}')


def test_a_spent_agent_budget_blocks_its_jobs_until_the_next_utc_day(stack: dict[str, Any], configure: Any) -> None:
    agent_spends_its_budget(stack, configure)
    job = create_job(stack, name="agent-spent", schedule=None, interval=1_000)
    drive(stack, 5)
    view = call(stack["client"], "GET", f"/api/jobs/{job['id']}").json_body
    assert view["blocked"]["reason"] == "agentBudget" and view["blocked"]["until"] == "2030-01-02T00:00:00.000Z"
    assert view["skipped"]["budget"] >= 2


# --- faults and races at the new writes (tests/fault_injector.py, tests/invariants.py) ------------

def _names(params: dict[str, Any]) -> set[str]:
    return set(params.get("ExpressionAttributeNames", {}).values())


def _opens_streak(params: dict[str, Any]) -> bool:
    return any("skipReason" in _names(item.get("Update", {})) for item in params.get("TransactItems", []))


def _extends_streak(params: dict[str, Any]) -> bool:
    return "streakCount" in _names(params) and "streakRun" not in {
        n for n in _names(params) if f"SET #{n}" in params.get("UpdateExpression", "")}


def _drops_claimed(params: dict[str, Any]) -> bool:
    return any("runs" in item.get("Delete", {}).get("TableName", "") for item in params.get("TransactItems", []))


@pytest.mark.parametrize("kind", ["throttle", "lost", "crash"])
@pytest.mark.parametrize("write", ["open", "extend"])
def test_a_fault_at_a_streak_write_keeps_its_counts_true(stack: dict[str, Any], faults: Any, kind: str,
                                                         write: str, request: pytest.FixtureRequest) -> None:
    # Given a job whose run in progress makes every next occurrence an overlap skip
    stack["agent"].respond_with(202)
    job = create_job(stack, name=f"streak-{write}-{kind}", schedule=None, interval=1_000, timeoutMs=60_000)
    operation = "TransactWriteItems" if write == "open" else "UpdateItem"
    fault = faults.add("dynamodb", operation, kind=kind, match=_opens_streak if write == "open" else _extends_streak,
                       skip=0 if write == "open" else 1)
    # When that write fails once (throttled, its answer lost, the process dying there)
    drive(stack, 8)
    drive(stack, 40)  # the failed message comes back (visibility) and is worked again
    assert fault.fired
    # Then one streak record, the job's totals equal its count, and the invariants hold
    skipped = [r for r in runs_of(job["id"]) if r.status == "skipped"]
    assert len(skipped) == 1
    total = call(stack["client"], "GET", f"/api/jobs/{job['id']}").json_body["skipped"]["overlap"]
    assert shown(stack, skipped[0].id)["skippedCount"] == total >= 6
    check_quiet(request, stack["queue_url"])


@pytest.mark.parametrize("kind", ["throttle", "lost", "crash"])
def test_a_fault_when_a_held_occurrence_is_dropped_leaves_no_run_and_no_slot(
        stack: dict[str, Any], faults: Any, kind: str, monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest) -> None:
    # Given an occurrence claimed and held until its instant, whose job is paused during the hold
    job = create_job(stack, name=f"held-drop-{kind}")
    from chalicelib import clock as clock_module

    original = clock_module.sleep_until

    def pause_during_hold(epoch_ms: int) -> None:
        runtime.jobs().update(job["id"], {"status": "paused"})
        original(epoch_ms)

    monkeypatch.setattr(clock_module, "sleep_until", pause_during_hold)
    fault = faults.add("dynamodb", "TransactWriteItems", kind=kind, match=_drops_claimed)
    # When the write that deletes its claimed item fails once
    drive(stack, 8)
    monkeypatch.setattr(clock_module, "sleep_until", original)
    drive(stack, 1_000, step=10)  # the claim's lease passes; a copy finds the job not live and drops it
    assert fault.fired
    # Then nothing was delivered, no run is left, and the job's slot is free
    assert stack["agent"].requests == []
    assert runs_of(job["id"]) == []
    check_quiet(request, stack["queue_url"])


def test_the_history_invariants_find_each_violation(stack: dict[str, Any]) -> None:
    from chalicelib.store.models import JobModel
    from history_invariants import history_violations

    job = JobModel("job-00000000000000aa", name="x", agentId=AGENT_ID, payload="{}", createdAt=0, updatedAt=0,
                   skippedOverlap=3)
    gap = RunModel(job.id, "run-0000000000001-00000000000000aa", trigger="schedule", scheduledAt=1,
                   status="failed", attempt=3, attempts={"1": {"status": "failed", "startedAt": 1, "finishedAt": 2},
                                                         "3": {"status": "succeeded", "startedAt": 3,
                                                               "finishedAt": 4}})
    streak = RunModel(job.id, "run-0000000000002-00000000000000aa", trigger="schedule", scheduledAt=2,
                      status="skipped", attempt=0, error="overlap: run x is in progress", skippedCount=2)
    dropped = RunModel(job.id, "run-0000000000003-00000000000000aa", trigger="schedule", scheduledAt=3,
                       status="skipped", attempt=0, error="the job is paused")
    found = history_violations({job.id: job}, {job.id: [gap, streak, dropped]})
    assert any(v.startswith("(h)") and "gap" in v for v in found)
    assert any(v.startswith("(h)") and "says succeeded" in v for v in found)
    assert any(v.startswith("(i)") for v in found) and any(v.startswith("(j)") for v in found)


def test_a_failed_run_is_in_the_failed_index(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(500)
    job = create_job(stack, name="fails", retryPolicy={**NO_JITTER, "maxAttempts": 2})
    drive(stack, 10)
    (run,) = runs_of(job["id"])
    assert run.status == "failed" and run.failedDay == "2030-01-01"
    listed = call(stack["client"], "GET", "/api/runs?status=failed").json_body
    assert [r["id"] for r in listed] == [run.id] and len(listed[0]["attempts"]) == 2


# --- skips of claimed occurrences (missed, an agent's budget): one record per streak too ----------

def _executor_down(stack: dict[str, Any], seconds: float) -> None:
    """The executor is down for ``seconds``: the occurrences already sent wait in the queue."""
    stack["clock"].advance(seconds)


def _late_start(stack: dict[str, Any], name: str, down_s: float) -> dict[str, Any]:
    """A 1-s job (2-s catch-up window, overlap allowed: no overlap skips between its missed ones)
    created while the executor is down for ``down_s`` seconds."""
    job = create_job(stack, name=name, schedule=None, interval=1_000, catchupWindowMs=2_000, overlap="allow")
    _executor_down(stack, down_s)
    return job


def test_missed_occurrences_after_an_outage_make_one_record(stack: dict[str, Any]) -> None:
    # Given a 1-s job whose first 20 s of occurrences wait while the executor is down
    job = _late_start(stack, "missed", 20)
    # When the system works them
    drive(stack, 4)
    # Then the occurrences it could no longer start in time are one record, and the job runs on
    skipped = [r for r in runs_of(job["id"]) if r.status == "skipped" and (r.error or "").startswith("missed")]
    assert len(skipped) == 1
    view = shown(stack, skipped[0].id)
    total = call(stack["client"], "GET", f"/api/jobs/{job['id']}").json_body["skipped"]
    assert view["skippedCount"] == total["missed"] >= 15 and total["budget"] == 0
    assert view["lastSkippedAt"] > view["scheduledAt"] and view["attempts"] == []
    assert len(stack["agent"].requests) >= 3


def test_a_second_outage_after_runs_opens_a_second_streak(stack: dict[str, Any]) -> None:
    job = _late_start(stack, "missed-twice", 10)
    drive(stack, 4)
    runtime.dispatcher().tick(clock.now_ms())  # the next lookahead is sent, then the executor is down again
    _executor_down(stack, 10)
    drive(stack, 4)
    skipped = sorted((r for r in runs_of(job["id"]) if r.status == "skipped" and r.skipReason == "missed"),
                     key=lambda r: r.id)
    assert len(skipped) == 2
    counts = [shown(stack, r.id)["skippedCount"] for r in skipped]
    total = call(stack["client"], "GET", f"/api/jobs/{job['id']}").json_body["skipped"]["missed"]
    assert sum(counts) == total and all(c >= 5 for c in counts)
    assert skipped[0].skippedCount == counts[0]  # finalised when the second streak opened


def test_a_spent_agent_budget_makes_one_record_per_streak(stack: dict[str, Any], configure: Any,
                                                          request: pytest.FixtureRequest) -> None:
    agent_spends_its_budget(stack, configure)
    job = create_job(stack, name="agent-streak", schedule=None, interval=1_000)
    drive(stack, 10)
    skipped = [r for r in runs_of(job["id"]) if r.status == "skipped"]
    assert len(skipped) == 1 and skipped[0].error.startswith("budget")
    totals = call(stack["client"], "GET", f"/api/jobs/{job['id']}").json_body["skipped"]
    assert shown(stack, skipped[0].id)["skippedCount"] == totals["budget"] >= 7 and totals["overlap"] == 0
    check_quiet(request, stack["queue_url"])


def test_an_agent_budget_changed_in_the_config_lifts_the_block(stack: dict[str, Any], configure: Any,
                                                               request: pytest.FixtureRequest) -> None:
    # Given a job blocked by its agent's spent budget (its claims lose to the block)
    agent_spends_its_budget(stack, configure)
    job = create_job(stack, name="agent-raised", schedule=None, interval=1_000)
    drive(stack, 5)
    assert call(stack["client"], "GET", f"/api/jobs/{job['id']}").json_body["blocked"]["reason"] == "agentBudget"
    ran = len(stack["agent"].requests)
    # When the operator raises the agent's budget in the configuration
    configure({"agents": {AGENT_ID: {"url": stack["agent"].url, "timeoutMs": 10_000,
                                     "budget": {"maxTokensPerDay": 100_000}}}, "retryPolicy": NO_JITTER})
    runtime.dispatcher().tick(clock.now_ms())
    drive(stack, 5)
    # Then the next occurrences run, and the job is no longer shown blocked
    assert len(stack["agent"].requests) > ran
    assert call(stack["client"], "GET", f"/api/jobs/{job['id']}").json_body["blocked"] is None
    check_quiet(request, stack["queue_url"])


def test_a_run_asked_for_and_skipped_keeps_its_own_record(stack: dict[str, Any], configure: Any) -> None:
    agent_spends_its_budget(stack, configure)
    job = create_job(stack, name="asked", schedule=None, interval=1_000)
    drive(stack, 4)
    answer = call(stack["client"], "POST", f"/api/jobs/{job['id']}/run")
    assert answer.status_code == 202
    drive(stack, 2)
    asked = shown(stack, answer.json_body["id"])
    assert asked["status"] == "skipped" and asked["skippedCount"] == 1 and asked["trigger"] == "manual"
    streaks = [r for r in runs_of(job["id"]) if r.status == "skipped" and r.trigger == "schedule"]
    total = call(stack["client"], "GET", f"/api/jobs/{job['id']}").json_body["skipped"]["budget"]
    assert len(streaks) == 1 and total == shown(stack, streaks[0].id)["skippedCount"] + 1


def _claimed_agent_skip(params: dict[str, Any]) -> bool:
    return any({"agentBlockedUntil", "skippedBudget"} <= _names(item.get("Update", {}))
               for item in params.get("TransactItems", []))


def _joins_claimed(params: dict[str, Any]) -> bool:
    return _claimed_agent_skip(params) and _drops_claimed(params)


def _opens_claimed(params: dict[str, Any]) -> bool:
    return _claimed_agent_skip(params) and _opens_streak(params)


@pytest.mark.parametrize("kind", ["throttle", "lost", "crash"])
@pytest.mark.parametrize("write", ["open", "join"])
def test_a_fault_at_a_claimed_skip_keeps_its_streak_true(stack: dict[str, Any], configure: Any, faults: Any, kind: str,
                                                         write: str, request: pytest.FixtureRequest) -> None:
    # Given a 1-s job whose claimed occurrence is skipped on its agent's spent budget ("open": the
    # first after the spend; "join": after the operator changed the agent's budget, still spent, so
    # that the next claim holds and meets the budget at the agent's gate, joining the open streak)
    agent_spends_its_budget(stack, configure)
    job = create_job(stack, name=f"claimed-{write}-{kind}", schedule=None, interval=1_000)
    if write == "join":
        drive(stack, 3)
        configure({"agents": {AGENT_ID: {"url": stack["agent"].url, "timeoutMs": 10_000,
                                         "budget": {"maxTokensPerDay": 200}}}, "retryPolicy": NO_JITTER})
    fault = faults.add("dynamodb", "TransactWriteItems", kind=kind,
                       match=_opens_claimed if write == "open" else _joins_claimed)
    # When the claimed skip's final write fails once
    drive(stack, 10)
    drive(stack, 700, step=10)  # the failed message comes back (the receive's 600-s visibility) and is worked again
    assert fault.fired
    # Then the budget streaks' counts add up to the job's total, and the invariants hold. A throttled
    # occurrence held the job's slot until it came back 600 s later: the next ones were overlap skips,
    # so its own skip, worked after that overlap streak had opened, is a budget record of its own
    # (docs/history.md: streaks follow the order skips are worked in).
    skipped = [r for r in runs_of(job["id"]) if r.status == "skipped" and r.skipReason == "budget"]
    assert len(skipped) == (2 if (write, kind) == ("join", "throttle") else 1), [(r.id, r.error) for r in skipped]
    total = call(stack["client"], "GET", f"/api/jobs/{job['id']}").json_body["skipped"]["budget"]
    assert sum(shown(stack, r.id)["skippedCount"] for r in skipped) == total >= 1
    assert all(r.status in ("succeeded", "skipped") for r in runs_of(job["id"]))  # none left running
    check_quiet(request, stack["queue_url"])
