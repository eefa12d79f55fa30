"""Requests that are safe to retry (contract section 10): the ``Idempotency-Key`` header."""
from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from chalice import Response

from chalicelib import runtime
from chalicelib.api.idempotency import OPEN_CALLER, request_digest
from chalicelib.store.idempotency import IdempotencyModel
from conftest import call, job_body
from fault_injector import Injector

KEY = "create-nightly-2030-01-01"


def keyed(key: str = KEY, **more: str) -> dict[str, str]:
    return {"Idempotency-Key": key, **more}


def job_names() -> list[str]:
    return sorted(j["name"] for j in runtime.jobs().list(None, None, 1000, None)[0])


def test_a_repeated_create_answers_the_first_answer_and_makes_one_job(client: Any) -> None:
    first = call(client, "POST", "/api/jobs", job_body(name="once"), keyed())
    again = call(client, "POST", "/api/jobs", job_body(name="once"), keyed())
    assert first.status_code == again.status_code == 201
    assert again.body == first.body
    assert again.headers["Location"] == first.headers["Location"] == f"/api/jobs/{json.loads(first.body)['id']}"
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert job_names() == ["once"]


def test_the_body_is_compared_as_json_whatever_its_spacing(client: Any) -> None:
    first = call(client, "POST", "/api/jobs", json.dumps(job_body(name="spaced")), keyed())
    again = call(client, "POST", "/api/jobs", json.dumps(job_body(name="spaced"), indent=4), keyed())
    assert (first.status_code, again.status_code, again.body) == (201, 201, first.body)


def test_the_same_key_with_another_body_or_route_is_409(client: Any) -> None:
    job = json.loads(call(client, "POST", "/api/jobs", job_body(name="first"), keyed()).body)
    other_body = call(client, "POST", "/api/jobs", job_body(name="second"), keyed())
    other_route = call(client, "POST", f"/api/jobs/{job['id']}/run", None, keyed())
    for answer in (other_body, other_route):
        assert answer.status_code == 409
        assert "Idempotency-Key" in json.loads(answer.body)["Message"]
    assert job_names() == ["first"]


@pytest.mark.parametrize("key", ["x" * 256, "caf\u00e9", "tab\there", "new\nline"])
def test_a_key_that_is_not_1_to_255_printable_ascii_is_400(client: Any, key: str) -> None:
    answer = call(client, "POST", "/api/jobs", job_body(name="bad-key"), {"Idempotency-Key": key})
    assert answer.status_code == 400 and json.loads(answer.body)["Message"].startswith("Idempotency-Key")
    assert job_names() == []


def test_a_failed_request_keeps_nothing_and_its_key_serves_again(client: Any) -> None:
    bad = call(client, "POST", "/api/jobs", job_body(name="late", schedule="not cron"), keyed())
    assert bad.status_code == 400
    good = call(client, "POST", "/api/jobs", job_body(name="late"), keyed())
    assert good.status_code == 201 and job_names() == ["late"]


