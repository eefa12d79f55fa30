"""job.late (contract section 13): told once per lateness, again only after a success; counted
from the last success, or from when the expectation was set (or the job resumed); O(late jobs)."""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import handlers, runtime
from chalicelib.store.models import JobModel
from conftest import AGENT_ID, call, create_job, drive
from devtools.agent_server import AgentServer

MINUTE_MS = 60_000


@pytest.fixture
def late_receiver(stack: dict[str, Any], configure: Any) -> Iterator[AgentServer]:
    """The stack's agent, and a receiver of job.late."""
    with AgentServer(path="/late") as server:
        configure({"agents": {AGENT_ID: {"url": stack["agent"].url}},
                   "notifications": [{"url": server.url, "events": ["job.late"]}]})
        yield server


def minutes(stack: dict[str, Any], count: int) -> None:
    """Let ``count`` minutes pass, the tick running each minute as EventBridge would."""
    for _ in range(count):
        handlers._tick()
        drive(stack, 60, step=5)


def lates(server: AgentServer) -> list[str]:
    return [r.json()["job"]["name"] for r in server.requests if r.json()["event"] == "job.late"]


def test_a_job_that_never_succeeds_is_told_late_once(stack: dict[str, Any], late_receiver: AgentServer) -> None:
    # Given a job every 20 s expected to succeed within a minute, whose agent always fails
    stack["agent"].respond_with(500)
    job = create_job(stack, name="silent", schedule=None, interval=20_000, expectSuccessWithinMs=MINUTE_MS)
    assert job["expectSuccessWithinMs"] == MINUTE_MS
    # When 4 minutes pass
    minutes(stack, 4)
    # Then it was told late once, within 90 s of its deadline, and not again while it stays late
    assert lates(late_receiver) == ["silent"]
    told = late_receiver.requests[0].json()
    assert "no run has succeeded for 1 minutes" in told["message"] and told["job"]["id"] == job["id"]
    assert JobModel.get(job["id"]).lateAt is None


def test_a_success_arms_it_again(stack: dict[str, Any], late_receiver: AgentServer) -> None:
    stack["agent"].respond_with(500)
    create_job(stack, name="flaky", schedule=None, interval=20_000, expectSuccessWithinMs=MINUTE_MS)
    minutes(stack, 2)
    assert lates(late_receiver) == ["flaky"]
    # When a run succeeds, then fails again for over a minute
    stack["agent"].respond_with(200)
    minutes(stack, 1)
    stack["agent"].respond_with(500)
    minutes(stack, 3)
    # Then it is told a second time
    assert lates(late_receiver) == ["flaky", "flaky"]


def test_a_job_that_keeps_succeeding_is_never_late(stack: dict[str, Any], late_receiver: AgentServer) -> None:
    job = create_job(stack, name="healthy", schedule=None, interval=20_000, expectSuccessWithinMs=MINUTE_MS)
    minutes(stack, 4)
    assert lates(late_receiver) == []
    assert JobModel.get(job["id"]).lateAt is not None  # armed: each success moves it on


def test_a_paused_job_is_not_late_and_resuming_counts_from_then(stack: dict[str, Any],
                                                                late_receiver: AgentServer) -> None:
    stack["agent"].respond_with(500)
    job = create_job(stack, name="paused", schedule=None, interval=20_000, expectSuccessWithinMs=MINUTE_MS)
    call(stack["client"], "PATCH", f"/api/jobs/{job['id']}", {"status": "paused"})
    minutes(stack, 3)
    assert lates(late_receiver) == []
    call(stack["client"], "PATCH", f"/api/jobs/{job['id']}", {"status": "active"})
    minutes(stack, 3)
    assert lates(late_receiver) == ["paused"]


def test_the_expectation_is_set_and_removed_by_patch(stack: dict[str, Any], late_receiver: AgentServer) -> None:
    stack["agent"].respond_with(500)
    job = create_job(stack, name="patched", schedule=None, interval=20_000)
    answer = call(stack["client"], "PATCH", f"/api/jobs/{job['id']}", {"expectSuccessWithinMs": MINUTE_MS})
    assert json.loads(answer.body)["expectSuccessWithinMs"] == MINUTE_MS
    call(stack["client"], "PATCH", f"/api/jobs/{job['id']}", {"expectSuccessWithinMs": None})
    minutes(stack, 3)
    assert lates(late_receiver) == [] and JobModel.get(job["id"]).lateAt is None
    assert call(stack["client"], "PATCH", f"/api/jobs/{job['id']}",
                {"expectSuccessWithinMs": 59_999}).status_code == 400  # at least a minute


def test_without_a_receiver_the_tick_makes_no_pass(stack: dict[str, Any]) -> None:
    create_job(stack, name="unwatched", schedule=None, interval=20_000, expectSuccessWithinMs=MINUTE_MS)
    assert runtime.late_watch() is None
