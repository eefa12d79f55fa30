"""End to end (contract section 11): quotas and a run's follow-up job over HTTP, against
``python -m scripts.devstack`` in a subprocess (tests/e2e_stack.py)."""
from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from e2e_stack import Agent, LocalStack, iso_in, start_agents, write_config

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LIMITS = {"limited": {"quota": {"maxJobs": 3, "minIntervalMs": 60_000}}}
HOUR_MS = 3_600_000


class Stack:
    """The module's stack and its agents."""

    def __init__(self, stack: LocalStack, agents: dict[str, Agent]) -> None:
        self.stack = stack
        self.agents = agents


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One running stack with an agent under a quota and one without."""
    home: Path = tmp_path_factory.mktemp("e2e-admission")
    agents = start_agents(["limited", "free"])
    stack = LocalStack(home / "state", write_config(home, agents, LIMITS), home / "stack.log")
    try:
        yield Stack(stack.start(), agents)
        assert stack.stop(signal.SIGINT) == 0, stack.log_tail()
    finally:
        stack.kill()
        for agent in agents.values():
            agent.server.stop()


def body(agent: Agent, name: str, **fields: Any) -> dict[str, Any]:
    """A create body for ``agent`` (hourly unless told)."""
    return {"name": f"{name}-{time.time_ns()}", "agentId": agent.id, "interval": HOUR_MS, "payload": {}, **fields}


def test_eight_concurrent_creates_over_http_against_max_jobs_3_make_exactly_3(shared: Stack) -> None:
    limited = shared.agents["limited"]
    answers: list[requests.Response] = []
    barrier = threading.Barrier(8)

    def create(i: int) -> None:
        barrier.wait()
        answers.append(shared.stack.call("POST", "/jobs", body(limited, f"racer{i}")))

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] * 3 + [403] * 5, [a.text for a in answers]
    refusal = next(a.json() for a in answers if a.status_code == 403)
    assert refusal["Code"] == "QuotaExceededError" and "maxJobs" in refusal["Message"]
    listed = shared.stack.call("GET", f"/jobs?agentId={limited.id}").json()
    assert len(listed) == 3
    # a delete frees a slot, over HTTP too
    assert shared.stack.call("DELETE", f"/jobs/{listed[0]['id']}").status_code == 204
    assert shared.stack.call("POST", "/jobs", body(limited, "after-delete")).status_code == 201


def test_a_schedule_below_min_interval_is_403_over_http(shared: Stack) -> None:
    answer = shared.stack.call("POST", "/jobs", body(shared.agents["limited"], "fast", interval=1000))
    assert answer.status_code == 403, answer.text
    assert answer.json() == {"Code": "QuotaExceededError",
                             "Message": "quota minIntervalMs: the limit is 60000, this request would reach 1000"}


def test_a_delivered_callback_token_creates_a_follow_up_job_over_http(shared: Stack) -> None:
    free = shared.agents["free"]
    free.server.respond_with(202, body="working")
    parent = shared.stack.create(**body(free, "parent", interval=None, schedule=iso_in(1)))
    [delivery] = free.wait_for(1, 30)
    sent = json.loads(delivery.body)
    answer = requests.post(f"{shared.stack.base}/jobs", data=json.dumps(body(free, "follow-up")), timeout=10,
                           headers={"Authorization": f"Bearer {sent['callbackToken']}",
                                    "Content-Type": "application/json"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["origin"] == {"via": "run", "runId": sent["runId"], "depth": 1}
    assert parent["origin"]["via"] == "api"
    # the same token may not act for another agent
    other = requests.post(f"{shared.stack.base}/jobs", data=json.dumps(body(shared.agents["limited"], "x")),
                          timeout=10, headers={"Authorization": f"Bearer {sent['callbackToken']}"})
    assert other.status_code == 403 and other.json()["Code"] == "ForbiddenError"
