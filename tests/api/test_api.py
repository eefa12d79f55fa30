"""The HTTP API through Chalice's test client against moto (README, "The API")."""
from __future__ import annotations

import json
import re
import threading
from typing import Any

import pytest

from conftest import AGENT_ID, call, job_body


def body(response: Any) -> Any:
    return json.loads(response.body) if response.body else None


def next_link(link: str | None) -> str | None:
    """The URL of a ``Link: <...>; rel="next"`` header, or None without one."""
    if not link:
        return None
    found = re.fullmatch(r'<(.+)>; rel="next"', link)
    assert found is not None, link
    return found.group(1)


def create(client: Any, **overrides: Any) -> dict[str, Any]:
    response = call(client, "POST", "/api/jobs", job_body(**overrides))
    assert response.status_code == 201, response.body
    return body(response)


def assert_error(response: Any, status: int, field: str) -> None:
    assert response.status_code == status, response.body
    error = body(response)
    assert set(error) == {"Code", "Message"}
    assert field in error["Message"], error
    assert "Traceback" not in error["Message"]


def all_jobs(client: Any) -> list[dict[str, Any]]:
    return body(call(client, "GET", "/api/jobs?limit=1000"))


# --- create ---------------------------------------------------------------------------

def test_create_returns_the_job_with_location(client: Any) -> None:
    response = call(client, "POST", "/api/jobs", job_body())
    assert response.status_code == 201
    job = body(response)
    assert re.fullmatch(r"job-[0-9a-f]{16}", job["id"])
    assert response.headers["Location"] == f"/api/jobs/{job['id']}"
    assert job["status"] == "active" and job["interval"] is None and job["timezone"] == "UTC"
    assert job["payload"]["topics"] == ["AI", "Blockchain"]
    assert job["runCount"] == 0 and job["failureCount"] == 0 and job["lastRunAt"] is None
    assert job["nextRunAt"].endswith(":00:00.000Z") and job["createdAt"].endswith("Z")


def test_interval_job_first_runs_one_interval_after_creation(client: Any, fake_clock: Any) -> None:
    job = create(client, schedule=None, interval=3_600_000)
    assert job["nextRunAt"] == "2030-01-01T01:00:00.000Z"
    assert job["schedule"] is None and job["interval"] == 3_600_000


def test_cron_in_timezone(client: Any, fake_clock: Any) -> None:
    job = create(client, schedule="30 9 * * *", timezone="America/New_York")
    assert job["nextRunAt"] == "2030-01-01T14:30:00.000Z"


@pytest.mark.parametrize("overrides, field", [
    ({"name": ...}, "name"),
    ({"agentId": ...}, "agentId"),
    ({"agentId": "not-a-uuid"}, "agentId"),
    ({"payload": ...}, "payload"),
    ({"payload": [1, 2]}, "payload"),
    ({"schedule": "61 * * * *"}, "schedule"),
    ({"schedule": "0 0 31 2 *"}, "schedule"),
    ({"schedule": "* * * * * *"}, "schedule"),
    ({"schedule": "2001-01-01T00:00:00Z"}, "schedule"),
    ({"schedule": ...}, "schedule"),
    ({"interval": 5000}, "schedule"),
    ({"schedule": None, "interval": 10}, "interval"),
    ({"schedule": None, "interval": True}, "interval"),
    ({"schedule": None, "interval": "5000"}, "interval"),
    ({"schedule": None, "interval": 5000.5}, "interval"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"timezone": "../../etc/passwd"}, "timezone"),
    ({"name": ""}, "name"),
    ({"name": "x" * 129}, "name"),
    ({"name": "bad\u202ename"}, "name"),
    ({"description": 5}, "description"),
    ({"retryPolicy": {"maxAttempts": 0}}, "retryPolicy.maxAttempts"),
    ({"unknownField": 1}, "unknownField"),
])
def test_create_rejects_bad_fields_and_changes_nothing(client: Any, overrides: dict[str, Any], field: str) -> None:
    response = call(client, "POST", "/api/jobs", job_body(**overrides))
    assert_error(response, 400, field)
    assert all_jobs(client) == []


@pytest.mark.parametrize("raw, field", [
    (b"", "body"), (b"{", "body"), (b"[]", "body"), (b"null", "body"), (b'"x"', "body"),
    (b'{"name": NaN}', "body"), (b"\xff\xfe", "body"), (b'{"a":1,"a":2}', "a"),
    (b"[" * 10_000 + b"]" * 10_000, "body"), (b"{\"a\":" * 100 + b"1" + b"}" * 100, "body"),
])
def test_malformed_bodies_are_400(client: Any, raw: bytes, field: str) -> None:
    assert_error(call(client, "POST", "/api/jobs", raw), 400, field)


