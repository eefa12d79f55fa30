"""Contract section 10 end to end, against the real local stack (``make run``'s processes):
jobs declared with PUT, Idempotency-Key under concurrency over HTTP, run now with a payload
and replay delivered to a signed agent."""
from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from e2e_stack import Agent, LocalStack, start_agents, write_config

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, Agent]]:
    """One running stack and one signed agent for the module; it stops cleanly on SIGINT."""
    home = tmp_path_factory.mktemp("e2e-section10")
    agents = start_agents(["declared"])
    stack = LocalStack(home / "state", write_config(home, agents), home / "stack.log")
    try:
        yield stack.start(), agents["declared"]
        assert stack.stop(signal.SIGINT) == 0, stack.log_tail()
    finally:
        stack.kill()
        agents["declared"].server.stop()


def send(stack: LocalStack, method: str, path: str, body: Any = None, key: str | None = None) -> requests.Response:
    headers = {"Content-Type": "application/json", **({"Idempotency-Key": key} if key else {})}
    return requests.request(method, f"{stack.base}{path}", json=body, headers=headers, timeout=30)


def test_declaring_a_job_twice_creates_it_then_changes_nothing(env: tuple[LocalStack, Agent]) -> None:
    stack, agent = env
    name = f"e2e declared/{time.time_ns()}"
    body = {"agentId": agent.id, "interval": 3_600_000, "payload": {"report": "daily"}}
    first = send(stack, "PUT", f"/jobs/by-name/{quote(name, safe='')}", body)
    assert first.status_code == 201, first.text
    assert first.headers["Location"].endswith(f"/api/jobs/{first.json()['id']}")
    time.sleep(1.1)  # a write now would show a later updatedAt
    second = send(stack, "PUT", f"/jobs/by-name/{quote(name, safe='')}", body)
    assert second.status_code == 200, second.text
    assert second.json() == first.json()  # updatedAt and nextRunAt included
    changed = send(stack, "PUT", f"/jobs/by-name/{quote(name, safe='')}", {**body, "payload": {"report": "weekly"}})
    assert changed.status_code == 200 and changed.json()["updatedAt"] > first.json()["updatedAt"]
    send(stack, "DELETE", f"/jobs/{first.json()['id']}")


def test_eight_concurrent_creates_with_one_key_make_one_job(env: tuple[LocalStack, Agent]) -> None:
    stack, agent = env
    name, key = f"e2e-idempotent-{time.time_ns()}", f"key-{time.time_ns()}"
    body = {"name": name, "agentId": agent.id, "schedule": "0 0 1 1 *", "payload": {"n": 1}}
    answers: list[requests.Response] = []
    barrier = threading.Barrier(8)

    def create() -> None:
        barrier.wait()
        answers.append(send(stack, "POST", "/jobs", body, key))
    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [201] * 8, [a.text for a in answers]
    assert len({a.text for a in answers}) == 1 and len({a.headers["Location"] for a in answers}) == 1
    listed = [j for j in send(stack, "GET", f"/jobs?agentId={agent.id}&limit=1000").json() if j["name"] == name]
    assert len(listed) == 1
    other = send(stack, "POST", "/jobs", {**body, "payload": {"n": 2}}, key)
    assert other.status_code == 409 and "Idempotency-Key" in other.json()["Message"]
    send(stack, "DELETE", f"/jobs/{listed[0]['id']}")


def test_a_run_now_payload_and_its_replay_reach_the_agent(env: tuple[LocalStack, Agent]) -> None:
    stack, agent = env
    job = stack.create(name=f"e2e-replay-{time.time_ns()}", agentId=agent.id, schedule="0 0 1 1 *",
                       payload={"task": "usual"})
    before = len(agent.deliveries())
    run = send(stack, "POST", f"/jobs/{job['id']}/run", {"payload": {"task": "special"}}, "run-key")
    again = send(stack, "POST", f"/jobs/{job['id']}/run", {"payload": {"task": "special"}}, "run-key")
    assert run.status_code == again.status_code == 202 and again.json() == run.json()
    got = agent.wait_for(before + 1, 10.0)[-1].json()
    assert (got["runId"], got["trigger"], got["payload"]) == (run.json()["id"], "manual", {"task": "special"})
    replay = send(stack, "POST", f"/runs/{run.json()['id']}/replay", None, "replay-key")
    assert replay.status_code == 202, replay.text
    assert (replay.json()["trigger"], replay.json()["replayOf"]) == ("replay", run.json()["id"])
    got = agent.wait_for(before + 2, 10.0)[-1]
    assert got.signature_valid
    assert (got.json()["runId"], got.json()["trigger"], got.json()["payload"]) == \
        (replay.json()["id"], "replay", {"task": "special"})
    time.sleep(1.0)
    assert len(agent.deliveries()) == before + 2  # one run each: the repeated requests started nothing
    assert send(stack, "GET", f"/jobs/{job['id']}").json()["payload"] == {"task": "usual"}
    send(stack, "DELETE", f"/jobs/{job['id']}")


def test_the_stack_log_has_no_traceback(env: tuple[LocalStack, Agent]) -> None:
    stack, _ = env
    assert "Traceback" not in Path(stack.log_path).read_text(errors="replace"), stack.log_tail()
