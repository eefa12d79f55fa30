"""Continuity (contract section 12): each run knows what the last one did.

A delivery carries the job's ``state`` and ``lastSuccess``; a 2xx answer's top-level ``state`` or
a ``complete`` with ``succeeded`` saves the state, in the write that records the success; PATCH
may set it; in-process actions and callbacks get and save it the same way. On moto, the HTTP
agent and SQS on the fake clock (tests/conftest.py's ``stack``).
"""
from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib import runtime
from chalicelib.clock import iso, now_ms
from chalicelib.defaults import STATE_MAX_BYTES
from chalicelib.engine import actions
from chalicelib.store.models import JobModel, RunModel
from conftest import NO_JITTER, call, create_job, delivery, drive, pump, record_job, report

EVERY_10_S = {"schedule": None, "interval": 10_000}


def job_view(stack: dict[str, Any], job_id: str) -> dict[str, Any]:
    """The job as GET /api/jobs/{id} shows it."""
    answer = call(stack["client"], "GET", f"/api/jobs/{job_id}")
    assert answer.status_code == 200, answer.body
    return dict(json.loads(answer.body))


def run_view(stack: dict[str, Any], run_id: str) -> dict[str, Any]:
    """The run as GET /api/runs/{id} shows it."""
    return dict(json.loads(call(stack["client"], "GET", f"/api/runs/{run_id}").body))


def patch(stack: dict[str, Any], job_id: str, body: dict[str, Any]) -> Any:
    """PATCH /api/jobs/{id}."""
    return call(stack["client"], "PATCH", f"/api/jobs/{job_id}", body)


# --- state and lastSuccess from a 2xx answer -------------------------------------------------------

def test_a_state_answered_at_once_reaches_the_next_delivery_with_last_success(stack: dict[str, Any]) -> None:
    # Given an agent that answers 200 with an output and a state
    stack["agent"].respond_with(200, body=json.dumps({"posted": 2, "state": {"n": 1, "seen": ["a", "b"]}}))
    job = create_job(stack, name="trends", **EVERY_10_S)
    # When the job's first occurrence runs, then its second
    drive(stack, 21)
    first, second = delivery(stack, 0), delivery(stack, 1)
    # Then the first delivery had no memory, and the second carries the state and the first's success
    assert (first["state"], first["lastSuccess"]) == (None, None)
    assert second["state"] == {"n": 1, "seen": ["a", "b"]}
    done = run_view(stack, first["runId"])
    assert second["lastSuccess"] == {"runId": first["runId"], "scheduledAt": first["scheduledAt"],
                                     "finishedAt": done["finishedAt"], "output": {"posted": 2}}
    # And the run's output is what it produced, without the state (the job keeps that)
    assert done["output"] == {"posted": 2}
    view = job_view(stack, job["id"])
    assert view["state"] == {"n": 1, "seen": ["a", "b"]}
    assert view["lastSuccessAt"] == run_view(stack, second["runId"])["finishedAt"]


