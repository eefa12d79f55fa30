"""End to end against ``make run`` (``scripts.devstack`` in a subprocess, tests/e2e_stack.py): the
run history of contract section 13 as a user sees it over HTTP.

* a retried run keeps its 3 attempts, each with its error;
* pause, resume and reschedule leave no skipped rows;
* 8 s of overlap skips make one record;
* a spent Tokyo-day budget is ``blocked`` until Tokyo midnight, and its skips, counted ahead when
  the job parks, show only as their time comes;
* an agent's spent budget skips claimed occurrences into one record too;
* occurrences missed while the stack was stopped (SIGSTOP) make one record;
* ``GET /api/runs`` lists them across jobs, filtered.
"""
from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from e2e_stack import Agent, LocalStack, iso_in, start_agents, write_config

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NAMES = ["retry", "pause", "overlap", "tokyo", "spender", "missed"]
LIMITS = {"spender": {"budget": {"maxTokensPerDay": 100}}}  # an agent's daily budget (UTC)


class Stack:
    """The shared stack and its agents."""

    def __init__(self, stack: LocalStack, agents: dict[str, Agent]) -> None:
        self.stack, self.agents = stack, agents

    def runs(self, job_id: str) -> list[dict[str, Any]]:
        """The job's runs, newest first (one page)."""
        answer = self.stack.call("GET", f"/jobs/{job_id}/runs?limit=1000")
        assert answer.status_code == 200, answer.text
        return list(answer.json())

    def job(self, job_id: str) -> dict[str, Any]:
        answer = self.stack.call("GET", f"/jobs/{job_id}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("e2e-history")
    agents = start_agents(NAMES)
    stack = LocalStack(home / "state", write_config(home, agents, LIMITS), home / "stack.log")
    try:
        yield Stack(stack.start(), agents)
        assert stack.stop(signal.SIGINT) == 0, stack.log_tail()
    finally:
        stack.kill()
        for agent in agents.values():
            agent.server.stop()


def name(test: str) -> str:
    return f"e2e-history-{test}-{time.time_ns()}"


def until(check: Any, timeout_s: float) -> Any:
    """Poll ``check()`` until it returns something truthy; AssertionError on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError("timed out")


def test_a_retried_run_keeps_3_attempts_with_each_error(shared: Stack) -> None:
    agent = shared.agents["retry"]
    agent.server.respond_with(503, 502, 200)
    job = shared.stack.create(name=name("retry"), agentId=agent.id, schedule=iso_in(2), payload={"r": 1},
                              retryPolicy={"maxAttempts": 3, "initialDelayMs": 500, "maxDelayMs": 1000,
                                           "multiplier": 1, "jitter": False})
    agent.wait_for(3, 20)
    run = until(lambda: next((r for r in shared.runs(job["id"]) if r["status"] == "succeeded"), None), 10)
    attempts = run["attempts"]
    assert [(a["attempt"], a["status"]) for a in attempts] == [(1, "failed"), (2, "failed"), (3, "succeeded")]
    assert "503" in attempts[0]["error"] and "502" in attempts[1]["error"] and attempts[2]["error"] is None
    assert all(a["durationMs"] is not None and a["durationMs"] >= 0 for a in attempts)
    listed = shared.stack.call("GET", f"/runs?jobId={job['id']}").json()
    assert [r["id"] for r in listed] == [run["id"]] and len(listed[0]["attempts"]) == 3


def test_pause_resume_and_reschedule_leave_no_skipped_rows(shared: Stack) -> None:
    agent = shared.agents["pause"]
    job = shared.stack.create(name=name("pause"), agentId=agent.id, interval=2000, payload={"p": 1})
    agent.wait_for(2, 10)
    assert shared.stack.call("PATCH", f"/jobs/{job['id']}", {"status": "paused"}).status_code == 200
    time.sleep(4)
    assert shared.stack.call("PATCH", f"/jobs/{job['id']}", {"status": "active"}).status_code == 200
    time.sleep(3)
    assert shared.stack.call("PATCH", f"/jobs/{job['id']}", {"schedule": "0 12 * * *"}).status_code == 200
    time.sleep(4)
    runs = shared.runs(job["id"])
    dropped = [r for r in runs if any(word in (r["error"] or "") for word in ("paused", "deleted", "rescheduled"))]
    assert runs and not dropped, [(r["status"], r["error"]) for r in runs]
    assert len([r for r in runs if r["status"] != "skipped"]) == len({d.json()["runId"] for d in agent.deliveries()})


def test_eight_seconds_of_overlap_skips_make_one_record(shared: Stack) -> None:
    agent = shared.agents["overlap"]
    agent.server.respond_with(202)  # accepted, never reported: every next occurrence overlaps
    job = shared.stack.create(name=name("overlap"), agentId=agent.id, interval=1000, payload={"o": 1},
                              timeoutMs=120_000)
    agent.wait_for(1, 10)
    time.sleep(8.5)
    runs = shared.runs(job["id"])
    skipped = [r for r in runs if r["status"] == "skipped"]
    assert len(skipped) == 1 and [r["status"] for r in runs].count("running") == 1, runs
    assert skipped[0]["skippedCount"] >= 7 and "overlap" in skipped[0]["error"]
    assert shared.job(job["id"])["skipped"]["overlap"] == skipped[0]["skippedCount"]
    assert shared.stack.call("PATCH", f"/jobs/{job['id']}", {"status": "paused"}).status_code == 200


def test_a_spent_tokyo_day_budget_is_blocked_until_tokyo_midnight(shared: Stack) -> None:
    agent = shared.agents["tokyo"]
    agent.server.respond_with(200, body='{"usage": {"inputTokens": 500}}')
    job = shared.stack.create(name=name("tokyo"), agentId=agent.id, interval=1000, payload={"t": 1},
                              timezone="Asia/Tokyo", budget={"maxTokensPerDay": 100})
    agent.wait_for(1, 10)
    blocked = until(lambda: shared.job(job["id"])["blocked"], 10)
    tokyo = datetime.now(ZoneInfo("Asia/Tokyo"))
    midnight = (tokyo + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert blocked["reason"] == "budget"
    assert blocked["until"] == midnight.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    time.sleep(3)
    skipped = [r for r in shared.runs(job["id"]) if r["status"] == "skipped"]
    assert len(skipped) == 1 and skipped[0]["skippedCount"] >= 2 and "budget" in skipped[0]["error"]
    # Parked until then (docs/history.md): its skips to midnight are counted in one write, and shown
    # only as their time comes, in the streak and in the job's total alike
    time.sleep(2)
    later = shared.runs(job["id"])
    (streak,) = [r for r in later if r["status"] == "skipped"]
    come = (datetime.now(UTC) - datetime.fromisoformat(job["createdAt"])).total_seconds()
    assert skipped[0]["skippedCount"] + 1 <= streak["skippedCount"] <= come + 1
    assert shared.job(job["id"])["skipped"]["budget"] in (streak["skippedCount"], streak["skippedCount"] + 1)
    failed_or_skipped = shared.stack.call("GET", f"/runs?status=skipped&agentId={agent.id}").json()
    assert [r["id"] for r in failed_or_skipped] == [skipped[0]["id"]]


def test_an_agents_spent_budget_makes_one_record(shared: Stack) -> None:
    agent = shared.agents["spender"]
    agent.server.respond_with(200, body='{"usage": {"inputTokens": 500}}')
    # (overlap allowed: an occurrence claimed ahead of its time would otherwise meet the first run
    # still in progress and be an overlap skip next to it)
    job = shared.stack.create(name=name("spender"), agentId=agent.id, interval=1000, payload={"s": 1},
                              overlap="allow")
    agent.wait_for(1, 10)
    blocked = until(lambda: shared.job(job["id"])["blocked"], 10)
    assert blocked["reason"] == "agentBudget"
    time.sleep(4)
    skipped = [r for r in shared.runs(job["id"]) if r["status"] == "skipped"]
    assert len(skipped) == 1 and skipped[0]["error"].startswith("budget: agent"), skipped
    assert skipped[0]["skippedCount"] >= 3 and skipped[0]["attempts"] == []
    assert shared.job(job["id"])["skipped"]["budget"] >= skipped[0]["skippedCount"]
    assert len(agent.server.requests) == 1
    assert shared.stack.call("PATCH", f"/jobs/{job['id']}", {"status": "paused"}).status_code == 200


def test_occurrences_missed_while_the_stack_was_stopped_make_one_record(shared: Stack) -> None:
    agent = shared.agents["missed"]
    job = shared.stack.create(name=name("missed"), agentId=agent.id, interval=1000, payload={"m": 1},
                              catchupWindowMs=2000, overlap="allow")
    agent.wait_for(2, 10)
    # When the stack (API, tick and executor; not its AWS) is stopped for 8 s, then goes on
    assert shared.stack.proc is not None
    os.kill(shared.stack.proc.pid, signal.SIGSTOP)
    try:
        time.sleep(8)
    finally:
        os.kill(shared.stack.proc.pid, signal.SIGCONT)
    ran = len(agent.server.requests)
    agent.wait_for(ran + 2, 15)
    # Then the occurrences it could not start within 2 s of their time are one record
    missed = until(lambda: [r for r in shared.runs(job["id"])
                            if r["status"] == "skipped" and (r["error"] or "").startswith("missed")], 10)
    time.sleep(1)
    missed = [r for r in shared.runs(job["id"]) if r["status"] == "skipped" and r["error"].startswith("missed")]
    assert len(missed) == 1 and missed[0]["skippedCount"] >= 4, missed
    assert shared.job(job["id"])["skipped"]["missed"] == missed[0]["skippedCount"]
    assert shared.stack.call("PATCH", f"/jobs/{job['id']}", {"status": "paused"}).status_code == 200
