"""Run now with a payload, and replay (contract section 10), through the executor to the agent."""
from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib import runtime
from conftest import AGENT_ID, call, create_job, delivery, drive


def post(stack: dict[str, Any], path: str, body: Any = None) -> Any:
    return call(stack["client"], "POST", path, body)


def a_job(stack: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """A job far from its first occurrence (cron yearly), payload {"task": "research"}."""
    return create_job(stack, **{"schedule": "0 0 1 6 *", **overrides})


def test_run_now_with_a_payload_delivers_it_and_leaves_the_job_unchanged(stack: dict[str, Any]) -> None:
    job = a_job(stack)
    answer = post(stack, f"/api/jobs/{job['id']}/run", {"payload": {"task": "once", "n": 2}})
    run = json.loads(answer.body)
    assert answer.status_code == 202 and run["payload"] == {"task": "once", "n": 2} and run["replayOf"] is None
    drive(stack, 2)
    got = delivery(stack)
    assert (got["runId"], got["trigger"], got["payload"]) == (run["id"], "manual", {"task": "once", "n": 2})
    after = json.loads(call(stack["client"], "GET", f"/api/jobs/{job['id']}").body)
    assert (after["payload"], after["updatedAt"], after["nextRunAt"]) == (job["payload"], job["updatedAt"],
                                                                        job["nextRunAt"])
    done = json.loads(call(stack["client"], "GET", f"/api/runs/{run['id']}").body)
    assert (done["status"], done["payload"]) == ("succeeded", {"task": "once", "n": 2})


def test_run_now_without_a_body_delivers_the_jobs_payload_and_records_it(stack: dict[str, Any]) -> None:
    job = a_job(stack)
    run = json.loads(post(stack, f"/api/jobs/{job['id']}/run").body)
    drive(stack, 2)
    assert delivery(stack)["payload"] == {"task": "research"}
    assert runtime.run_service().get(run["id"])["payload"] == {"task": "research"}


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"payload": [1]}, 400, "payload"), ({"payload": None}, 400, "payload"), ({"other": 1}, 400, "other"),
    ([1], 400, "body"), ("null", 400, "body"), ({"payload": {"x": "y" * 70_000}}, 413, "payload"),
])
def test_a_bad_run_now_body_is_refused_and_starts_nothing(stack: dict[str, Any], body: Any, status: int,
                                                          field: str) -> None:
    job = a_job(stack)
    answer = post(stack, f"/api/jobs/{job['id']}/run", body)
    assert answer.status_code == status and json.loads(answer.body)["Message"].startswith(field)
    assert runtime.jobs().runs_of(job["id"], 10, None)[0] == []


def test_a_scheduled_run_records_the_payload_it_was_delivered(stack: dict[str, Any]) -> None:
    job = create_job(stack)  # one run at 00:00:05
    drive(stack, 8)
    (run,) = runtime.jobs().runs_of(job["id"], 10, None)[0]
    assert (run["trigger"], run["status"], run["payload"], run["replayOf"]) == \
        ("schedule", "succeeded", {"task": "research"}, None)
    assert delivery(stack)["payload"] == {"task": "research"}


def test_replay_delivers_the_originals_payload_with_trigger_replay(stack: dict[str, Any]) -> None:
    job = a_job(stack)
    original = json.loads(post(stack, f"/api/jobs/{job['id']}/run", {"payload": {"only": "this run"}}).body)
    drive(stack, 2)
    call(stack["client"], "PATCH", f"/api/jobs/{job['id']}", {"payload": {"task": "changed"}})
    answer = post(stack, f"/api/runs/{original['id']}/replay")
    replay = json.loads(answer.body)
    assert answer.status_code == 202
    assert (replay["trigger"], replay["replayOf"]) == ("replay", original["id"])
    assert replay["payload"] == {"only": "this run"}
    assert replay["id"] != original["id"] and replay["jobId"] == job["id"]
    drive(stack, 2)
    got = delivery(stack)
    assert (got["runId"], got["trigger"], got["payload"]) == (replay["id"], "replay", {"only": "this run"})
    assert got["callbackToken"] and got["callbackUrl"].endswith(f"/api/runs/{replay['id']}")
    done = runtime.run_service().get(replay["id"])
    assert (done["status"], done["replayOf"], done["payload"]) == ("succeeded", original["id"], {"only": "this run"})