def test_an_answer_without_state_keeps_the_state_and_moves_last_success(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(200, body=json.dumps({"state": {"cursor": 7}}))
    job = create_job(stack, name="cursor", **EVERY_10_S)
    drive(stack, 11)
    # When the next run answers without a state key
    stack["agent"].respond_with(200, body=json.dumps({"nothing": "new"}))
    drive(stack, 20)
    # Then the state stays, lastSuccess names the latest run, and its output is kept whole
    third = delivery(stack, 2)
    assert third["state"] == {"cursor": 7}
    assert third["lastSuccess"]["runId"] == delivery(stack, 1)["runId"]
    assert third["lastSuccess"]["output"] == {"nothing": "new"}
    assert run_view(stack, delivery(stack, 0)["runId"])["output"] == {}
    assert job_view(stack, job["id"])["state"] == {"cursor": 7}


def test_an_answer_with_a_null_state_clears_it(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(200, body=json.dumps({"state": [1, 2, 3]}))
    job = create_job(stack, name="clears", **EVERY_10_S)
    drive(stack, 11)
    assert job_view(stack, job["id"])["state"] == [1, 2, 3]
    stack["agent"].respond_with(200, body=json.dumps({"state": None, "reset": True}))
    drive(stack, 20)
    assert delivery(stack, 2)["state"] is None and job_view(stack, job["id"])["state"] is None


def test_a_state_beside_a_large_output_is_still_read(stack: dict[str, Any]) -> None:
    # Given an answer of 40 KiB: a 30 KiB output and a 10 KiB state (over the output's 32 KiB together)
    body = {"report": "r" * 30_000, "state": {"blob": "s" * 10_000}}
    stack["agent"].respond_with(200, body=json.dumps(body))
    job = create_job(stack, name="large")
    drive(stack, 6)
    # Then the state is saved and the output, without it, is kept whole
    run = run_view(stack, delivery(stack)["runId"])
    assert run["status"] == "succeeded" and run["output"] == {"report": "r" * 30_000}
    assert job_view(stack, job["id"])["state"] == {"blob": "s" * 10_000}


def test_an_output_over_32_kib_is_still_marked_truncated_and_its_state_saved(stack: dict[str, Any]) -> None:
    body = {"report": "r" * 40_000, "state": {"n": 1}}
    stack["agent"].respond_with(200, body=json.dumps(body))
    job = create_job(stack, name="truncated")
    drive(stack, 6)
    output = run_view(stack, delivery(stack)["runId"])["output"]
    assert output == {"truncated": True, "bytes": len(json.dumps({"report": "r" * 40_000}, separators=(",", ":")))}
    assert job_view(stack, job["id"])["state"] == {"n": 1}
    assert json.loads(JobModel.get(job["id"]).lastSuccess)["output"] == output


def test_a_state_over_16_kib_fails_the_run_without_retry_and_changes_nothing(stack: dict[str, Any]) -> None:
    # Given a job whose state was set, and an agent that answers a state of 16 KiB + 1 as JSON
    job = create_job(stack, name="too-large", retryPolicy=NO_JITTER)
    assert patch(stack, job["id"], {"state": {"kept": True}}).status_code == 200
    too_large = "x" * (STATE_MAX_BYTES - 1)  # with its quotes: STATE_MAX_BYTES + 1 bytes
    stack["agent"].respond_with(200, body=json.dumps({"done": True, "state": too_large}))
    drive(stack, 30)
    # Then the run failed, its error names the state, it was not retried, and nothing was saved
    [sent] = stack["agent"].requests
    run = run_view(stack, sent.json()["runId"])
    assert run["status"] == "failed" and run["attempt"] == 1, run
    assert "state" in run["error"] and str(STATE_MAX_BYTES) in run["error"], run["error"]
    view = job_view(stack, job["id"])
    assert (view["state"], view["lastSuccessAt"]) == ({"kept": True}, None)


# --- state from complete, and runs that do not succeed ----------------------------------------------

def test_a_state_reported_with_complete_is_saved_and_lifted_out_of_the_output(stack: dict[str, Any]) -> None:
    # Given an accepted run, reported as the kits report a returned {"sent": 3, "state": ...}
    stack["agent"].respond_with(202)
    job = create_job(stack, name="complete-state")
    drive(stack, 6)
    sent = delivery(stack)
    body = {"status": "succeeded", "output": {"sent": 3, "state": {"cursor": 42}}, "state": {"cursor": 42}}
    answer = report(stack, "complete", body, sent["callbackToken"])
    # Then the run's output is what it produced, and the job keeps the state
    assert answer.status_code == 200, answer.body
    run = json.loads(answer.body)
    assert (run["status"], run["output"]) == ("succeeded", {"sent": 3})
    view = job_view(stack, job["id"])
    assert view["state"] == {"cursor": 42} and view["lastSuccessAt"] == run["finishedAt"]
    stored = json.loads(JobModel.get(job["id"]).lastSuccess)
    assert stored == {"runId": sent["runId"], "scheduledAt": sent["scheduledAt"], "finishedAt": run["finishedAt"],
                      "output": {"sent": 3}}
    # And the same report again is a 200 that changes nothing
    assert report(stack, "complete", body, sent["callbackToken"]).status_code == 200


def test_a_state_over_16_kib_on_complete_is_413_and_the_run_goes_on(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(202)
    job = create_job(stack, name="complete-413")
    drive(stack, 6)
    sent = delivery(stack)
    body = {"status": "succeeded", "state": {"blob": "x" * STATE_MAX_BYTES}}
    answer = report(stack, "complete", body, sent["callbackToken"])
    assert answer.status_code == 413 and "state" in json.loads(answer.body)["Message"], answer.body
    assert run_view(stack, sent["runId"])["status"] == "running"
    assert job_view(stack, job["id"])["state"] is None


def test_a_failed_report_never_saves_its_state(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(202)
    job = create_job(stack, name="failed-report")
    assert patch(stack, job["id"], {"state": "before"}).status_code == 200
    drive(stack, 6)
    sent = delivery(stack)
    body = {"status": "failed", "error": "no luck", "retryable": False, "state": "from a failed run"}
    assert report(stack, "complete", body, sent["callbackToken"]).status_code == 200
    assert run_view(stack, sent["runId"])["status"] == "failed"
    view = job_view(stack, job["id"])
    assert (view["state"], view["lastSuccessAt"]) == ("before", None)


def test_a_timed_out_run_never_saves_a_state_even_reported_late(stack: dict[str, Any]) -> None:
    # Given an accepted run that stays silent past its timeout
    stack["agent"].respond_with(202)
    job = create_job(stack, name="timed-out", timeoutMs=60_000, retryPolicy={**NO_JITTER, "maxAttempts": 1})
    assert patch(stack, job["id"], {"state": {"v": 1}}).status_code == 200
    drive(stack, 70)
    sent = delivery(stack)
    assert run_view(stack, sent["runId"])["status"] == "failed"
    # When its late report claims success with a state
    late = report(stack, "complete", {"status": "succeeded", "state": {"v": 2}}, sent["callbackToken"])
    # Then the report is refused and the state is the one before
    assert late.status_code == 409, late.body
    assert job_view(stack, job["id"])["state"] == {"v": 1}


def test_a_cancelled_run_never_saves_a_state_even_reported_succeeded(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(202)
    job = create_job(stack, name="cancelled")
    assert patch(stack, job["id"], {"state": {"v": 1}}).status_code == 200
    drive(stack, 6)
    sent = delivery(stack)
    assert call(stack["client"], "POST", f"/api/runs/{sent['runId']}/cancel").status_code == 202
    # When the agent reports success with a state after the cancel
    answer = report(stack, "complete", {"status": "succeeded", "state": {"v": 2}}, sent["callbackToken"])
    # Then the run ended cancelled, and neither the state nor lastSuccess moved
    assert answer.status_code == 200 and json.loads(answer.body)["status"] == "cancelled"
    view = job_view(stack, job["id"])
    assert (view["state"], view["lastSuccessAt"]) == ({"v": 1}, None)


# --- PATCH ---------------------------------------------------------------------------------------

def test_patch_sets_the_state_and_null_starts_over(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(200, body=json.dumps({"state": {"n": 1}}))
    job = create_job(stack, name="reset", **EVERY_10_S)
    drive(stack, 11)
    assert job_view(stack, job["id"])["state"] == {"n": 1}
    # When the user starts over
    answer = patch(stack, job["id"], {"state": None})
    assert answer.status_code == 200 and json.loads(answer.body)["state"] is None
    stack["agent"].respond_with(200, body=json.dumps({"ok": True}))
    drive(stack, 10)
    # Then the next delivery has no state, but still knows the last success
    nxt = delivery(stack)
    assert nxt["state"] is None and nxt["lastSuccess"]["runId"] == delivery(stack, 0)["runId"]
    # And a state set by PATCH is delivered as set; PATCH past 16 KiB is a 413 that changes nothing
    assert json.loads(patch(stack, job["id"], {"state": {"n": 100}}).body)["state"] == {"n": 100}
    refused = patch(stack, job["id"], {"state": "x" * STATE_MAX_BYTES})
    assert refused.status_code == 413 and "state" in json.loads(refused.body)["Message"]
    drive(stack, 10)
    assert delivery(stack)["state"] == {"n": 100}


def test_a_new_job_has_no_state_and_no_last_success(stack: dict[str, Any]) -> None:
    view = job_view(stack, create_job(stack, name="fresh")["id"])
    assert (view["state"], view["lastSuccessAt"]) == (None, None)
    created = call(stack["client"], "POST", "/api/jobs", record_job(name="with-state", state={"n": 1}))
    assert created.status_code == 400 and "state" in json.loads(created.body)["Message"]


# --- replays and retries --------------------------------------------------------------------------

def test_a_retry_and_a_replay_get_the_last_success_as_of_their_delivery(stack: dict[str, Any]) -> None:
    # Given a first run that saved a state, then a run whose first attempt fails
    stack["agent"].respond_with(200, body=json.dumps({"state": {"n": 1}, "out": 1}))
    job = create_job(stack, name="replayed", retryPolicy=NO_JITTER, **EVERY_10_S)
    drive(stack, 11)
    first = delivery(stack)
    stack["agent"].respond_with(503, 200, body=json.dumps({"state": {"n": 2}, "out": 2}))
    drive(stack, 10)
    failed_attempt, retried = delivery(stack, 1), delivery(stack, 2)
    # Then the retry (same run) got what the first attempt got: the first run's success
    assert retried["runId"] == failed_attempt["runId"] and retried["attempt"] == 2
    assert retried["state"] == failed_attempt["state"] == {"n": 1}
    assert retried["lastSuccess"]["runId"] == first["runId"]
    # When the first run is replayed
    assert patch(stack, job["id"], {"status": "paused"}).status_code == 200
    count = len(stack["agent"].requests)
    replay = call(stack["client"], "POST", f"/api/runs/{first['runId']}/replay")
    assert replay.status_code == 202, replay.body
    drive(stack, 3)
    # Then the replay carries the job's latest success and state, not those of the run it replays
    [replayed] = [r.json() for r in stack["agent"].requests[count:]]
    assert replayed["lastSuccess"]["runId"] == retried["runId"] and replayed["state"] == {"n": 2}


# --- two successes recorded out of order -------------------------------------------------------------

def accepted_pair(stack: dict[str, Any], name: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Two accepted runs of one ``allow`` job, both running: their deliveries and the job id."""
    stack["agent"].respond_with(202)
    job = create_job(stack, name=name, overlap="allow")
    runs = [call(stack["client"], "POST", f"/api/jobs/{job['id']}/run") for _ in range(2)]
    assert [r.status_code for r in runs] == [202, 202]
    drive(stack, 2)
    first, second = delivery(stack, 0), delivery(stack, 1)
    return first, second, job["id"]


def complete(stack: dict[str, Any], sent: dict[str, Any], state: Any) -> dict[str, Any]:
    """Report ``sent``'s run succeeded with ``state``; its run view."""
    body = {"status": "succeeded", "output": {"by": sent["runId"]}, "state": state}
    answer = call(stack["client"], "POST", f"/api/runs/{sent['runId']}/complete", body,
                  {"Authorization": f"Bearer {sent['callbackToken']}"})
    assert answer.status_code == 200, answer.body
    return dict(json.loads(answer.body))


def test_of_two_successes_the_later_finish_wins_the_state(stack: dict[str, Any]) -> None:
    first, second, job_id = accepted_pair(stack, "two-in-order")
    complete(stack, second, "second")
    stack["clock"].advance(1)
    done = complete(stack, first, "first")
    view = job_view(stack, job_id)
    assert (view["state"], view["lastSuccessAt"]) == ("first", done["finishedAt"])
    assert json.loads(JobModel.get(job_id).lastSuccess)["runId"] == first["runId"]


def test_a_success_recorded_after_a_later_one_never_moves_the_job_back(stack: dict[str, Any],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # Given two running runs; the second finishes and is recorded first
    first, second, job_id = accepted_pair(stack, "two-out-of-order")
    later = complete(stack, second, "second")
    # When the first run's success, decided 500 ms before that, is recorded after it (a slow writer)
    import chalicelib.engine.outcomes as outcomes_module

    decided = now_ms() - 500
    monkeypatch.setattr(outcomes_module, "now_ms", lambda: decided)
    earlier = complete(stack, first, "first")
    # Then the first run is recorded succeeded, counted, and the job keeps the later success and its state
    assert (earlier["status"], earlier["finishedAt"]) == ("succeeded", iso(decided))
    stored = JobModel.get(job_id, consistent_read=True)
    assert (stored.state, int(stored.runCount)) == ('"second"', 2)
    assert json.loads(stored.lastSuccess)["runId"] == second["runId"]
    assert job_view(stack, job_id)["lastSuccessAt"] == later["finishedAt"]
    assert {r.status for r in RunModel.query(job_id)} == {"succeeded"}


# --- in-process actions and callbacks ----------------------------------------------------------------

SEEN: list[tuple[Any, Any]] = []


def _counting(ctx: actions.ActionContext) -> dict[str, Any]:
    SEEN.append((ctx.state, ctx.last_success))
    count = (ctx.state or {}).get("count", 0) + 1
    return {"count": count, "state": {"count": count}}


def test_in_process_actions_get_and_save_the_state(engine: dict[str, Any]) -> None:
    # Given an action that counts its runs in the job's state
    if "CONTINUE_COUNT" not in actions._ACTIONS:
        actions.action("CONTINUE_COUNT")(_counting)
    SEEN.clear()
    job = runtime.jobs().create(record_job(name="counting", payload={"action": "CONTINUE_COUNT"}))
    # When it runs three times
    for _ in range(3):
        runtime.jobs().run_now(job["id"])
        while pump(engine["queue_url"]):
            pass
    # Then each run saw the previous one's state and success, and returned its output without the state
    assert [state for state, _ in SEEN] == [None, {"count": 1}, {"count": 2}]
    assert SEEN[0][1] is None and SEEN[2][1]["output"] == {"count": 2}
    assert runtime.jobs().get(job["id"])["state"] == {"count": 3}


def test_a_callback_gets_the_state_too(engine: dict[str, Any]) -> None:
    from chalicelib.api.manager import JobManager

    seen: list[Any] = []

    @actions.callback(name="continuity-callback")
    def remember(ctx: actions.ActionContext) -> dict[str, Any]:
        seen.append(ctx.state)
        return {"state": {"calls": len(seen)}}

    job = JobManager().create_job(name="callback-state", schedule="0 0 * * *", callback=remember)
    for _ in range(2):
        runtime.jobs().run_now(job["id"])
        while pump(engine["queue_url"]):
            pass
    assert seen == [None, {"calls": 1}]


# --- against the local stack (make run) ----------------------------------------------------------------

@pytest.mark.e2e
@pytest.mark.slow
def test_the_local_stack_delivers_the_state_and_last_success(tmp_path: Any) -> None:
    import requests

    from e2e_stack import LocalStack, start_agents, write_config

    agents = start_agents(["continuity"])
    agent = agents["continuity"]
    stack = LocalStack(tmp_path / "state", write_config(tmp_path, agents), tmp_path / "stack.log")
    try:
        stack.start()
        # Given an HTTP agent that answers {"state": {"n": 1}} at once, for a job every 2 s
        agent.server.respond_with(200, body=json.dumps({"done": True, "state": {"n": 1}}))
        job = stack.create(name="e2e-continuity", agentId=agent.id, interval=2000, payload={"task": "count"})
        first, second = (r.json() for r in agent.wait_for(2, 30)[:2])
        # Then the next delivery carries the state and the first run's success
        assert (first["state"], first["lastSuccess"]) == (None, None)
        assert second["state"] == {"n": 1}
        assert second["lastSuccess"]["runId"] == first["runId"]
        assert second["lastSuccess"]["output"] == {"done": True}
        view = stack.call("GET", f"/jobs/{job['id']}").json()
        assert view["state"] == {"n": 1} and view["lastSuccessAt"] is not None
        # When a run accepts, then reports success with a new state through its callback URL
        agent.server.respond_with(202)
        count = len(agent.deliveries())
        accepted = agent.wait_for(count + 1, 30)[count].json()
        report = requests.post(f"{accepted['callbackUrl']}/complete", timeout=10,
                               json={"status": "succeeded", "output": {"n": 2}, "state": {"n": 2}},
                               headers={"Authorization": f"Bearer {accepted['callbackToken']}"})
        assert report.status_code == 200, report.text
        agent.server.respond_with(200, body=json.dumps({"done": True}))
        # Then a later delivery carries it, and the PATCH that resets it is seen by the next one
        later = agent.wait_for(len(agent.deliveries()) + 1, 30)[-1].json()
        assert later["state"] == {"n": 2} and later["lastSuccess"]["output"] == {"n": 2}, later
        assert stack.call("PATCH", f"/jobs/{job['id']}", {"state": None}).json()["state"] is None
        reset = agent.wait_for(len(agent.deliveries()) + 2, 30)[-1].json()
        assert reset["state"] is None and reset["lastSuccess"] is not None
    finally:
        stack.kill()
        agent.server.stop()
