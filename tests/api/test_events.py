"""A job's history (contract section 13, ``GET /api/jobs/{id}/events``; chalicelib/api/events.py,
chalicelib/store/events.py), on moto: every change and system action, with its actor and changes."""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import runtime
from chalicelib.api.actors import fingerprint
from chalicelib.store.models import RunModel
from conftest import call, job_body, record_job

MINE = "11111111-1111-4111-8111-111111111111"
OTHER = "22222222-2222-4222-8222-222222222222"
ADMIN, SCOPED = "admin-token-0123456789", "scoped-token-0123456789"


@pytest.fixture
def secured(client: Any, configure: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Security on: an admin token and one scoped to MINE."""
    monkeypatch.setenv("AGENTOS_API_TOKENS", f"{ADMIN},{SCOPED}:{MINE}")
    configure({"security": {"enabled": True}})
    return {"client": client, "admin": {"Authorization": f"Bearer {ADMIN}"},
            "scoped": {"Authorization": f"Bearer {SCOPED}"}}


def send(env: dict[str, Any], method: str, path: str, body: Any = None, who: str = "admin",
         **headers: str) -> Any:
    return call(env["client"], method, path, body, {**env[who], **headers})


def events_of(env: dict[str, Any], job_id: str, who: str = "admin", query: str = "") -> list[dict[str, Any]]:
    answer = send(env, "GET", f"/api/jobs/{job_id}/events{query}", who=who)
    assert answer.status_code == 200, answer.body
    return list(json.loads(answer.body))


def created(env: dict[str, Any], who: str = "admin", **overrides: Any) -> dict[str, Any]:
    body = job_body(**{"agentId": MINE, "schedule": "0 2 * * *", "payload": {"action": "ECHO"}, **overrides})
    answer = send(env, "POST", "/api/jobs", body, who=who)
    assert answer.status_code == 201, answer.body
    return dict(json.loads(answer.body))


def test_each_write_is_recorded_newest_first_with_its_actor_and_changes(secured: dict[str, Any]) -> None:
    job = created(secured)
    path = f"/api/jobs/{job['id']}"
    assert send(secured, "PATCH", path, {"schedule": "0 3 * * *"}).status_code == 200
    assert send(secured, "PATCH", path, {"status": "paused"}, who="scoped").status_code == 200
    assert send(secured, "PATCH", path, {"status": "active"}, **{"X-AgentOS-Client": "console"}).status_code == 200
    assert send(secured, "POST", f"{path}/run").status_code == 202
    history = events_of(secured, job["id"])
    assert [e["action"] for e in history] == ["run-requested", "resumed", "paused", "updated", "created"]
    admin, scoped = fingerprint(f"Bearer {ADMIN}"), fingerprint(f"Bearer {SCOPED}")
    assert [e["actor"] for e in history] == [{"kind": "token", "id": admin}, {"kind": "console", "id": admin},
                                             {"kind": "scoped", "id": scoped}, {"kind": "token", "id": admin},
                                             {"kind": "token", "id": admin}]
    assert history[3]["changes"] == {"schedule": ["0 2 * * *", "0 3 * * *"]}
    assert history[2]["changes"] == {"status": ["active", "paused"]}
    assert history[1]["changes"] == {"status": ["paused", "active"]}
    assert history[0]["reason"].startswith("run run-") and history[0]["changes"] == {}
    first = history[4]
    assert first["changes"]["name"] == [None, job["name"]] and first["changes"]["agentId"] == [None, MINE]
    assert all(e["at"].endswith("Z") for e in history) and history[4]["reason"] is None


def test_the_same_token_gives_the_same_id_and_the_id_is_not_the_token(secured: dict[str, Any]) -> None:
    one, two = created(secured, name="one"), created(secured, name="two")
    ids = {events_of(secured, job["id"])[0]["actor"]["id"] for job in (one, two)}
    assert len(ids) == 1
    (actor_id,) = ids
    assert len(actor_id) == 12 and ADMIN not in actor_id and actor_id not in ADMIN
    assert actor_id != fingerprint(f"Bearer {SCOPED}")


def test_without_security_every_caller_is_local(client: Any) -> None:
    job = json.loads(call(client, "POST", "/api/jobs", job_body()).body)
    call(client, "PATCH", f"/api/jobs/{job['id']}", {"description": "x"})
    history = json.loads(call(client, "GET", f"/api/jobs/{job['id']}/events").body)
    assert [e["actor"] for e in history] == [{"kind": "token", "id": "local"}] * 2
    assert history[0]["changes"] == {"description": ["Checks for trending news", "x"]}


def test_a_deleted_jobs_history_stays_readable_and_the_job_answers_404(secured: dict[str, Any]) -> None:
    job = created(secured)
    assert send(secured, "DELETE", f"/api/jobs/{job['id']}").status_code == 204
    assert send(secured, "GET", f"/api/jobs/{job['id']}").status_code == 404
    history = events_of(secured, job["id"])
    assert [e["action"] for e in history] == ["deleted", "created"]
    # the scoped token of the job's agent still reads it; an unknown job is a 404
    assert [e["action"] for e in events_of(secured, job["id"], who="scoped")] == ["deleted", "created"]
    assert send(secured, "GET", "/api/jobs/job-0000000000000000/events").status_code == 404


def test_events_expire_run_history_days_plus_30_days_after_they_are_written(secured: dict[str, Any]) -> None:
    job = created(secured)
    from chalicelib.store.events import EventModel, event_key

    (item,) = list(EventModel.query(event_key(job["id"])))
    days = runtime.config().scheduler.runHistoryDays + 30
    assert int(item.expiresAt) == (int(item.at) + days * 86_400_000) // 1000
    assert item.agentId == MINE


def test_a_scoped_token_sees_only_its_agents_jobs_events(secured: dict[str, Any]) -> None:
    mine, other = created(secured, name="mine"), created(secured, name="other", agentId=OTHER)
    assert len(events_of(secured, mine["id"], who="scoped")) == 1
    assert send(secured, "GET", f"/api/jobs/{other['id']}/events", who="scoped").status_code == 404
    assert send(secured, "DELETE", f"/api/jobs/{other['id']}").status_code == 204
    assert send(secured, "GET", f"/api/jobs/{other['id']}/events", who="scoped").status_code == 404
    assert len(events_of(secured, other["id"])) == 2


def test_history_is_paged_with_an_opaque_cursor(secured: dict[str, Any]) -> None:
    job = created(secured)
    for n in range(4):
        send(secured, "PATCH", f"/api/jobs/{job['id']}", {"description": f"d{n}"})
    answer = send(secured, "GET", f"/api/jobs/{job['id']}/events?limit=2")
    seen, pages = list(json.loads(answer.body)), 1
    while "Link" in answer.headers:
        link = answer.headers["Link"]
        assert link.endswith('>; rel="next"') and "cursor=" in link
        answer = send(secured, "GET", link[1:link.index(">")])
        seen += json.loads(answer.body)
        pages += 1
    assert pages == 3 and [e["action"] for e in seen] == ["updated"] * 4 + ["created"]
    assert [e["changes"]["description"][1] for e in seen[:4]] == ["d3", "d2", "d1", "d0"]
    bad = send(secured, "GET", f"/api/jobs/{job['id']}/events?limit=1001")
    assert bad.status_code == 400
    other = created(secured, name="other")  # a cursor of another job's history is refused, not followed
    link = send(secured, "GET", f"/api/jobs/{other['id']}/events?limit=1").headers.get("Link")
    assert link is None
    send(secured, "PATCH", f"/api/jobs/{other['id']}", {"description": "x"})
    link = send(secured, "GET", f"/api/jobs/{other['id']}/events?limit=1").headers["Link"]
    cursor = link[link.index("cursor=") + 7:link.index(">")]
    foreign = send(secured, "GET", f"/api/jobs/{job['id']}/events?cursor={cursor}")
    assert foreign.status_code == 400 and json.loads(foreign.body)["Message"].startswith("cursor")


def test_the_runs_list_is_unaffected_by_events(secured: dict[str, Any]) -> None:
    job = created(secured)
    run = json.loads(send(secured, "POST", f"/api/jobs/{job['id']}/run").body)
    send(secured, "PATCH", f"/api/jobs/{job['id']}", {"description": "x"})
    runs = json.loads(send(secured, "GET", f"/api/jobs/{job['id']}/runs").body)
    assert [r["id"] for r in runs] == [run["id"]]
    assert [r.id for r in RunModel.query(job["id"])] == [run["id"]]
    assert len(events_of(secured, job["id"])) == 3


def test_a_replay_is_recorded_on_the_runs_job(secured: dict[str, Any]) -> None:
    job = created(secured)
    run = json.loads(send(secured, "POST", f"/api/jobs/{job['id']}/run").body)
    replay = json.loads(send(secured, "POST", f"/api/runs/{run['id']}/replay", who="scoped").body)
    latest = events_of(secured, job["id"])[0]
    assert latest["action"] == "replayed" and latest["actor"]["kind"] == "scoped"
    assert latest["reason"] == f"run {replay['id']} replays run {run['id']}"


def test_a_large_payload_change_is_kept_as_a_marker(client: Any) -> None:
    job = json.loads(call(client, "POST", "/api/jobs", job_body()).body)
    call(client, "PATCH", f"/api/jobs/{job['id']}", {"payload": {"text": "x" * 5000}})
    (latest, _) = json.loads(call(client, "GET", f"/api/jobs/{job['id']}/events").body)
    old, new = latest["changes"]["payload"]
    assert old == job["payload"] and new == {"truncated": True, "bytes": 5000 + len('{"text":""}')}


def test_a_job_made_with_a_runs_callback_token_names_that_run(engine: dict[str, Any], client: Any) -> None:
    from chalicelib.clock import now_ms
    from chalicelib.engine import callbacks
    from chalicelib.engine.dispatch import manual_run_id

    parent = runtime.jobs().create(record_job(name="parent"))
    run_id = manual_run_id(parent["id"], now_ms())
    token = callbacks.mint(run_id, 1, now_ms() + 60_000)
    answer = call(client, "POST", "/api/jobs", record_job(name="follow-up"), {"Authorization": f"Bearer {token}"})
    assert answer.status_code == 201, answer.body
    (made,) = _history(json.loads(answer.body)["id"])
    assert made["actor"] == {"kind": "callback", "id": run_id}


def test_the_python_job_manager_records_in_process_writes(engine: dict[str, Any]) -> None:
    from chalicelib.api.manager import JobManager

    job = JobManager().create_job(name="managed", interval=60_000)
    JobManager().update_job(job["id"], status="paused")
    history, _ = runtime.jobs().events(job["id"], None, 10, None)
    assert [(e["action"], e["actor"]["id"]) for e in history] == [("paused", "local"), ("created", "local")]


def test_mcp_writes_are_recorded_as_mcp(client: Any) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "ensure_job", "arguments": job_body(name="via-mcp")}}
    answer = json.loads(call(client, "POST", "/api/mcp", body, {"Accept": "application/json, text/event-stream"}).body)
    job = answer["result"]["structuredContent"]
    history = json.loads(call(client, "GET", f"/api/jobs/{job['id']}/events").body)
    assert [(e["action"], e["actor"]) for e in history] == [("created", {"kind": "mcp", "id": "local"})]


# --- system actions (the engine) -------------------------------------------------------------------

def _history(job_id: str) -> list[dict[str, Any]]:
    page, _ = runtime.jobs().events(job_id, None, 100, None)
    return page


def test_the_breakers_pause_is_the_systems_and_a_tokens_pause_is_the_tokens(engine: dict[str, Any]) -> None:
    from test_guard_rails import run_round

    job = runtime.jobs().create(record_job(name="breaker", schedule=None, interval=60_000, maxConsecutiveFailures=2))
    engine["recorder"].failures_left["breaker"] = 10
    for _ in range(3):
        engine["clock"].advance(60)
        run_round(job["id"], int(engine["clock"].t * 1000), executors=1)
    paused = _history(job["id"])[0]
    assert (paused["action"], paused["actor"]) == ("paused", {"kind": "system", "id": "breaker"})
    assert paused["changes"]["status"] == ["active", "paused"] and "2 consecutive failed runs" in paused["reason"]
    assert [e["action"] for e in _history(job["id"])] == ["paused", "created"]  # failures alone are no events
    runtime.jobs().update(job["id"], {"status": "active"})
    runtime.jobs().update(job["id"], {"status": "paused"})
    latest, resumed = _history(job["id"])[:2]
    assert (latest["action"], latest["actor"]) == ("paused", {"kind": "token", "id": "local"})
    assert resumed["action"] == "resumed" and resumed["changes"]["pausedReason"] == [paused["reason"], None]


def test_max_runs_completion_is_the_systems(aws: dict[str, str], configure: Any, fake_clock: Any,
                                             sqs_on_fake_clock: None, recorder: Any) -> None:
    from test_guard_rails import pump_all

    configure({})
    timed = {**aws, "clock": fake_clock, "recorder": recorder}
    job = runtime.jobs().create(record_job(name="max-runs", schedule=None, interval=60_000, maxRuns=2))
    for _ in range(4):
        pump_all(timed, 60)
    assert runtime.jobs().get(job["id"])["status"] == "completed"
    done = _history(job["id"])[0]
    assert (done["action"], done["actor"], done["changes"]) == (
        "completed", {"kind": "system", "id": "maxRuns"}, {"status": ["active", "completed"]})
    assert [e["action"] for e in _history(job["id"])] == ["completed", "created"]


def test_end_at_completion_is_the_systems(aws: dict[str, str], configure: Any, fake_clock: Any,
                                          sqs_on_fake_clock: None, recorder: Any,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.client import BaseClient

    from test_guard_rails import pump_all
    from test_iam import allowed, authorisations

    configure({})
    timed = {**aws, "clock": fake_clock, "recorder": recorder}
    job = runtime.jobs().create(record_job(name="ends", schedule=None, interval=60_000,
                                           endAt="2030-01-01T00:02:30Z"))
    calls: set[tuple[str, str]] = set()  # what the tick and the executor ask of AWS while the job ends
    original = BaseClient._make_api_call

    def spy(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls.update(authorisations(client.meta.service_model.service_name, operation, params))
        return original(client, operation, params)
    monkeypatch.setattr(BaseClient, "_make_api_call", spy)
    pump_all(timed, 300)
    monkeypatch.setattr(BaseClient, "_make_api_call", original)
    event_write = [(action, arn) for action, arn in calls if action == "dynamodb:UpdateItem" and "runs" in arn]
    assert event_write and all(allowed(f, *call) for f in ("tick", "execute") for call in event_write)
    assert runtime.jobs().get(job["id"])["status"] == "completed"
    done = _history(job["id"])[0]
    assert (done["action"], done["actor"], done["reason"]) == ("completed", {"kind": "system", "id": "endAt"},
                                                               "endAt passed")


# --- one transaction: the change and its event, or neither ----------------------------------------

def _is_patch(params: dict[str, Any]) -> bool:
    return any("updatedAt" in item.get("Update", {}).get("ExpressionAttributeNames", {}).values()
               for item in params.get("TransactItems", []))


@pytest.mark.parametrize("kind", ["throttle", "lost"])
def test_a_fault_at_the_job_write_writes_both_or_neither(engine: dict[str, Any], faults: Any, kind: str) -> None:
    from chalicelib.errors import StoreUnavailable

    job = runtime.jobs().create(record_job(name="faulted", schedule="0 2 * * *"))
    fault = faults.add("dynamodb", "TransactWriteItems", kind=kind, match=_is_patch)
    with pytest.raises(StoreUnavailable):
        runtime.jobs().update(job["id"], {"schedule": "0 3 * * *"})
    assert fault.fired == 1
    faults.clear()
    stored, history = runtime.jobs().get(job["id"]), _history(job["id"])
    if kind == "throttle":  # nothing written: neither the change nor its event
        assert stored["schedule"] == "0 2 * * *" and [e["action"] for e in history] == ["created"]
    else:  # written, the answer lost: both
        assert stored["schedule"] == "0 3 * * *" and [e["action"] for e in history] == ["updated", "created"]


def test_an_event_that_cannot_be_written_loses_its_change_too(engine: dict[str, Any],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.errors import JobsError
    from chalicelib.store.events import EventLog, EventModel

    job = runtime.jobs().create(record_job(name="atomic", schedule="0 2 * * *"))
    original = EventLog.add

    def refused(self: EventLog, tx: Any, job_id: str, agent_id: str | None, event: Any, at_ms: int) -> None:
        # the event's write fails (a condition no new item meets): the transaction is cancelled whole
        original(self, tx, job_id, agent_id, event, at_ms)
        tx._update_items[-1]["ConditionExpression"] = "attribute_exists(#k)"
        tx._update_items[-1].setdefault("ExpressionAttributeNames", {})["#k"] = "jobId"
    monkeypatch.setattr(EventLog, "add", refused)
    for body in ({"schedule": "0 3 * * *"}, {"status": "paused"}):
        with pytest.raises(JobsError):
            runtime.jobs().update(job["id"], body)
    with pytest.raises(JobsError):
        runtime.jobs().delete(job["id"])
    monkeypatch.setattr(EventLog, "add", original)
    stored = runtime.jobs().get(job["id"])
    assert (stored["schedule"], stored["status"]) == ("0 2 * * *", "active")
    assert [e.action for e in EventModel.query(f"event#{job['id']}")] == ["created"]


# --- the CLI -----------------------------------------------------------------------------------------

@pytest.fixture
def api(aws: Any) -> Iterator[str]:
    """The app on a free local port, as the CLI reaches it (tests/test_cli.py's own)."""
    from app import app
    from scripts.local_api import ApiServer
    from test_cli import unused_port

    server = ApiServer(app, "127.0.0.1", unused_port())
    server.start()
    yield f"http://127.0.0.1:{server.server.server.server_address[1]}"
    server.stop()


def test_the_cli_shows_a_jobs_history_by_id_or_name(api: str) -> None:
    from test_cli import cli, cli_json, create

    job = create(api, "history")
    cli(api, "jobs", "update", "history", "--schedule", "0 3 * * *")
    events = cli_json(api, "jobs", "events", "history")
    assert [e["action"] for e in events] == ["updated", "created"]
    code, out, _ = cli(api, "jobs", "events", job["id"], "--limit", "1", "--all")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:3] == ["AT", "ACTION", "ACTOR"] and len(lines) == 3
    assert "schedule: 0 2 * * * -> 0 3 * * *" in lines[1] and "token:local" in lines[1]
    cli(api, "jobs", "delete", job["id"])
    assert [e["action"] for e in cli_json(api, "jobs", "events", job["id"])] == ["deleted", "updated", "created"]



def test_a_patch_that_sets_the_state_is_a_state_reset(client: Any) -> None:
    from chalicelib.api.schemas import JobPatch

    assert "state" in JobPatch.model_fields  # contract section 12's field
    job = json.loads(call(client, "POST", "/api/jobs", job_body()).body)
    assert call(client, "PATCH", f"/api/jobs/{job['id']}", {"state": {"cursor": 7}}).status_code == 200
    assert call(client, "PATCH", f"/api/jobs/{job['id']}", {"state": None}).status_code == 200
    history = json.loads(call(client, "GET", f"/api/jobs/{job['id']}/events").body)
    assert [(e["action"], e["changes"]) for e in history[:2]] == [
        ("state-reset", {"state": [{"cursor": 7}, None]}), ("state-reset", {"state": [None, {"cursor": 7}]})]


def test_the_recorded_fields_are_every_field_a_patch_may_set() -> None:
    from chalicelib.api.events import HISTORY_FIELDS
    from chalicelib.api.schemas import JobPatch

    missing = set(JobPatch.model_fields) - set(HISTORY_FIELDS)
    assert not missing and "pausedReason" in HISTORY_FIELDS
