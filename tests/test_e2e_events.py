"""A job's history against ``make run`` (the local stack as a subprocess; contract section 13):
every change with its actor and changes, the system's own actions (the breaker, maxRuns), and a
deleted job's history still readable while the job answers 404."""
from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e_stack import Agent, LocalStack, start_agents, write_config

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NO_RETRY = {"maxAttempts": 1, "initialDelayMs": 1000, "maxDelayMs": 1000, "multiplier": 1, "jitter": False}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, dict[str, Agent]]]:
    """One local stack and two agents (one that succeeds, one that always fails)."""
    home: Path = tmp_path_factory.mktemp("e2e-events")
    agents = start_agents(["ok", "failing"])
    agents["failing"].server.respond_with(500)
    stack = LocalStack(home / "state", write_config(home, agents), home / "stack.log")
    try:
        yield stack.start(), agents
        assert stack.stop(signal.SIGINT) == 0, stack.log_tail()
    finally:
        stack.kill()
        for agent in agents.values():
            agent.server.stop()


def history(stack: LocalStack, job_id: str, until: Any = None, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """GET /jobs/{id}/events (polled until ``until(events)`` holds, if given)."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = stack.call("GET", f"/jobs/{job_id}/events")
        assert answer.status_code == 200, answer.text
        events: list[dict[str, Any]] = answer.json()
        if until is None or until(events) or time.monotonic() > deadline:
            return events
        time.sleep(0.3)


def test_a_jobs_history_against_the_local_stack(running: tuple[LocalStack, dict[str, Agent]]) -> None:
    stack, agents = running
    # changes by a caller: created, updated (schedule), paused, resumed, run-requested, then deleted
    job = stack.create(name=f"e2e-events-{time.time_ns()}", agentId=agents["ok"].id, schedule="0 2 * * *",
                       payload={"e": 1})
    path = f"/jobs/{job['id']}"
    assert stack.call("PATCH", path, {"schedule": "0 3 * * *"}).status_code == 200
    assert stack.call("PATCH", path, {"status": "paused"}).status_code == 200
    assert stack.call("PATCH", path, {"status": "active"}).status_code == 200
    assert stack.call("POST", f"{path}/run").status_code == 202
    assert stack.call("DELETE", path).status_code == 204
    assert stack.call("GET", path).status_code == 404
    events = history(stack, job["id"])
    assert [e["action"] for e in events] == ["deleted", "run-requested", "resumed", "paused", "updated", "created"]
    assert {e["actor"]["kind"] for e in events} == {"token"} and {e["actor"]["id"] for e in events} == {"local"}
    assert events[4]["changes"] == {"schedule": ["0 2 * * *", "0 3 * * *"]}
    # the system's: maxRuns completes a job, the breaker pauses one
    done = stack.create(name=f"e2e-max-runs-{time.time_ns()}", agentId=agents["ok"].id, interval=1000, maxRuns=2,
                        payload={})
    ended = history(stack, done["id"], lambda found: found[0]["action"] == "completed")
    assert (ended[0]["actor"], ended[0]["changes"]) == ({"kind": "system", "id": "maxRuns"},
                                                        {"status": ["active", "completed"]})
    broken = stack.create(name=f"e2e-breaker-{time.time_ns()}", agentId=agents["failing"].id, interval=1000,
                          maxConsecutiveFailures=2, retryPolicy=NO_RETRY, payload={})
    paused = history(stack, broken["id"], lambda found: found[0]["action"] == "paused")
    assert paused[0]["actor"] == {"kind": "system", "id": "breaker"}
    assert paused[0]["changes"]["status"] == ["active", "paused"] and "2 consecutive" in paused[0]["reason"]
    stack.call("DELETE", f"/jobs/{broken['id']}")