def test_body_parsed_whatever_the_content_type(client: Any) -> None:
    response = call(client, "POST", "/api/jobs", json.dumps(job_body()),
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 201, response.body


def test_payload_over_the_limit_is_413(client: Any, configure: Any) -> None:
    configure({"limits": {"maxPayloadBytes": 1000}})
    assert_error(call(client, "POST", "/api/jobs", job_body(payload={"blob": "x" * 2000})), 413, "payload")
    assert_error(call(client, "POST", "/api/jobs", job_body(payload={"blob": "x" * 100_000})), 413, "body")
    assert all_jobs(client) == []


def test_interval_below_configured_minimum(client: Any, configure: Any) -> None:
    configure({"limits": {"minIntervalMs": 60_000}})
    assert_error(call(client, "POST", "/api/jobs", job_body(schedule=None, interval=59_999)), 400, "interval")


def test_duplicate_name_is_409(client: Any) -> None:
    create(client)
    assert_error(call(client, "POST", "/api/jobs", job_body()), 409, "name")
    assert len(all_jobs(client)) == 1


def test_concurrent_creates_of_one_name_make_exactly_one_job(client: Any) -> None:
    # Threads call the service directly: Chalice's test client swaps os.environ per
    # request, which is not thread-safe.
    from chalicelib import runtime
    from chalicelib.errors import DuplicateName

    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def attempt() -> None:
        barrier.wait()
        try:
            runtime.jobs().create(job_body(name="race"))
            outcomes.append("created")
        except DuplicateName:
            outcomes.append("duplicate")

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created"] + ["duplicate"] * 7
    assert [j["name"] for j in all_jobs(client)] == ["race"]


# --- read and list ----------------------------------------------------------------------

def test_get_unknown_job_is_404(client: Any) -> None:
    for method, path in [("GET", "/api/jobs/job-404"), ("PATCH", "/api/jobs/job-404"),
                         ("DELETE", "/api/jobs/job-404"), ("POST", "/api/jobs/job-404/run"),
                         ("GET", "/api/jobs/job-404/runs"), ("GET", "/api/jobs/name%23x")]:
        payload = {"description": "x"} if method == "PATCH" else None
        assert_error(call(client, method, path, payload), 404, "job")


def test_list_filters_and_pages(client: Any) -> None:
    other = "123e4567-e89b-12d3-a456-426614174000"
    for i in range(7):
        create(client, name=f"job{i}", agentId=AGENT_ID if i % 2 else other)
    paused = all_jobs(client)[0]
    call(client, "PATCH", f"/api/jobs/{paused['id']}", {"status": "paused"})
    seen: list[str] = []
    path: str | None = "/api/jobs?limit=3"
    while path:
        response = call(client, "GET", path)
        assert response.status_code == 200
        page = body(response)
        assert len(page) <= 3
        seen += [j["name"] for j in page]
        link = response.headers.get("Link")
        path = next_link(link)
    assert sorted(seen) == [f"job{i}" for i in range(7)]
    assert {j["agentId"] for j in body(call(client, "GET", f"/api/jobs?agentId={other}"))} == {other}
    assert len(body(call(client, "GET", f"/api/jobs?agentId={other}"))) == 4
    assert [j["id"] for j in body(call(client, "GET", "/api/jobs?status=paused"))] == [paused["id"]]


@pytest.mark.parametrize("query, field", [("limit=0", "limit"), ("limit=1001", "limit"), ("limit=x", "limit"),
                                          ("limit=%C2%B2", "limit"), ("limit=%D9%A3", "limit"),
                                          ("status=running", "status"), ("agentId=nope", "agentId"),
                                          ("cursor=garbage", "cursor")])
def test_list_rejects_bad_queries(client: Any, query: str, field: str) -> None:
    assert_error(call(client, "GET", f"/api/jobs?{query}"), 400, field)


# --- update -----------------------------------------------------------------------------

def test_patch_with_curl_form_content_type(client: Any, fake_clock: Any) -> None:
    job = create(client)
    response = call(client, "PATCH", f"/api/jobs/{job['id']}", '{ "schedule": "0 12 * * *" }',
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200, response.body
    assert body(response)["schedule"] == "0 12 * * *"
    assert body(response)["nextRunAt"] == "2030-01-01T12:00:00.000Z"


def test_patch_switches_schedule_and_interval(client: Any, fake_clock: Any) -> None:
    job = create(client)
    fake_clock.advance(600)
    changed = body(call(client, "PATCH", f"/api/jobs/{job['id']}", {"interval": 120_000}))
    assert changed["schedule"] is None and changed["interval"] == 120_000
    assert changed["nextRunAt"] == "2030-01-01T00:12:00.000Z"
    back = body(call(client, "PATCH", f"/api/jobs/{job['id']}", {"schedule": "@daily"}))
    assert back["interval"] is None and back["schedule"] == "@daily"
    assert back["nextRunAt"] == "2030-01-02T00:00:00.000Z"


@pytest.mark.parametrize("patch, field", [
    ({"schedule": "0 0 * *"}, "schedule"), ({"schedule": "x", "interval": 5000}, "schedule"),
    ({"schedule": None}, "schedule"), ({"status": "completed"}, "status"), ({"name": None}, "name"),
    ({"timezone": "Nowhere/Land"}, "timezone"), ({"id": "job-1"}, "id"), ({"interval": False}, "interval"),
])
def test_bad_patch_is_400_and_changes_nothing(client: Any, patch: dict[str, Any], field: str) -> None:
    job = create(client)
    assert_error(call(client, "PATCH", f"/api/jobs/{job['id']}", patch), 400, field)
    assert body(call(client, "GET", f"/api/jobs/{job['id']}")) == job


def test_rename_to_a_taken_name_is_409_and_frees_nothing(client: Any) -> None:
    first, second = create(client, name="first"), create(client, name="second")
    assert_error(call(client, "PATCH", f"/api/jobs/{second['id']}", {"name": "first"}), 409, "name")
    renamed = body(call(client, "PATCH", f"/api/jobs/{second['id']}", {"name": "third"}))
    assert renamed["name"] == "third"
    assert create(client, name="second")["name"] == "second"  # the old name is free again
    assert_error(call(client, "POST", "/api/jobs", job_body(name="third")), 409, "name")
    assert body(call(client, "GET", f"/api/jobs/{first['id']}"))["name"] == "first"


def test_pause_and_resume(client: Any, fake_clock: Any) -> None:
    job = create(client, schedule=None, interval=600_000)
    paused = body(call(client, "PATCH", f"/api/jobs/{job['id']}", {"status": "paused"}))
    assert paused["status"] == "paused" and paused["nextRunAt"] is None
    fake_clock.advance(3600)
    resumed = body(call(client, "PATCH", f"/api/jobs/{job['id']}", {"status": "active"}))
    assert resumed["status"] == "active"
    assert resumed["nextRunAt"] == "2030-01-01T01:10:00.000Z"  # one interval after resuming


def test_patch_payload_description_and_retry_policy(client: Any) -> None:
    job = create(client)
    changed = body(call(client, "PATCH", f"/api/jobs/{job['id']}", {
        "payload": {"action": "ECHO"}, "description": None,
        "retryPolicy": {"maxAttempts": 5, "initialDelayMs": 10, "maxDelayMs": 100, "multiplier": 3, "jitter": False}}))
    assert changed["payload"] == {"action": "ECHO"} and changed["description"] is None
    assert changed["retryPolicy"]["maxAttempts"] == 5
    assert changed["updatedAt"] >= job["updatedAt"] and changed["nextRunAt"] == job["nextRunAt"]


# --- delete, run, runs ----------------------------------------------------------------------

def test_delete_frees_the_name(client: Any) -> None:
    job = create(client)
    response = call(client, "DELETE", f"/api/jobs/{job['id']}")
    assert response.status_code == 204 and not response.body
    assert call(client, "GET", f"/api/jobs/{job['id']}").status_code == 404
    assert create(client)["name"] == job["name"]


def test_manual_run_is_accepted_and_listed(client: Any) -> None:
    job = create(client)
    response = call(client, "POST", f"/api/jobs/{job['id']}/run")
    assert response.status_code == 202
    run = body(response)
    assert run["status"] == "queued" and run["trigger"] == "manual" and run["attempt"] == 0
    assert [r["id"] for r in body(call(client, "GET", f"/api/jobs/{job['id']}/runs"))] == [run["id"]]


def test_runs_page_newest_first(client: Any, fake_clock: Any) -> None:
    job = create(client)
    ids = []
    for _ in range(5):
        fake_clock.advance(1)
        ids.append(body(call(client, "POST", f"/api/jobs/{job['id']}/run"))["id"])
    first = call(client, "GET", f"/api/jobs/{job['id']}/runs?limit=3")
    assert [r["id"] for r in body(first)] == ids[::-1][:3]
    following = next_link(first.headers["Link"])
    assert following is not None
    assert [r["id"] for r in body(call(client, "GET", following))] == ids[::-1][3:]


# --- health, openapi, auth ---------------------------------------------------------------------

def test_health_and_openapi(client: Any) -> None:
    assert body(call(client, "GET", "/api/health")) == {"status": "ok"}
    document = body(call(client, "GET", "/api/openapi.json"))
    assert document["openapi"].startswith("3.")
    routes = {"/api/jobs", "/api/jobs/{job_id}", "/api/jobs/{job_id}/run", "/api/jobs/{job_id}/runs"}
    assert routes <= set(document["paths"])
    assert "JobCreate" in document["components"]["schemas"]


ROUTES = [("GET", "/api/jobs"), ("POST", "/api/jobs"), ("GET", "/api/jobs/job-1"), ("PATCH", "/api/jobs/job-1"),
          ("DELETE", "/api/jobs/job-1"), ("POST", "/api/jobs/job-1/run"), ("GET", "/api/jobs/job-1/runs"),
          ("GET", "/api/openapi.json")]
BAD_HEADERS = [{}, {"Authorization": "Bearer"}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"},
               {"Authorization": "s3cret"}, {"Authorization": "Bearer s3cret2"}, {"Authorization": "Bearer s3cre"}]


@pytest.fixture
def secured(client: Any, configure: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AGENTOS_API_TOKENS", "s3cret, other-token")
    configure({"security": {"enabled": True}})
    return client


@pytest.mark.parametrize("method, path", ROUTES)
@pytest.mark.parametrize("headers", BAD_HEADERS)
def test_every_route_needs_the_token(secured: Any, method: str, path: str, headers: dict[str, str]) -> None:
    response = call(secured, method, path, job_body() if method in ("POST", "PATCH") else None, headers=headers)
    assert_error(response, 401, "Authorization")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "s3cret" not in response.body.decode()


def test_token_accepted_and_health_is_open(secured: Any) -> None:
    assert call(secured, "GET", "/api/health").status_code == 200
    ok = call(secured, "POST", "/api/jobs", job_body(), headers={"Authorization": "Bearer other-token"})
    assert ok.status_code == 201
    assert call(secured, "GET", "/api/jobs", headers={"Authorization": "bearer s3cret"}).status_code == 200


def test_unknown_query_parameters_are_400(client: Any) -> None:
    assert_error(call(client, "GET", "/api/jobs?staus=paused"), 400, "staus")
    job = create(client)
    assert_error(call(client, "GET", f"/api/jobs/{job['id']}/runs?status=failed"), 400, "status")


def test_cron_that_only_matches_in_dst_gaps_is_a_400(client: Any, fake_clock: Any) -> None:
    """Issue 11 item 8: it used to walk to year 9999 and answer 500 after ~1.4 s of CPU."""
    bad = {"schedule": "*/30 2 * 3 0#2", "timezone": "America/New_York"}
    assert_error(call(client, "POST", "/api/jobs", job_body(**bad)), 400, "schedule")
    job = create(client)
    assert_error(call(client, "PATCH", f"/api/jobs/{job['id']}", bad), 400, "schedule")


def test_list_pages_are_utf8_and_capped_by_bytes(client: Any, configure: Any, fake_clock: Any) -> None:
    """Issue 11 item 5: 30 jobs of ~240 KB of emoji (7 MB) fit no 6 MB Lambda response: the page
    stops before 5 MiB with a next link, and non-ASCII is sent as UTF-8, not as \\u escapes."""
    from chalicelib.api.jobs import LIST_PAGE_BYTES

    configure({"limits": {"maxPayloadBytes": 262_144}})
    emoji = "\U0001F600" * 60_000  # 240,000 bytes of UTF-8
    ids = set()
    for i in range(30):
        raw = json.dumps(job_body(name=f"big{i}", payload={"text": emoji}), ensure_ascii=False).encode()
        response = call(client, "POST", "/api/jobs", raw)
        assert response.status_code == 201, response.body[:200]
        ids.add(body(response)["id"])
    seen: list[str] = []
    sizes: list[int] = []
    path: str | None = "/api/jobs"
    while path:
        response = call(client, "GET", path)
        assert response.status_code == 200
        raw = response.body if isinstance(response.body, bytes) else response.body.encode()
        assert b"\\ud83d" not in raw and "\U0001F600".encode() in raw
        sizes.append(len(raw))
        seen += [j["id"] for j in json.loads(raw)]
        link = response.headers.get("Link")
        path = next_link(link)
    assert sorted(seen) == sorted(ids)
    assert len(sizes) >= 2 and max(sizes) <= LIST_PAGE_BYTES < 6_000_000


def test_an_escaped_payload_is_measured_decoded(client: Any, configure: Any) -> None:
    """Issue 11 item 11: 30,000 bytes of payload sent as \\u00e9 escapes (90 KB on the wire) is
    under the 65,536-byte limit; the same payload twice over is still a 413 naming payload."""
    configure({})
    text = "\u00e9" * 15_000  # 30,000 bytes of UTF-8
    raw = json.dumps(job_body(payload={"text": text}), ensure_ascii=True)
    assert len(raw) > 90_000
    response = call(client, "POST", "/api/jobs", raw)
    assert response.status_code == 201, response.body[:300]
    assert body(response)["payload"] == {"text": text}
    too_big = json.dumps(job_body(name="big", payload={"text": text * 3}), ensure_ascii=True)
    assert_error(call(client, "POST", "/api/jobs", too_big), 413, "payload")
