"""Notifications against ``make run`` (contract section 13): a real local receiver gets them,
signed (checked with the receiver's own HMAC code); job.late fires once per lateness and again
only after a success. The stack ticks every 5 s here (AGENTOS_TICK_SECONDS) so the minute-long
expectation is what the test waits for, not the tick."""
from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.agent_server import AgentServer
from e2e_stack import Agent, LocalStack, start_agents, write_config

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
NOTIFY_SECRET = "e2e-notify-secret"
EVENTS = ["run.failed", "job.paused", "job.completed", "job.blocked", "job.late"]


class Setup:
    """The stack, its agent, and the receiver of every event."""

    def __init__(self, stack: LocalStack, agent: Agent, receiver: AgentServer) -> None:
        self.stack, self.agent, self.receiver = stack, agent, receiver

    def events(self, job_id: str) -> list[str]:
        """The events received for ``job_id``, in order."""
        return [r.json()["event"] for r in self.receiver.requests if r.json()["job"]["id"] == job_id]

    def wait_for(self, job_id: str, predicate: Any, timeout_s: float) -> list[str]:
        """Poll the received events of ``job_id`` until ``predicate(events)``; AssertionError on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate(self.events(job_id)):
                return self.events(job_id)
            time.sleep(0.5)
        raise AssertionError(f"events of {job_id}: {self.events(job_id)}\n{self.stack.log_tail(30)}")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    home = tmp_path_factory.mktemp("notify")
    agents = start_agents(["watched"])
    receiver = AgentServer(secret=NOTIFY_SECRET.encode(), path="/notify")
    receiver.__enter__()
    config = write_config(home, agents)
    data = json.loads(config.read_text())
    data["notifications"] = [{"url": receiver.url, "secretEnv": "E2E_NOTIFY_SECRET", "events": EVENTS}]
    config.write_text(json.dumps(data))
    stack = LocalStack(home / "state", config, home / "stack.log",
                       env={"AGENTOS_TICK_SECONDS": "5", "E2E_NOTIFY_SECRET": NOTIFY_SECRET})
    try:
        yield Setup(stack.start(), agents["watched"], receiver)
        assert stack.stop(signal.SIGINT) == 0, stack.log_tail()
    finally:
        stack.kill()
        receiver.stop()
        agents["watched"].server.stop()


def test_failed_runs_and_the_breaker_are_told_signed(setup: Setup) -> None:
    # Given an agent that fails every run, and a job paused by its breaker after 2 failures
    setup.agent.server.respond_with(500)
    job = setup.stack.create(name=f"breaks-{time.time_ns()}", agentId=setup.agent.id, interval=2000,
                             maxConsecutiveFailures=2, payload={})
    # Then the receiver gets run.failed twice and job.paused once (each its own message: in any
    # order), each signed with its secret
    events = setup.wait_for(job["id"], lambda e: "job.paused" in e and e.count("run.failed") >= 2, 30)
    time.sleep(3)  # nothing more comes: the breaker stopped the job
    assert sorted(setup.events(job["id"])) == ["job.paused", "run.failed", "run.failed"], events
    told = [r for r in setup.receiver.requests if r.json()["job"]["id"] == job["id"]]
    assert all(r.signature_valid for r in told)
    failed = told[0].json()
    assert failed["run"]["status"] == "failed" and failed["run"]["jobId"] == job["id"]
    assert failed["job"] == {"id": job["id"], "name": job["name"], "agentId": setup.agent.id}


def test_job_late_fires_once_per_lateness_and_again_only_after_a_success(setup: Setup) -> None:
    # Given a job every 5 s expected to succeed within a minute, whose agent fails
    setup.agent.server.respond_with(500)
    job = setup.stack.create(name=f"late-{time.time_ns()}", agentId=setup.agent.id, interval=5000,
                             expectSuccessWithinMs=60_000, payload={})
    started = time.monotonic()
    # When a minute passes without a success: job.late, once, within 90 s of the deadline
    setup.wait_for(job["id"], lambda e: "job.late" in e, 95)
    assert time.monotonic() - started >= 55
    time.sleep(12)  # two more ticks and runs, still failing: no second notification
    assert setup.events(job["id"]).count("job.late") == 1
    # And after one success, a new minute of failures tells it again
    setup.agent.server.respond_with(200, 500)
    setup.wait_for(job["id"], lambda e: e.count("job.late") == 2, 100)
    late = [r for r in setup.receiver.requests if r.json()["job"]["id"] == job["id"]
            and r.json()["event"] == "job.late"]
    assert all(r.signature_valid for r in late) and "no run has succeeded" in late[0].json()["message"]
