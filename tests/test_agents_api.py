"""GET /api/agents and /api/agents/{id} (contract section 13, "Agents"): limits, slots, waiting
runs, usage today, quota and jobs; never a URL path, a secret or a token; scoped tokens."""
from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.store.agents import AgentDirectory
from conftest import AGENT_ID, NO_JITTER, call, create_job, delivery, drive, report

OTHER = "6fa459ea-ee8a-3ca4-894e-db77e160355e"  # configured, no job
UNCONFIGURED = "16fd2706-8baf-433b-82eb-8c7fada847da"  # has a job, not configured


def agents(client: Any, token: str | None = None, path: str = "/api/agents") -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return call(client, "GET", path, headers=headers)


@pytest.fixture
def limited(stack: dict[str, Any], configure: Any) -> dict[str, Any]:
    """The stack's agent limited to one slot and 10 jobs (its quota counters make its item before
    any slot is taken); a second agent configured with a secret and a quota, and no job."""
    url = stack["agent"].url
    configure({"retryPolicy": NO_JITTER, "agents": {
        AGENT_ID: {"url": url + "?key=secret-in-query", "maxConcurrent": 1, "quota": {"maxJobs": 10}},
        OTHER: {"url": "https://agent.example:8443/hooks/abc", "secretEnv": "OTHER_SECRET",
                "quota": {"maxJobs": 10, "maxDepth": 1}}}})
    return stack


def test_an_agent_shows_its_limits_slots_line_usage_and_jobs(limited: dict[str, Any]) -> None:
    # Given two jobs of a one-slot agent that accepts its work: the first runs, the second waits
    limited["agent"].respond_with(202)
    create_job(limited, name="first")
    create_job(limited, name="second", schedule="2030-01-01T00:00:06Z")
    drive(limited, 8)
    # When an operator reads the agent
    answer = agents(limited["client"], path=f"/api/agents/{AGENT_ID}")
    assert answer.status_code == 200, answer.body
    view = json.loads(answer.body)
    # Then it shows what it is doing and what it may do
    assert view == {"id": AGENT_ID, "configured": True, "urlHost": view["urlHost"], "maxConcurrent": 1,
                    "running": 1, "queued": 1, "budget": None,
                    "usageToday": {"costUsd": 0.0, "tokens": 0},
                    "quota": {"maxJobs": 10, "minIntervalMs": None, "maxRunsPerDay": None, "maxDepth": 3},
                    "jobs": 2}
    assert view["urlHost"] == limited["agent"].url.split("/")[2]  # host:port, never the path or query
    # And once the first reports its cost, the day's usage (its jobs') counts it and the second runs
    report(limited, "complete", {"status": "succeeded", "usage": {"costUsd": 0.25, "inputTokens": 10}},
           delivery(limited, 0)["callbackToken"])
    drive(limited, 2)
    view = json.loads(agents(limited["client"], path=f"/api/agents/{AGENT_ID}").body)
    assert (view["running"], view["queued"], view["usageToday"]) == (1, 0, {"costUsd": 0.25, "tokens": 10})


def test_a_run_waiting_for_its_agents_slot_says_so(limited: dict[str, Any]) -> None:
    # Given a one-slot agent busy with an accepted run, and a second job's run due
    limited["agent"].respond_with(202)
    create_job(limited, name="holder")
    second = create_job(limited, name="waiter", schedule="2030-01-01T00:00:06Z")
    drive(limited, 8)
    # Then the waiting run says why it has not started
    [run] = json.loads(call(limited["client"], "GET", f"/api/jobs/{second['id']}/runs").body)
    assert (run["status"], run["waitingFor"]) == ("queued", {"agentId": AGENT_ID, "reason": "maxConcurrent"})


