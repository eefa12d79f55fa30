"""The OpenAPI document states what the validation enforces (chalicelib/api/openapi.py, schemas.py).

Each constraint is checked both ways: what the document admits, the API accepts (so
generated clients and fuzzers are not mostly refused), and what the API refuses for a
reason a schema can state, the document refuses too. test_fuzz.py shows the same on
bodies schemathesis generates from the served document.
"""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.api.openapi import openapi_document
from chalicelib.api.schemas import DESCRIPTION_PATTERN, SCHEDULE_PATTERN
from chalicelib.errors import InvalidSchedule
from chalicelib.schedules import parse_schedule, validate_timezone
from conftest import AGENT_ID, call, create_job, delivery, drive, job_body, report

NOW = datetime(2030, 1, 1, tzinfo=UTC)
VALID_SCHEDULES = [
    "0 */4 * * *", "@daily", "@HOURLY", "30 1 * * 1-5", "0 9 * * MON-FRI", "0 0 29 2 *", "0 0 L * *",
    "0 0 15W * ?", "0 0 ? * FRI#2", "0 0 * * 5L", "0 0 * * L5", "0 0 * * 1#1,3#3", "0 0 * JAN-MAR MON",
    "  0   0 * * *  ", "0 0 1,L * *", "59/15 * * * *", "0 22-2 * * *", "0 0 * * 0-7", "0 0 * 2 1#5",
    "5-5 * * * *", "0 0 28-3 * *", "*/15 0-23/2 1,15 jan-Mar sun", "007 08 * * *",
    "2031-06-01T12:00:00Z", "2031-06-01 12:00", "2031-06-01", "2031-06-01T12:00:00.123+02:00", "2031-06-01T12",
    "*/59 */23 */31 */12 *", "0 0 * * */7", "0-30/059 * * * *", "0 0 * jan-dec/12 *",
]
# Refused for a reason a regular expression can state (not "never fires", "wraps around", ...).
INVALID_SCHEDULES = [
    "", "tomorrow", "2027-13-01", "12:00", "2027-01-01T25:00", "0 0 * * * *", "0 0 * *", "H * * * *",
    "@reboot", "60 * * * *", "0 24 * * *", "0 0 0 * *", "0 0 * 13 *", "0 0 * * 8", "*/0 * * * *",
    "0 0 * foo *", "-1 * * * *", "0 0 15W * 1", "0 0 1 * 5#2", "0 0 15W,20W * *", "0 0 * * 1#6",
    "0 0 * * 1,2#2", "0 ? * * *", "0 0 LW * *", "0 0 * * L", "1,,2 * * * *", "*-5 * * * *", "0 0 1-L * *",
    # a step larger than its field's highest value (review issue 23, finding 16)
    "*/61 * * * *", "*/60 * * * *", "5/100 * * * *", "0 */24 * * *", "0 0 */32 * *", "0 0 * */13 *",
    "0 0 * jan-mar/13 *", "0 0 * * */8", "0 0 * * mon-fri/08",
]


def schemas() -> dict[str, Any]:
    return openapi_document()["components"]["schemas"]


def accepted(schedule: str) -> bool:
    try:
        parse_schedule(schedule, None, "UTC", NOW, 1000)
    except InvalidSchedule:
        return False
    return True


@pytest.mark.parametrize("schedule", VALID_SCHEDULES)
def test_the_schedule_pattern_admits_every_valid_form(schedule: str) -> None:
    assert accepted(schedule)
    assert re.fullmatch(SCHEDULE_PATTERN, schedule)


@pytest.mark.parametrize("schedule", INVALID_SCHEDULES)
def test_the_schedule_pattern_refuses_what_the_grammar_refuses(schedule: str) -> None:
    assert not accepted(schedule)
    assert not re.fullmatch(SCHEDULE_PATTERN, schedule)


def test_timezones_are_exactly_the_accepted_ones() -> None:
    zones = schemas()["Timezone"]["enum"]
    assert {"UTC", "Europe/Paris", "America/New_York"} <= set(zones) and "localtime" not in zones
    for zone in zones:
        validate_timezone(zone)
    for model in ("JobCreate", "JobPatch"):
        assert schemas()[model]["properties"]["timezone"]["$ref"].endswith("/Timezone")


def test_exactly_one_timing_is_documented() -> None:
    create, patch = schemas()["JobCreate"], schemas()["JobPatch"]
    assert sorted(b["required"] for b in create["oneOf"]) == [["interval"], ["schedule"]]
    assert sorted(patch["not"]["required"]) == ["interval", "schedule"]


def test_the_description_pattern_is_the_validators() -> None:
    assert re.fullmatch(DESCRIPTION_PATTERN, "Checks for trending news: AI, é, 日本")
    for bad in ("a\x00b", "safe\u202etxt", "a\u200bb", "\x1b[31m"):
        assert not re.fullmatch(DESCRIPTION_PATTERN, bad)


