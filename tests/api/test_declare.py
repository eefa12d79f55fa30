"""Jobs declared in code (contract section 10): ``PUT /api/jobs/by-name/{name}``."""
from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import quote

import pytest

from chalicelib import runtime
from conftest import AGENT_ID, call, job_body
from fault_injector import READS, WRITES, Injector

OTHER = "22222222-2222-4222-8222-222222222222"


def declared(**overrides: Any) -> dict[str, Any]:
    """A declaration body: a create body without its name (the path names the job)."""
    body = job_body(**{"interval": 3_600_000, "schedule": ..., **overrides})
    body.pop("name")
    return body


def put(client: Any, name: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    return call(client, "PUT", f"/api/jobs/by-name/{quote(name, safe='')}", body, headers)


def test_a_new_name_is_created_with_201_and_location(client: Any) -> None:
    answer = put(client, "nightly report", declared())
    job = json.loads(answer.body)
    assert answer.status_code == 201
    assert answer.headers["Location"] == f"/api/jobs/{job['id']}"
    assert job["name"] == "nightly report" and job["interval"] == 3_600_000
    assert json.loads(call(client, "GET", f"/api/jobs/{job['id']}").body) == job


def test_declaring_the_same_job_again_writes_nothing(client: Any, engine: dict[str, Any], faults: Injector) -> None:
    first = json.loads(put(client, "sync", declared(timeoutMs=900_000, overlap="skip")).body)
    engine["clock"].advance(5)
    before = len(faults.log)
    again = put(client, "sync", declared(timeoutMs=900_000, overlap="skip"))
    calls = faults.log[before:]
    assert again.status_code == 200
    assert json.loads(again.body) == first  # updatedAt and nextRunAt included
    assert [c for c in calls if c in WRITES] == []
    assert [c for c in calls if c in READS] == [("dynamodb", "GetItem")] * 2  # the name claim, the job


def test_omitted_fields_count_as_their_defaults(client: Any, engine: dict[str, Any]) -> None:
    # The stored job shows timeoutMs 900000 and overlap skip whether or not they were sent.
    first = json.loads(put(client, "defaults", declared(description=...)).body)
    engine["clock"].advance(5)
    again = put(client, "defaults", declared(timeoutMs=900_000, overlap="skip", timezone="UTC", description=None,
                                            retryPolicy=None, budget=None, startAt=None, maxRuns=None))
    assert again.status_code == 200 and json.loads(again.body) == first


def test_a_changed_field_is_updated_with_200(client: Any, engine: dict[str, Any]) -> None:
    first = json.loads(put(client, "sync", declared(payload={"v": 1})).body)
    engine["clock"].advance(5)
    answer = put(client, "sync", declared(payload={"v": 2}, interval=7_200_000))
    job = json.loads(answer.body)
    assert answer.status_code == 200 and job["id"] == first["id"]
    assert job["payload"] == {"v": 2} and job["interval"] == 7_200_000
    assert job["updatedAt"] > first["updatedAt"]


def test_a_field_left_out_goes_back_to_its_default(client: Any) -> None:
    first = json.loads(put(client, "reset", declared(overlap="allow", maxRuns=5, description="x")).body)
    assert (first["overlap"], first["maxRuns"]) == ("allow", 5)
    job = json.loads(put(client, "reset", declared(description=...)).body)
    assert (job["overlap"], job["maxRuns"], job["description"]) == ("skip", None, None)


def test_status_is_kept_unless_the_body_sets_it(client: Any) -> None:
    job = json.loads(put(client, "pausable", declared()).body)
    call(client, "PATCH", f"/api/jobs/{job['id']}", {"status": "paused"})
    kept = json.loads(put(client, "pausable", declared()).body)
    assert kept["status"] == "paused"
    resumed = json.loads(put(client, "pausable", {**declared(), "status": "active"}).body)
    assert resumed["status"] == "active"
    bad = put(client, "pausable", {**declared(), "status": "completed"})
    assert bad.status_code == 400 and "status" in json.loads(bad.body)["Message"]


def test_a_new_job_may_be_declared_paused(client: Any) -> None:
    answer = put(client, "born-paused", {**declared(), "status": "paused"})
    assert answer.status_code == 201 and json.loads(answer.body)["status"] == "paused"


def test_a_name_in_the_body_must_be_the_paths(client: Any) -> None:
    assert put(client, "same", {**declared(), "name": "same"}).status_code == 201
    answer = put(client, "same", {**declared(), "name": "other"})
    assert answer.status_code == 400 and json.loads(answer.body)["Message"].startswith("name")


def test_a_job_of_another_agent_answers_409(client: Any) -> None:
    put(client, "shared-name", declared())
    answer = put(client, "shared-name", declared(agentId=OTHER))
    assert answer.status_code == 409 and "another agent" in json.loads(answer.body)["Message"]


def test_the_name_taken_by_a_post_is_declared_over(client: Any) -> None:
    posted = json.loads(call(client, "POST", "/api/jobs", job_body(name="posted")).body)
    answer = put(client, "posted", declared())
    assert answer.status_code == 200 and json.loads(answer.body)["id"] == posted["id"]
    assert json.loads(answer.body)["interval"] == 3_600_000 and json.loads(answer.body)["schedule"] is None


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"payload": {}, "interval": 60_000}, 400, "agentId"),
    ("not json", 400, "body"),
    ([1, 2], 400, "body"),
])
def test_bad_bodies_answer_like_a_create(client: Any, body: Any, status: int, field: str) -> None:
    answer = put(client, "bad", body)
    assert answer.status_code == status and json.loads(answer.body)["Message"].startswith(field)


def test_a_payload_over_the_limit_is_413_on_create_and_on_update(client: Any, configure: Any) -> None:
    configure({"limits": {"maxPayloadBytes": 1024}})
    assert put(client, "big", declared(payload={"x": "y" * 2000})).status_code == 413
    assert put(client, "big", declared()).status_code == 201
    assert put(client, "big", declared(payload={"x": "y" * 2000})).status_code == 413


def test_a_scoped_token_may_not_declare_for_another_agent(client: Any, configure: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTOS_API_TOKENS", f"scoped-token-0123456789:{AGENT_ID}")
    configure({"security": {"enabled": True}})
    headers = {"Authorization": "Bearer scoped-token-0123456789"}
    assert put(client, "mine", declared(), headers).status_code == 201
    answer = put(client, "theirs", declared(agentId=OTHER), headers)
    assert answer.status_code == 403 and json.loads(answer.body)["Code"] == "ForbiddenError"
    assert put(client, "mine", declared()).status_code == 401


def test_concurrent_declarations_of_a_new_name_create_one_job(aws: Any) -> None:
    answers: list[tuple[dict[str, Any], bool]] = []
    errors: list[BaseException] = []
    service = runtime.jobs()
    barrier = threading.Barrier(6)

    def declare() -> None:
        try:
            barrier.wait()
            answers.append(service.declare("raced", {**declared(), "name": "raced"}))
        except BaseException as exc:  # collected: the test fails on it below
            errors.append(exc)
    threads = [threading.Thread(target=declare) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(created for _, created in answers) == [False] * 5 + [True]
    assert len({view["id"] for view, _ in answers}) == 1
    assert [j["name"] for j in runtime.jobs().list(None, None, 100, None)[0]] == ["raced"]
