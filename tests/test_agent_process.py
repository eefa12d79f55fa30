"""The bench's test agent in its own process (devtools/agent_process.py): it records what it
receives and hands it back, and answers after the delay it is told."""
from __future__ import annotations

import time

import requests

from devtools.agent_process import AgentProcess


def test_the_agent_process_records_requests_and_answers_after_its_delay() -> None:
    with AgentProcess() as agent:
        # Given an agent in its own process
        assert agent.url.startswith("http://127.0.0.1:")
        # When two deliveries arrive, the second after the agent was told to wait 0.5 s
        first = requests.post(agent.url, json={"jobId": "job-1"}, timeout=5)
        agent.answer_after(0.5)
        started = time.perf_counter()
        second = requests.post(agent.url, json={"jobId": "job-2"}, timeout=5)
        waited = time.perf_counter() - started
        # Then both are answered 200, the second one after its delay, and both are handed back in order
        assert (first.status_code, second.status_code) == (200, 200)
        assert waited >= 0.5
        assert [r.json()["jobId"] for r in agent.requests] == ["job-1", "job-2"]
        assert agent.requests[0].received_at <= agent.requests[1].received_at


def test_a_stopped_agent_process_is_gone() -> None:
    agent = AgentProcess().__enter__()
    url = agent.url
    agent.stop()
    try:
        requests.post(url, json={}, timeout=2)
        reached = True
    except requests.ConnectionError:
        reached = False
    assert not reached