def test_replay_of_a_scheduled_run_delivers_what_it_was_delivered(stack: dict[str, Any]) -> None:
    job = create_job(stack)
    drive(stack, 8)
    (scheduled,) = runtime.jobs().runs_of(job["id"], 10, None)[0]
    call(stack["client"], "PATCH", f"/api/jobs/{job['id']}", {"payload": {"task": "new"}})
    replay = json.loads(post(stack, f"/api/runs/{scheduled['id']}/replay").body)
    drive(stack, 2)
    assert (delivery(stack)["runId"], delivery(stack)["payload"]) == (replay["id"], {"task": "research"})


def test_replay_of_an_unknown_run_is_404(stack: dict[str, Any]) -> None:
    for run_id in ("run-0000000000000-0123456789abcdef", "nothing"):
        answer = post(stack, f"/api/runs/{run_id}/replay")
        assert answer.status_code == 404 and json.loads(answer.body)["Code"] == "NotFoundError"


def test_replay_obeys_overlap_skip_like_a_run_now(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(202, body="working")  # the first run stays in progress
    job = a_job(stack)
    first = json.loads(post(stack, f"/api/jobs/{job['id']}/run").body)
    drive(stack, 2)
    answer = post(stack, f"/api/runs/{first['id']}/replay")
    assert answer.status_code == 409 and first["id"] in json.loads(answer.body)["Message"]


def test_a_replay_run_survives_its_claim_and_a_retry(stack: dict[str, Any]) -> None:
    # The claim rewrites the run item whole: the replay's payload and replayOf must come through it,
    # and through the retry of a failed attempt.
    stack["agent"].respond_with(503, body="busy")
    job = a_job(stack, retryPolicy={"maxAttempts": 2, "initialDelayMs": 1000, "maxDelayMs": 1000,
                                    "multiplier": 1, "jitter": False})
    original = json.loads(post(stack, f"/api/jobs/{job['id']}/run", {"payload": {"p": 1}}).body)
    drive(stack, 4)
    replay = json.loads(post(stack, f"/api/runs/{original['id']}/replay").body)
    drive(stack, 4)
    attempts = [r.json() for r in stack["agent"].requests if r.json()["runId"] == replay["id"]]
    assert [(a["attempt"], a["payload"], a["trigger"]) for a in attempts] == [(1, {"p": 1}, "replay"),
                                                                             (2, {"p": 1}, "replay")]
    done = runtime.run_service().get(replay["id"])
    assert (done["status"], done["replayOf"], done["payload"]) == ("failed", original["id"], {"p": 1})


def test_a_scoped_token_replays_only_its_agents_runs(stack: dict[str, Any], configure: Any, agent: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    job = a_job(stack)
    run = json.loads(post(stack, f"/api/jobs/{job['id']}/run").body)
    other = "22222222-2222-4222-8222-222222222222"
    monkeypatch.setenv("AGENTOS_API_TOKENS", f"mine-token-0123456789:{AGENT_ID},theirs-token-0123456789:{other}")
    configure({"security": {"enabled": True}, "agents": {AGENT_ID: {"url": agent.url, "timeoutMs": 10_000}}})
    theirs = call(stack["client"], "POST", f"/api/runs/{run['id']}/replay", None,
                  {"Authorization": "Bearer theirs-token-0123456789"})
    mine = call(stack["client"], "POST", f"/api/runs/{run['id']}/replay", None,
                {"Authorization": "Bearer mine-token-0123456789"})
    assert (theirs.status_code, mine.status_code) == (404, 202)
