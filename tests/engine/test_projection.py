"""A job's projection (contract section 11): its starts in the next 24 h and what they are
expected to cost, on every job view; and the preview's runsPerDay."""
from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib import runtime
from chalicelib.engine import projection as projection_module
from chalicelib.engine.bounds import Bounds
from chalicelib.engine.projection import runs_in_day
from chalicelib.schedules import IntervalSchedule, load_schedule
from chalicelib.store import recent_usage
from chalicelib.store.models import JobModel
from conftest import call, create_job, delivery, drive, job_body, report

T0 = 1_893_456_000_000  # the fake clock's 2030-01-01T00:00:00Z
HOUR_MS = 3_600_000


def projected(client: Any, **fields: Any) -> dict[str, Any]:
    """The projection of a job created with ``fields``."""
    answer = call(client, "POST", "/api/jobs", job_body(**fields))
    assert answer.status_code == 201, answer.body
    return dict(json.loads(answer.body)["projection"])


@pytest.mark.parametrize(("fields", "runs"), [
    ({"schedule": None, "interval": HOUR_MS}, 24),
    ({"schedule": None, "interval": 1000}, 86_400),
    ({"schedule": "0 */4 * * *"}, 6),
    ({"schedule": "* * * * *"}, 1440),
    ({"schedule": "30 9 * * 1-5"}, 1),  # 2030-01-01 is a Tuesday
    ({"schedule": "0 9 * * 6"}, 0),
    ({"schedule": "2030-01-01T12:00:00Z"}, 1),
    ({"schedule": "2030-01-03T12:00:00Z"}, 0),
    ({"schedule": None, "interval": HOUR_MS, "endAt": "2030-01-01T10:00:00Z"}, 10),
    ({"schedule": None, "interval": HOUR_MS, "maxRuns": 5}, 5),
    ({"schedule": None, "interval": HOUR_MS, "startAt": "2030-01-01T20:00:00Z"}, 5),  # 20:00 to 24:00
    ({"schedule": "0 * * * *", "startAt": "2030-01-01T20:30:00Z"}, 4),  # 21:00 to 24:00
])
def test_runs_per_day_applies_the_schedule_and_its_bounds(engine: dict[str, Any], client: Any,
                                                          fields: dict[str, Any], runs: int) -> None:
    assert projected(client, **fields) == {"runsPerDay": runs, "tokensPerDay": None, "costUsdPerDay": None}


def test_a_paused_job_projects_nothing(engine: dict[str, Any], client: Any) -> None:
    job = json.loads(call(client, "POST", "/api/jobs", job_body(schedule="0 * * * *")).body)
    paused = json.loads(call(client, "PATCH", f"/api/jobs/{job['id']}", {"status": "paused"}).body)
    assert paused["projection"]["runsPerDay"] == 0
    listed = json.loads(call(client, "GET", "/api/jobs").body)
    assert listed[0]["projection"]["runsPerDay"] == 0


def test_the_projection_moves_with_the_clock(engine: dict[str, Any], client: Any) -> None:
    job = json.loads(call(client, "POST", "/api/jobs",
                          job_body(schedule=None, interval=HOUR_MS, endAt="2030-01-01T10:00:00Z")).body)
    engine["clock"].advance(4 * 3600 + 1)
    later = json.loads(call(client, "GET", f"/api/jobs/{job['id']}").body)
    assert later["projection"]["runsPerDay"] == 6  # 05:00 to 10:00


def test_an_interval_is_counted_without_walking_its_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    def walked(*_: Any) -> None:
        raise AssertionError("an interval's starts were walked one by one")
    monkeypatch.setattr(IntervalSchedule, "next_after", walked)
    monkeypatch.setattr(IntervalSchedule, "first_after", walked)
    assert runs_in_day(IntervalSchedule(1000), T0 + 1000, Bounds(), T0) == 86_400
    assert runs_in_day(IntervalSchedule(7), T0 + 3, Bounds(), T0) == (86_400_000 - 3) // 7 + 1
    assert runs_in_day(IntervalSchedule(1000), T0 - 500, Bounds(max_runs=10), T0, started=4) == 6