def test_each_token_has_its_own_keys(client: Any, configure: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTOS_API_TOKENS", "token-one-0123456789,token-two-0123456789")
    configure({"security": {"enabled": True}})
    one = call(client, "POST", "/api/jobs", job_body(name="one"), keyed(Authorization="Bearer token-one-0123456789"))
    two = call(client, "POST", "/api/jobs", job_body(name="two"), keyed(Authorization="Bearer token-two-0123456789"))
    assert (one.status_code, two.status_code) == (201, 201) and job_names() == ["one", "two"]
    unauthorized = call(client, "POST", "/api/jobs", job_body(name="three"), keyed(Authorization="Bearer nope"))
    assert unauthorized.status_code == 401
    stored = [item.jobId for item in IdempotencyModel.scan(IdempotencyModel.jobId.startswith("idem#"))]  # not events
    assert len(stored) == 3 and all(OPEN_CALLER not in key and "token-" not in key for key in stored)


def test_a_repeated_run_now_starts_one_run(client: Any) -> None:
    job = json.loads(call(client, "POST", "/api/jobs", job_body(name="manual")).body)
    first = call(client, "POST", f"/api/jobs/{job['id']}/run", {"payload": {"n": 1}}, keyed("run-1"))
    again = call(client, "POST", f"/api/jobs/{job['id']}/run", {"payload": {"n": 1}}, keyed("run-1"))
    assert first.status_code == again.status_code == 202 and again.body == first.body
    assert len(runtime.jobs().runs_of(job["id"], 100, None)[0]) == 1


def test_a_repeated_replay_starts_one_run(client: Any) -> None:
    job = json.loads(call(client, "POST", "/api/jobs", job_body(name="replayed", overlap="allow")).body)
    run = json.loads(call(client, "POST", f"/api/jobs/{job['id']}/run").body)
    first = call(client, "POST", f"/api/runs/{run['id']}/replay", None, keyed("replay-1"))
    again = call(client, "POST", f"/api/runs/{run['id']}/replay", None, keyed("replay-1"))
    assert first.status_code == again.status_code == 202 and again.body == first.body
    assert len(runtime.jobs().runs_of(job["id"], 100, None)[0]) == 2


def test_concurrent_duplicates_make_one_job(aws: Any) -> None:
    """Eight requests with one key at once (the service's own path; tests/test_e2e_section10.py
    sends them over HTTP to the local stack)."""
    body = job_body(name="concurrent")
    raw = json.dumps(body)
    answers: list[Response] = []
    barrier = threading.Barrier(8)

    def create() -> Response:
        view = runtime.jobs().create(body)
        return Response(body=json.dumps(view), status_code=201, headers={"Location": f"/api/jobs/{view['id']}"})

    def request() -> None:
        barrier.wait()
        answers.append(runtime.idempotency().respond(KEY, OPEN_CALLER, "POST /api/jobs", raw, create))
    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 8 and {a.status_code for a in answers} == {201}
    assert len({a.body for a in answers}) == 1 and len({a.headers["Location"] for a in answers}) == 1
    assert job_names() == ["concurrent"]


def test_the_digest_names_route_and_body() -> None:
    assert request_digest("POST /api/jobs", b'{"a": 1, "b": 2}') == request_digest("POST /api/jobs", b'{"b":2,"a":1}')
    assert request_digest("POST /api/jobs", b"{}") != request_digest("POST /api/jobs/x/run", b"{}")


def _idem_put(params: dict[str, Any]) -> bool:
    return params.get("Item", {}).get("jobId", {}).get("S", "").startswith("idem#")


def _idem_answer(params: dict[str, Any]) -> bool:
    # The write that keeps the answer: an UpdateItem of the key's record that sets it "done".
    values = params.get("ExpressionAttributeValues", {}).values()
    return params.get("Key", {}).get("jobId", {}).get("S", "").startswith("idem#") \
        and any(value.get("S") == "done" for value in values)


@pytest.mark.parametrize("kind", ["throttle", "lost"])
def test_a_fault_at_taking_the_key_loses_no_job_and_makes_no_duplicate(client: Any, faults: Injector,
                                                                       kind: str) -> None:
    fault = faults.add("dynamodb", "PutItem", kind=kind, match=_idem_put)
    first = call(client, "POST", "/api/jobs", job_body(name="faulty"), keyed())
    assert fault.fired == 1 and first.status_code == 503 and job_names() == []
    retried = call(client, "POST", "/api/jobs", job_body(name="faulty"), keyed())
    again = call(client, "POST", "/api/jobs", job_body(name="faulty"), keyed())
    assert (retried.status_code, again.status_code, again.body) == (201, 201, retried.body)
    assert job_names() == ["faulty"]


def test_a_lost_answer_at_keeping_the_answer_still_replays_it(client: Any, faults: Injector) -> None:
    fault = faults.add("dynamodb", "UpdateItem", kind="lost", match=_idem_answer)
    first = call(client, "POST", "/api/jobs", job_body(name="kept"), keyed())
    again = call(client, "POST", "/api/jobs", job_body(name="kept"), keyed())
    assert fault.fired == 1 and (first.status_code, again.status_code, again.body) == (201, 201, first.body)
    assert job_names() == ["kept"]


def test_a_throttled_answer_makes_no_duplicate(client: Any, faults: Injector, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.api import idempotency

    monkeypatch.setattr(idempotency, "WAIT_STEPS", 2)  # the key stays pending: answer 409 soon
    fault = faults.add("dynamodb", "UpdateItem", kind="throttle", match=_idem_answer)
    first = call(client, "POST", "/api/jobs", job_body(name="throttled"), keyed())
    again = call(client, "POST", "/api/jobs", job_body(name="throttled"), keyed())
    assert fault.fired == 1 and first.status_code == 201
    assert again.status_code == 409 and "Idempotency-Key" in json.loads(again.body)["Message"]
    assert job_names() == ["throttled"]