def test_a_budgeted_agent_shows_what_counts_against_its_budget(stack: dict[str, Any], configure: Any) -> None:
    configure({"retryPolicy": NO_JITTER, "agents": {AGENT_ID: {"url": stack["agent"].url,
                                                               "budget": {"maxTokensPerDay": 1000}}}})
    stack["agent"].respond_with(200, body=json.dumps({"usage": {"inputTokens": 120, "outputTokens": 30}}))
    create_job(stack, name="spender")
    drive(stack, 7)
    view = json.loads(agents(stack["client"], path=f"/api/agents/{AGENT_ID}").body)
    assert (view["budget"], view["usageToday"], view["running"]) == \
        ({"maxTokensPerDay": 1000}, {"costUsd": 0.0, "tokens": 150}, 0)


def test_the_list_holds_configured_agents_and_agents_with_jobs(limited: dict[str, Any]) -> None:
    create_job(limited, name="mine")
    create_job(limited, name="stray", agentId=UNCONFIGURED)
    listed = json.loads(agents(limited["client"]).body)
    assert [a["id"] for a in listed] == sorted([AGENT_ID, OTHER, UNCONFIGURED])
    by_id = {a["id"]: a for a in listed}
    assert (by_id[OTHER]["configured"], by_id[OTHER]["urlHost"], by_id[OTHER]["jobs"]) == \
        (True, "agent.example:8443", 0)
    assert (by_id[UNCONFIGURED]["configured"], by_id[UNCONFIGURED]["urlHost"], by_id[UNCONFIGURED]["jobs"]) == \
        (False, None, 1)
    assert by_id[OTHER]["quota"] == {"maxJobs": 10, "minIntervalMs": None, "maxRunsPerDay": None, "maxDepth": 1}
    assert by_id[UNCONFIGURED]["quota"]["maxDepth"] == 3  # the default lineage bound applies to every agent
    text = json.dumps(listed)
    assert "hooks" not in text and "secret" not in text.lower() and "OTHER_SECRET" not in text


def test_an_unknown_agent_is_404(limited: dict[str, Any]) -> None:
    for agent_id in (UNCONFIGURED, "not-a-uuid"):
        answer = agents(limited["client"], path=f"/api/agents/{agent_id}")
        assert answer.status_code == 404 and json.loads(answer.body)["Code"] == "NotFoundError"
    assert agents(limited["client"], path="/api/agents?x=1").status_code == 400


def test_a_scoped_token_sees_its_own_agents_only(limited: dict[str, Any], configure: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    create_job(limited, name="mine")
    monkeypatch.setenv("AGENTOS_API_TOKENS", f"admin-token,scoped-token:{AGENT_ID}")
    configure({"security": {"enabled": True}, "agents": {AGENT_ID: {"url": limited["agent"].url},
                                                          OTHER: {"url": "https://agent.example/x"}}})
    assert agents(limited["client"]).status_code == 401
    assert [a["id"] for a in json.loads(agents(limited["client"], "scoped-token").body)] == [AGENT_ID]
    assert agents(limited["client"], "scoped-token", f"/api/agents/{OTHER}").status_code == 404
    assert agents(limited["client"], "scoped-token", f"/api/agents/{AGENT_ID}").status_code == 200
    assert len(json.loads(agents(limited["client"], "admin-token").body)) == 2


def test_finding_the_agents_reads_one_key_per_agent_and_status(limited: dict[str, Any]) -> None:
    # Given 3 agents with 5 jobs each
    ids = [AGENT_ID, OTHER, UNCONFIGURED]
    for agent_id in ids:
        for index in range(5):
            create_job(limited, name=f"{agent_id[:4]}-{index}", agentId=agent_id)
    # Then the skip-scan finds them with one query per agent and status (plus an empty one per status)
    directory = AgentDirectory()
    calls: list[int] = []
    original = directory.model.listing.query

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("limit", 0))
        return original(*args, **kwargs)

    directory.model.listing.query = counted  # type: ignore[method-assign]
    try:
        assert directory.ids_with_jobs() == set(ids)
    finally:
        del directory.model.listing.query
    assert len(calls) == 4 * 1 + 3 and set(calls) == {1}  # only "active" has jobs: 3 hits + 1 empty per status