def test_configured_limits_are_in_the_document(client: Any, configure: Any) -> None:
    # Given a stricter minimum interval and a smaller payload limit than the defaults
    configure({"limits": {"minIntervalMs": 60_000, "maxPayloadBytes": 4096}})
    # When the document is served
    document = json.loads(call(client, "GET", "/api/openapi.json").body)
    # Then it states them, and the API enforces exactly that minimum
    interval = document["components"]["schemas"]["JobCreate"]["properties"]["interval"]["anyOf"][0]
    assert interval["minimum"] == 60_000
    assert "4096 bytes" in document["components"]["schemas"]["JobCreate"]["properties"]["payload"]["description"]
    assert call(client, "POST", "/api/jobs", job_body(schedule=None, interval=59_999)).status_code == 400
    assert call(client, "POST", "/api/jobs", job_body(schedule=None, interval=60_000)).status_code == 201


def test_integral_numbers_are_integers_as_in_json_schema(client: Any) -> None:
    # Given integers written with a fraction of zero (JSON Schema's "integer" admits them)
    body = job_body(schedule=None, interval=60000.0, retryPolicy={"maxAttempts": 5.0})
    # Then they are read as the integers, while the payload is kept as sent
    created = call(client, "POST", "/api/jobs", {**body, "payload": {"ratio": 1.0}})
    assert created.status_code == 201, created.body
    job = json.loads(created.body)
    assert (job["interval"], job["retryPolicy"]["maxAttempts"], job["payload"]) == (60000, 5, {"ratio": 1.0})
    assert call(client, "POST", "/api/jobs", job_body(name="half", schedule=None, interval=60000.5)).status_code == 400
    assert job["agentId"] == AGENT_ID


def conforms(document: dict[str, Any], model: str, value: Any) -> None:
    """Raise unless ``value`` is valid against the document's schema ``model``."""
    import jsonschema  # type: ignore[import-untyped]  # no stubs installed; openapi-spec-validator brings it

    jsonschema.validate(value, {"$ref": f"#/components/schemas/{model}", "components": document["components"]})


def test_a_job_whose_last_run_was_cancelled_is_as_documented(stack: dict[str, Any]) -> None:
    # Review issue 23, finding 14: the document said lastRunStatus is succeeded | failed | null.
    stack["agent"].respond_with(202)
    job = create_job(stack, name="cancelled-last")
    drive(stack, 6)
    sent = delivery(stack)
    done = report(stack, "complete", {"status": "cancelled"}, sent["callbackToken"])
    assert json.loads(done.body)["status"] == "cancelled", done.body
    answer = json.loads(call(stack["client"], "GET", f"/api/jobs/{job['id']}").body)
    assert answer["lastRunStatus"] == "cancelled"
    document = json.loads(call(stack["client"], "GET", "/api/openapi.json").body)
    conforms(document, "Job", answer)
    statuses = document["components"]["schemas"]["Job"]["properties"]["lastRunStatus"]["anyOf"]
    assert statuses == [{"enum": ["succeeded", "failed", "cancelled"], "type": "string"}, {"type": "null"}]


def test_a_run_answer_links_to_the_run_routes() -> None:
    # A stateful fuzzer (test_fuzz.py) reaches the run routes by following these links from
    # POST /api/jobs/{id}/run, as it reaches the job routes from a create.
    document = openapi_document()
    operations = {op["operationId"]: (path, method) for path, ops in document["paths"].items()
                  for method, op in ops.items() if method != "parameters"}
    links = document["paths"]["/api/jobs/{job_id}/run"]["post"]["responses"]["202"]["links"]
    assert {link["operationId"] for link in links.values()} == {"getRun", "heartbeatRun", "completeRun", "cancelRun",
                                                                "replayRun"}
    for link in links.values():
        assert link["parameters"] == {"run_id": "$response.body#/id"}
        path, _ = operations[link["operationId"]]
        assert "{run_id}" in path


def test_section_10_is_in_the_document() -> None:
    # PUT by-name, the Idempotency-Key header on the three retry-safe routes, the run-now body,
    # the replay route, and the run fields payload and replayOf (contract section 10).
    document = openapi_document()
    paths, schemas = document["paths"], document["components"]["schemas"]
    declare = paths["/api/jobs/by-name/{name}"]["put"]
    assert {"200", "201", "400", "403", "409", "413"} <= set(declare["responses"])
    assert "Location" in declare["responses"]["201"]["headers"]
    assert "name" not in schemas["JobDeclare"]["properties"] and "status" in schemas["JobDeclare"]["properties"]
    keyed = [paths["/api/jobs"]["post"]["parameters"], paths["/api/jobs/{job_id}/run"]["parameters"],
             paths["/api/runs/{run_id}/replay"]["parameters"]]
    for parameters in keyed:
        (key,) = [p for p in parameters if p["name"] == "Idempotency-Key"]
        assert key["in"] == "header" and key["schema"]["maxLength"] == 255
    assert paths["/api/jobs/{job_id}/run"]["post"]["requestBody"]["required"] is False
    assert set(schemas["RunNow"]["properties"]) == {"payload"}
    assert "202" in paths["/api/runs/{run_id}/replay"]["post"]["responses"]
    run = schemas["Run"]["properties"]
    assert "replay" in run["trigger"]["enum"] and {"payload", "replayOf"} <= set(run)
