"""POST /api/schedules/preview (README, "The API") through the Chalice test client against moto."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from conftest import call, job_body
from devtools.fake_clock import FakeClock


def preview(client: Any, body: Any, headers: dict[str, str] | None = None) -> Any:
    return call(client, "POST", "/api/schedules/preview", body, headers)


def next_of(client: Any, **body: Any) -> list[str]:
    response = preview(client, body)
    assert response.status_code == 200, response.body
    answer = json.loads(response.body)
    assert set(answer) == {"next", "runsPerDay"}  # runsPerDay: contract section 11 (tests/engine/test_projection.py)
    assert isinstance(answer["runsPerDay"], int) and answer["runsPerDay"] >= 0
    return answer["next"]


def set_clock(clock: FakeClock, iso: str) -> None:
    clock.t = datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp()


def test_cron_lists_five_times_by_default(client: Any, fake_clock: FakeClock) -> None:
    assert next_of(client, schedule="0 */4 * * *") == [
        "2030-01-01T04:00:00.000Z", "2030-01-01T08:00:00.000Z", "2030-01-01T12:00:00.000Z",
        "2030-01-01T16:00:00.000Z", "2030-01-01T20:00:00.000Z"]


def test_cron_in_a_timezone(client: Any, fake_clock: FakeClock) -> None:
    # 09:30 in New York is 14:30 UTC in winter.
    assert next_of(client, schedule="30 9 * * *", timezone="America/New_York", count=2) == [
        "2030-01-01T14:30:00.000Z", "2030-01-02T14:30:00.000Z"]


def test_interval_first_runs_one_interval_after_now_then_at_a_fixed_rate(client: Any, fake_clock: FakeClock) -> None:
    fake_clock.advance(0.25)
    assert next_of(client, interval=90_000, count=3) == [
        "2030-01-01T00:01:30.250Z", "2030-01-01T00:03:00.250Z", "2030-01-01T00:04:30.250Z"]


def test_single_run_lists_one_time(client: Any, fake_clock: FakeClock) -> None:
    assert next_of(client, schedule="2030-01-02T10:00:00", timezone="Europe/Paris") == ["2030-01-02T09:00:00.000Z"]


def test_fixed_time_cron_runs_once_on_the_fall_back_day(client: Any, fake_clock: FakeClock) -> None:
    # New York falls back on 2030-11-03 at 02:00 EDT: 01:30 happens twice, the job runs once.
    set_clock(fake_clock, "2030-11-02T00:00:00")
    assert next_of(client, schedule="30 1 * * *", timezone="America/New_York", count=3) == [
        "2030-11-02T05:30:00.000Z", "2030-11-03T05:30:00.000Z", "2030-11-04T06:30:00.000Z"]


def test_fixed_time_cron_runs_right_after_the_spring_gap(client: Any, fake_clock: FakeClock) -> None:
    # New York springs over 02:00-03:00 on 2030-03-10: 02:30 runs at 03:00 EDT (07:00 UTC).
    set_clock(fake_clock, "2030-03-09T12:00:00")
    assert next_of(client, schedule="30 2 * * *", timezone="America/New_York", count=3) == [
        "2030-03-10T07:00:00.000Z", "2030-03-11T06:30:00.000Z", "2030-03-12T06:30:00.000Z"]


def test_hourly_cron_keeps_its_real_time_cadence_across_fall_back(client: Any, fake_clock: FakeClock) -> None:
    set_clock(fake_clock, "2030-11-03T04:30:00")  # 00:30 EDT
    assert next_of(client, schedule="0 * * * *", timezone="America/New_York", count=4) == [
        "2030-11-03T05:00:00.000Z", "2030-11-03T06:00:00.000Z", "2030-11-03T07:00:00.000Z",
        "2030-11-03T08:00:00.000Z"]


@pytest.mark.parametrize("count", [1, 50])
def test_count_bounds(client: Any, fake_clock: FakeClock, count: int) -> None:
    times = next_of(client, schedule="* * * * *", count=count)
    assert len(times) == count and times == sorted(set(times))


@pytest.mark.parametrize("count", [0, 51, "5", 2.5, True])
def test_bad_count_is_a_400_naming_count(client: Any, count: Any) -> None:
    response = preview(client, {"schedule": "@daily", "count": count})
    assert response.status_code == 400, response.body
    assert json.loads(response.body)["Message"].startswith("count:")


BAD_TIMINGS = [
    {"schedule": "61 * * * *"},
    {"schedule": "* * * *"},
    {"schedule": "@fortnightly"},
    {"schedule": "2020-01-01T00:00:00Z"},
    {"schedule": "not a date"},
    {"schedule": "@daily", "timezone": "Mars/Olympus"},
    {"schedule": "@daily", "interval": 60_000},
    {"schedule": None, "interval": None},
    {"interval": 10},
    {"interval": "5000"},
    {"schedule": 5},
    {"schedule": "@daily", "timezone": ""},
    {"schedule": "30 2 * * *", "intervall": 5},
]


@pytest.mark.parametrize("timing", BAD_TIMINGS, ids=lambda t: json.dumps(t))
def test_same_400_message_as_a_create(client: Any, timing: dict[str, Any]) -> None:
    create = call(client, "POST", "/api/jobs", job_body(**{"schedule": ..., **timing}))
    answer = preview(client, timing)
    assert (answer.status_code, create.status_code) == (400, 400), (answer.body, create.body)
    assert json.loads(answer.body) == json.loads(create.body)


@pytest.mark.parametrize("raw", [b"", b"[]", b"{", b'{"schedule": NaN}'])
def test_malformed_body_is_a_400(client: Any, raw: bytes) -> None:
    response = preview(client, raw)
    assert response.status_code == 400
    assert json.loads(response.body)["Message"].startswith("body")


def test_preview_creates_nothing(client: Any) -> None:
    next_of(client, schedule="@hourly")
    assert json.loads(call(client, "GET", "/api/jobs").body) == []


def test_needs_a_token_when_security_is_on(client: Any, configure: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTOS_API_TOKENS", "secret-token")
    configure({"security": {"enabled": True}})
    refused = preview(client, {"schedule": "@daily"})
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    allowed = preview(client, {"schedule": "@daily"}, {"Authorization": "Bearer secret-token"})
    assert allowed.status_code == 200 and len(json.loads(allowed.body)["next"]) == 5


def test_in_the_openapi_document(client: Any) -> None:
    document = json.loads(call(client, "GET", "/api/openapi.json").body)
    operation = document["paths"]["/api/schedules/preview"]["post"]
    schema = document["components"]["schemas"]["SchedulePreview"]
    assert operation["operationId"] == "previewSchedule"
    assert schema["properties"]["count"]["maximum"] == 50 and schema["properties"]["count"]["minimum"] == 1
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["properties"]["next"]["type"] == "array"


def test_bounds_are_honoured_like_the_job_would(client: Any, fake_clock: FakeClock) -> None:
    # startAt delays the first start, endAt cuts the list, maxRuns caps it
    assert next_of(client, schedule="0 */4 * * *", startAt="2030-01-02T06:00:00Z", count=3) == [
        "2030-01-02T08:00:00.000Z", "2030-01-02T12:00:00.000Z", "2030-01-02T16:00:00.000Z"]
    assert next_of(client, schedule="0 */4 * * *", endAt="2030-01-01T12:00:00Z", count=10) == [
        "2030-01-01T04:00:00.000Z", "2030-01-01T08:00:00.000Z", "2030-01-01T12:00:00.000Z"]
    assert next_of(client, interval=60_000, maxRuns=2, count=10) == [
        "2030-01-01T00:01:00.000Z", "2030-01-01T00:02:00.000Z"]


def test_bad_bounds_in_a_preview_are_the_creates_400s(client: Any, fake_clock: FakeClock) -> None:
    for body, field in (({"endAt": "2029-01-01T00:00:00Z"}, "endAt"), ({"maxRuns": 0}, "maxRuns"),
                        ({"startAt": "2030-02-01T00:00:00Z", "endAt": "2030-01-15T00:00:00Z"}, "endAt")):
        answer = preview(client, {"schedule": "0 * * * *", **body})
        assert answer.status_code == 400 and json.loads(answer.body)["Message"].startswith(field), answer.body


@pytest.mark.parametrize(("timing", "listed"), [
    ({"interval": 60_000}, ["9999-12-31T23:59:59.000Z"]),  # starts at startAt, nothing after it
    ({"schedule": "0 * * * *"}, []), ({"schedule": "59 23 31 12 *"}, []),
    ({"schedule": "2031-01-01T00:00:00Z"}, [])], ids=lambda t: json.dumps(t))
def test_a_start_at_the_end_of_time_is_answered_like_a_create(client: Any, fake_clock: FakeClock,
                                                             timing: dict[str, Any], listed: list[str]) -> None:
    # Review issue 23, finding 11: a create takes startAt 9999-12-31T23:59:59Z; the preview gave
    # a 500 (an interval's next start is past year 9999). What fits before then is listed.
    body = {**timing, "startAt": "9999-12-31T23:59:59Z"}
    create = call(client, "POST", "/api/jobs", job_body(**{"schedule": ..., **body}))
    assert create.status_code == 201, create.body
    assert next_of(client, **body) == listed