def test_a_cron_count_is_cached_per_minute_and_schedule() -> None:
    projection_module._cron_count.cache_clear()
    schedule = load_schedule("* * * * *", None, "Europe/Paris")
    assert runs_in_day(schedule, None, Bounds(), T0) == 1440
    assert runs_in_day(schedule, None, Bounds(), T0 + 20_000) == 1440  # the same minute: the cache answers
    assert projection_module._cron_count.cache_info().hits == 1


@pytest.mark.parametrize("expression", ["* * * * *", "*/5 9-17 * * 1-5", "0 0 1,15 * 0", "0 0 L * *", "@daily",
                                        "*/20,*,4/1 * * * *", "0 *,5 * * *", "*/7 */3 * * *", "30 2 * * *",
                                        "0 0 1-7 * 1", "*/13 1-4 10-20 * *"])
@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe"])
def test_a_cron_count_by_fields_equals_the_walk(expression: str, zone: str) -> None:
    schedule = load_schedule(expression, None, zone)
    # New Year, the night Paris springs forward (walked), a day in the Lord Howe half-hour shift, mid-year
    for start in (T0, 1_901_145_600_000 - 3 * HOUR_MS, 1_917_910_800_000, 1_908_000_000_000):
        low, high = start // 60_000, (start + 86_400_000) // 60_000
        assert projection_module._cron_count(expression, zone, low, high) == \
            projection_module._cron_walk(schedule, low, high), start


def test_a_day_with_a_dst_change_counts_its_real_starts() -> None:
    # Europe/Paris springs forward on 2030-03-31 at 02:00: 23 hourly starts fall in that local day,
    # but the next 24 h from midnight UTC still hold 24 hourly starts (instants, not wall times).
    schedule = load_schedule("0 * * * *", None, "Europe/Paris")
    assert runs_in_day(schedule, None, Bounds(), 1_901_145_600_000) == 24  # 2030-03-31T00:00:00Z
    daily = load_schedule("30 2 * * *", None, "Europe/Paris")  # 02:30 does not exist that night
    assert runs_in_day(daily, None, Bounds(), 1_901_145_600_000 - 2 * HOUR_MS) in (0, 1)


def test_the_usage_window_keeps_the_last_ten_reports() -> None:
    text = None
    for i in range(12):
        text = recent_usage.appended(text, 100 * i, 0.01 * i)
    assert len(json.loads(text or "")) == 10
    mean = recent_usage.average(text)
    assert mean is not None and mean.tokens == pytest.approx(650) and mean.cost == pytest.approx(0.065)
    assert recent_usage.average(None) is None and recent_usage.average("not json") is None


def test_tokens_and_cost_per_day_follow_the_runs_that_reported_usage(stack: dict[str, Any]) -> None:
    # Given an hourly job whose agent accepts each run and reports later (runs started by hand)
    stack["agent"].respond_with(202, body="working")
    job = create_job(stack, name="reporting", schedule=None, interval=HOUR_MS)
    assert job["projection"] == {"runsPerDay": 24, "tokensPerDay": None, "costUsdPerDay": None}
    usages = [{"inputTokens": 1000, "outputTokens": 200, "costUsd": 0.02},
              {"inputTokens": 600, "outputTokens": 200, "costUsd": 0.01}, None]
    for usage in usages:  # the last reports no usage: it does not dilute the average
        runtime.jobs().run_now(job["id"])
        drive(stack, 1)
        body = {"status": "succeeded", **({"usage": usage} if usage else {})}
        answer = report(stack, "complete", body, delivery(stack)["callbackToken"])
        assert answer.status_code == 200, answer.body
    # Then the projection is runsPerDay times the average of the runs that reported usage
    view = runtime.jobs().get(job["id"])
    assert view["projection"] == {"runsPerDay": 24, "tokensPerDay": pytest.approx(24 * 1000),
                                  "costUsdPerDay": pytest.approx(24 * 0.015)}
    assert len(json.loads(JobModel.get(job["id"]).recentUsage)) == 2


def test_the_preview_answers_runs_per_day(client: Any) -> None:
    answer = call(client, "POST", "/api/schedules/preview", {"schedule": "*/15 * * * *", "count": 2})
    assert answer.status_code == 200, answer.body
    assert json.loads(answer.body)["runsPerDay"] == 96
    bounded = call(client, "POST", "/api/schedules/preview", {"interval": 60_000, "maxRuns": 7})
    assert json.loads(bounded.body)["runsPerDay"] == 7
