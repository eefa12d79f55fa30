"""chalicelib.schedules: validation, the three kinds of schedule, and cron across DST."""
from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

import cron_oracle
from chalicelib.errors import InvalidSchedule
from chalicelib.schedules import (
    CronSchedule,
    IntervalSchedule,
    OnceSchedule,
    Schedule,
    load_schedule,
    parse_schedule,
    validate_timezone,
)

UTC = UTC
NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SETTINGS = settings(deadline=None, database=None)


def parse(schedule: object = None, interval: object = None, tz: str = "UTC",
          min_interval_ms: int = 1000) -> Any:
    """parse_schedule at NOW, in UTC unless told (Any: tests read each kind's own attributes)."""
    return parse_schedule(schedule, interval, tz, NOW, min_interval_ms)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
        microsecond: int = 0) -> datetime:
    """An aware UTC datetime."""
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


def chain(schedule: Schedule, start: datetime, count: int) -> list[datetime]:
    """``count`` successive occurrences after ``start``."""
    out, t = [], start
    for _ in range(count):
        following = schedule.next_after(t)
        assert following is not None
        out.append(t := following)
    return out


def rejected(field: str, *args: Any, **kwargs: Any) -> str:
    """The message of the InvalidSchedule that parse(...) raises, checking its field."""
    with pytest.raises(InvalidSchedule) as caught:
        parse(*args, **kwargs)
    assert caught.value.field == field
    assert caught.value.status == 400
    return caught.value.message


# --- validation ---------------------------------------------------------------------------

def test_exactly_one_of_schedule_or_interval() -> None:
    assert "exactly one of schedule or interval is required" in rejected("schedule")
    assert "both" in rejected("schedule", "@daily", 60_000)


@pytest.mark.parametrize("interval", [True, False, "60000", 60000.0, 1.5, [1], {"ms": 1}])
def test_interval_must_be_a_real_int(interval: object) -> None:
    assert "integer" in rejected("interval", None, interval)


def test_interval_limits() -> None:
    assert "at least 1000" in rejected("interval", None, 999)
    assert "at least" in rejected("interval", None, -5)
    assert "at most" in rejected("interval", None, 315_360_000_001)
    assert parse(None, 1000).interval_ms == 1000
    assert parse(None, 315_360_000_000).interval_ms == 315_360_000_000
    assert parse(None, 5, min_interval_ms=5).interval_ms == 5


@pytest.mark.parametrize("name", [None, 3, "", "localtime", "/etc/localtime", "../etc/passwd",
                                  "America/../UTC", "Not/AZone", "A" * 65, "utc ", "posix/UTC",
                                  "America/New_York\x00", "right/UTC", "Europe\\London"])
def test_bad_timezones(name: object) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        validate_timezone(name)
    assert caught.value.field == "timezone"
    if isinstance(name, str):
        rejected("timezone", "@daily", None, name)


@pytest.mark.parametrize("name", ["UTC", "America/New_York", "Europe/London", "Asia/Kolkata",
                                  "America/Argentina/Buenos_Aires", "Etc/GMT+5"])
def test_good_timezones(name: str) -> None:
    assert validate_timezone(name).key == name


@pytest.mark.parametrize("schedule", [5, 1.0, ["@daily"], {"cron": "@daily"}, True])
def test_schedule_must_be_a_string(schedule: object) -> None:
    assert "string" in rejected("schedule", schedule)


def test_schedule_length_limit() -> None:
    assert "256" in rejected("schedule", "0 0 * * " + "1," * 130 + "1")


@pytest.mark.parametrize("text", ["", "   ", "tomorrow", "2027-13-01", "2027-02-30T10:00",
                                  "now", "12:00", "2027-01-01T25:00"])
def test_unparsable_schedule(text: str) -> None:
    assert "not a 5-field cron expression or an ISO-8601 date-time" in rejected("schedule", text)


@pytest.mark.parametrize("expression, reason", [
    ("*/61 * * * *", "minute step 61 is larger than its range 0-59"), ("*/60 * * * *", "minute step 60"),
    ("0-30/60 * * * *", "minute step 60"), ("5/75 * * * *", "minute step 75"),
    ("0 */24 * * *", "hour step 24 is larger than its range 0-23"),
    ("0 0 */32 * *", "day-of-month step 32 is larger than its range 1-31"),
    ("0 0 * */13 *", "month step 13 is larger than its range 1-12"), ("0 0 * jan-mar/13 *", "month step 13"),
    ("0 0 * * */8", "day-of-week step 8 is larger than its range 0-7"), ("0 0 * * 1-5/9", "day-of-week step 9"),
    ("*/1000000000000000000000 * * * *", "minute step"),
])
def test_a_step_larger_than_its_field_is_refused(expression: str, reason: str) -> None:
    # Review issue 23, finding 16: '*/61' was taken and fired at :00 only, though '61' is refused.
    message = rejected("schedule", expression)
    assert reason in message and "cron" in message
    with pytest.raises(InvalidSchedule):
        load_schedule(expression, None, "UTC")


@pytest.mark.parametrize("expression, first", [
    ("*/59 * * * *", utc(2026, 6, 1, 12, 59)), ("0 */23 * * *", utc(2026, 6, 1, 23)),
    ("0 0 */31 * *", utc(2026, 7, 1)), ("0 0 1 */12 *", utc(2027, 1, 1)),
    ("0 0 * * */7", utc(2026, 6, 7)), ("10-50/40 * * * *", utc(2026, 6, 1, 12, 10))])
def test_a_step_up_to_its_fields_highest_value_is_taken(expression: str, first: datetime) -> None:
    # The bound is the field's highest value, as for a plain value (2026-06-07 is a Sunday).
    assert parse(expression).first_after(NOW) == first


@pytest.mark.parametrize("expression, reason", [
    ("0 0 * * * *", "exactly 5 fields"), ("0 0 0 * * * 2030", "exactly 5 fields"),
    ("0 0 * *", "exactly 5 fields"), ("* * *", "exactly 5 fields"),
    ("0 0 31 2 *", "never fires"), ("0 0 30 2 *", "never fires"), ("0 0 31 4,6,9,11 *", "never"),
    ("H * * * *", "not a number"), ("H(0-29) * * * *", "not understood"), ("R * * * *", "not a number"),
    ("0 H * * *", "not a number"), ("@reboot", "unknown macro"), ("@every 5m", "unknown macro"),
    ("60 * * * *", "outside 0-59"), ("0 24 * * *", "outside 0-23"), ("0 0 0 * *", "outside 1-31"),
    ("0 0 32 * *", "outside"), ("0 0 * 13 *", "outside 1-12"), ("0 0 * 0 *", "outside"),
    ("0 0 * * 8", "outside 0-7"), ("*/0 * * * *", "at least 1"), ("0 0 * foo *", "not a number"),
    ("-1 * * * *", "not understood"), ("5-1/2 * * * *", "wraps around"), ("0 0 * * 7-2", "start at 7"),
    ("0 0 * * 7/2", "start at 7"), ("0 0 15W * 1", "other day field"), ("0 0 1 * 5#2", "other day"),
    ("0 0 */2 * 5L", "other day field"), ("0 0 15W,20W * *", "only entry"), ("0 0 * * 1#6", "1-5"),
    ("0 0 * * 1,2#2", "mix"), ("0 ? * * *", "only allowed in day"), ("0 0 LW * *", "not"),
    ("0 0 * * L", "not a number"), ("1,,2 * * * *", "not understood"), ("0 0 * * mon-fri#2", "not"),
    ("*-5 * * * *", "not understood"), ("٣ * * * *", "not"), ("0 0 1-L * *", "not"),
])
def test_invalid_cron(expression: str, reason: str) -> None:
    message = rejected("schedule", expression)
    assert reason in message and "cron" in message


@pytest.mark.parametrize("macro, fields, fixed", [
    ("@yearly", "0 0 1 1 *", True), ("@annually", "0 0 1 1 *", True), ("@monthly", "0 0 1 * *", True),
    ("@weekly", "0 0 * * 0", True), ("@daily", "0 0 * * *", True), ("@midnight", "0 0 * * *", True),
    ("@hourly", "0 * * * *", False), ("@DAILY", "0 0 * * *", True),
])
def test_macros(macro: str, fields: str, fixed: bool) -> None:
    schedule = parse(macro)
    assert isinstance(schedule, CronSchedule) and schedule.kind == "cron"
    assert (schedule.expression, schedule.fixed_time) == (fields, fixed)


@pytest.mark.parametrize("expression, fixed", [
    ("30 1 * * *", True), ("0 9,17 * * 1-5", True), ("0-59 1 * * *", True), ("5 0-23/2 * * *", True),
    ("*/15 * * * *", False), ("0 */4 * * *", False), ("*/5 1 * * *", False), ("0 * * * *", False),
    ("* 3 * * *", False), ("*/1 5 * * *", False),
])
def test_fixed_time_is_the_vixie_rule(expression: str, fixed: bool) -> None:
    assert CronSchedule(expression, NY).fixed_time is fixed


def test_valid_cron_forms() -> None:
    for expression in ["0 0 29 2 *", "0 0 L * *", "0 0 15W * ?", "0 0 ? * FRI#2", "0 0 * * 5L",
                       "0 0 * * L5", "0 0 * * 1#1,3#3", "0 0 * JAN-MAR MON", "  0   0 * * *  ",
                       "0 0 1,L * *", "59/15 * * * *", "0 22-2 * * *", "0 0 * * 0-7", "0 0 * * 7",
                       "0 0 * 2 1#5", "5-5 * * * *", "0 0 28-3 * *"]:
        assert parse(expression).kind == "cron", expression
    assert parse("  0   0 * * *  ").expression == "0 0 * * *"


def test_leap_day_is_valid_and_fires_in_leap_years() -> None:
    schedule = parse("0 0 29 2 *")
    assert schedule.next_after(utc(2026, 1, 1)) == utc(2028, 2, 29)
    assert schedule.next_after(utc(2028, 2, 29)) == utc(2032, 2, 29)
    assert schedule.next_after(utc(2096, 3, 1)) == utc(2104, 2, 29)  # 2100 is not a leap year


def test_equal_range_means_that_value_not_the_whole_field() -> None:
    # croniter alone reads "5-5" as every minute
    assert chain(parse("5-5 * * * *"), utc(2026, 1, 1), 2) == [utc(2026, 1, 1, 0, 5), utc(2026, 1, 1, 1, 5)]
    assert croniter("5-5 * * * *", datetime(2026, 1, 1)).get_next(datetime) == datetime(2026, 1, 1, 0, 1)


def test_day_fields_or_when_both_restricted_and_when_either_starts_with_star() -> None:
    either = parse("0 12 13 * 5")  # the 13th or any Friday
    assert chain(either, utc(2026, 2, 1), 3) == [utc(2026, 2, 6, 12), utc(2026, 2, 13, 12), utc(2026, 2, 20, 12)]
    both = parse("0 12 */2 * 5")  # Vixie: odd days that are Fridays
    assert chain(both, utc(2026, 2, 1), 2) == [utc(2026, 2, 13, 12), utc(2026, 2, 27, 12)]


def test_l_w_and_hash() -> None:
    assert parse("0 0 L 2 *").next_after(utc(2028, 1, 1)) == utc(2028, 2, 29)
    assert chain(parse("0 0 1W * *"), utc(2026, 1, 31), 2) == [utc(2026, 2, 2), utc(2026, 3, 2)]  # 1sts: Sundays
    assert parse("0 0 * * fri#2").next_after(utc(2026, 1, 1)) == utc(2026, 1, 9)
    assert parse("0 0 * * 5L").next_after(utc(2026, 1, 1)) == utc(2026, 1, 30)


# --- ISO-8601 single runs -----------------------------------------------------------------

def test_iso_with_z_and_offset() -> None:
    assert parse("2027-01-01T09:00:00Z").at == utc(2027, 1, 1, 9)
    assert parse("2027-01-01T09:00:00.250z").at == utc(2027, 1, 1, 9, 0, 0, 250_000)
    assert parse("2027-01-01T09:00:00+02:00", tz="America/New_York").at == utc(2027, 1, 1, 7)


def test_naive_iso_is_in_the_jobs_timezone() -> None:
    once = parse("2027-01-01T09:00:00", tz="America/New_York")
    assert isinstance(once, OnceSchedule) and once.kind == "once"
    assert once.at == utc(2027, 1, 1, 14) and once.at.tzinfo is UTC
    assert parse("2027-07-01 09:00", tz="America/New_York").at == utc(2027, 7, 1, 13)
    assert parse("2027-01-01", tz="Asia/Kolkata").at == utc(2026, 12, 31, 18, 30)  # local midnight


def test_naive_iso_across_dst() -> None:
    assert parse("2026-11-01T01:30:00", tz="America/New_York").at == utc(2026, 11, 1, 5, 30)  # first
    message = rejected("schedule", "2027-03-14T02:30:00", tz="America/New_York")
    assert "does not exist in America/New_York" in message


def test_past_iso_is_rejected() -> None:
    assert "in the past" in rejected("schedule", "2026-06-01T12:00:00Z")  # == now
    assert "in the past" in rejected("schedule", "2020-01-01T00:00:00Z")
    assert parse("2026-06-01T12:00:00.001Z").at == NOW + timedelta(milliseconds=1)


def test_out_of_range_iso_is_unparsable_not_a_crash() -> None:
    rejected("schedule", "9999-12-31T23:00:00", tz="America/New_York")


def test_once_semantics() -> None:
    once = OnceSchedule(utc(2027, 1, 1))
    assert once.first_after(utc(2026, 1, 1)) == utc(2027, 1, 1)
    assert once.first_after(utc(2027, 1, 1)) is None
    assert once.next_after(utc(2026, 12, 31)) == utc(2027, 1, 1)
    assert once.next_after(utc(2027, 1, 1)) is None


def test_load_schedule_skips_request_time_checks() -> None:
    once, every, daily = (load_schedule("2020-01-01T00:00:00Z", None, "UTC"), load_schedule(None, 5, "UTC"),
                          load_schedule("@daily", None, "America/New_York"))
    assert isinstance(once, OnceSchedule) and once.at == utc(2020, 1, 1)
    assert isinstance(every, IntervalSchedule) and every.interval_ms == 5
    assert isinstance(daily, CronSchedule) and daily.zone == NY
    with pytest.raises(InvalidSchedule):
        load_schedule("0 0 31 2 *", None, "UTC")


# --- intervals ----------------------------------------------------------------------------

def test_interval_semantics() -> None:
    every = parse(None, 90_000)
    assert isinstance(every, IntervalSchedule) and every.kind == "interval"
    start = datetime(2026, 1, 1, 0, 0, 0, 123_000, tzinfo=ZoneInfo("Europe/Paris"))
    first = every.first_after(start)
    assert first == start + timedelta(seconds=90)
    assert first is not None and first.tzinfo is UTC
    assert every.next_after(utc(2026, 1, 1)) == utc(2026, 1, 1, 0, 1, 30)


def test_an_interval_past_year_9999_has_no_next_occurrence() -> None:
    # Review issue 23, finding 11: the step past the last representable instant raised
    # OverflowError (a preview's 500; a tick's crash on a job whose startAt is 9999-12-31).
    every = parse(None, 60_000)
    last = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert every.next_after(last) is None and every.first_after(last) is None
    assert every.next_after(last - timedelta(minutes=2)) == last - timedelta(minutes=1)


def test_naive_datetimes_are_refused() -> None:
    for schedule in (parse("@daily"), parse(None, 1000), parse("2027-01-01T00:00:00Z")):
        with pytest.raises(ValueError):
            schedule.next_after(datetime(2026, 1, 1))


# --- cron and DST (America/New_York: 2026-03-08 springs forward, 2026-11-01 falls back) ----

def test_cron_results_are_aware_utc_whole_seconds() -> None:
    t = CronSchedule("*/7 * * * *", NY).next_after(datetime(2026, 1, 1, 0, 0, 3, 999, tzinfo=UTC))
    assert t == utc(2026, 1, 1, 0, 7) and t.tzinfo is UTC and t.microsecond == 0
    assert CronSchedule("* * * * *", NY).first_after(utc(2026, 1, 1, 0, 0, 0)) == utc(2026, 1, 1, 0, 1)


def test_fixed_time_fires_once_on_fall_back_day() -> None:
    daily = CronSchedule("30 1 * * *", NY)
    assert chain(daily, utc(2026, 10, 31, 12), 3) == [
        utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30), utc(2026, 11, 3, 6, 30)]
    # created during the repeated hour, after 01:30 EDT fired: nothing again at 01:30 EST
    assert daily.first_after(utc(2026, 11, 1, 6, 10)) == utc(2026, 11, 2, 6, 30)
    assert daily.first_after(utc(2026, 11, 1, 5, 10)) == utc(2026, 11, 1, 5, 30)


def test_croniter_alone_fires_twice_on_fall_back_day() -> None:
    """The bug the wall-clock mapping exists for (MEASURED.md): croniter 7 with an aware start."""
    alone = croniter("30 1 * * *", datetime(2026, 10, 31, 12, tzinfo=NY))
    fired = [alone.get_next(datetime).astimezone(UTC) for _ in range(2)]
    assert fired == [utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30)]  # twice in one local day
    assert CronSchedule("30 1 * * *", NY).next_after(fired[0]) == utc(2026, 11, 2, 6, 30)


def test_fixed_time_in_the_gap_fires_when_the_gap_ends() -> None:
    assert chain(CronSchedule("30 2 * * *", NY), utc(2026, 3, 7, 12), 2) == [
        utc(2026, 3, 8, 7), utc(2026, 3, 9, 6, 30)]
    # two wall times ending at the same instant fire once
    assert chain(CronSchedule("0 2,3 * * *", NY), utc(2026, 3, 7, 12), 3) == [
        utc(2026, 3, 8, 7), utc(2026, 3, 9, 6), utc(2026, 3, 9, 7)]


def test_wildcard_keeps_real_time_cadence_across_both_transitions() -> None:
    half_hourly = CronSchedule("*/30 * * * *", NY)
    for start in (utc(2026, 3, 8, 5), utc(2026, 11, 1, 4)):
        fired = chain(half_hourly, start, 8)
        assert all(b - a == timedelta(minutes=30) for a, b in pairwise([start, *fired]))
    local = [t.astimezone(NY).strftime("%H:%M %Z") for t in chain(half_hourly, utc(2026, 11, 1, 4, 45), 5)]
    assert local == ["01:00 EDT", "01:30 EDT", "01:00 EST", "01:30 EST", "02:00 EST"]
    assert CronSchedule("*/5 2 * * *", NY).next_after(utc(2026, 3, 8, 6, 58)) == utc(2026, 3, 9, 6)


def test_lord_howe_half_hour_shift() -> None:
    howe = ZoneInfo("Australia/Lord_Howe")  # 2026-04-05 02:00 +11 -> 01:30 +10:30
    assert chain(CronSchedule("45 1 * * *", howe), utc(2026, 4, 4, 12), 2) == [
        utc(2026, 4, 4, 14, 45), utc(2026, 4, 5, 15, 15)]


def test_next_after_is_fast() -> None:
    schedules = [CronSchedule("*/15 * * * *", NY), CronSchedule("0 9 * * 1-5", NY), CronSchedule("@daily", NY)]
    calls, started, t = 0, time.perf_counter(), utc(2026, 1, 1)
    for schedule in schedules:
        for _ in range(300):
            following = schedule.next_after(t)
            assert following is not None
            t, calls = following, calls + 1
    assert (time.perf_counter() - started) / calls < 0.001  # ~0.1 ms unloaded; generous for CI


# --- properties ---------------------------------------------------------------------------

ZONE_YEARS = {"America/New_York": [2026, 2027, 2028], "Europe/London": [2024, 2026],
              "Australia/Lord_Howe": [2025, 2028], "Asia/Kolkata": [2024, 2026],
              "Pacific/Chatham": [2026, 2028], "America/Sao_Paulo": [2015, 2016, 2017, 2018]}
ZONE_START = st.sampled_from(sorted(ZONE_YEARS)).flatmap(lambda z: st.tuples(
    st.just(z), st.sampled_from(ZONE_YEARS[z]), st.integers(0, 364 * 86400)))
MINUTE = st.one_of(st.sampled_from(["0", "15", "30", "45", "59", "*/10", "*/30", "*", "0,30"]),
                   st.integers(0, 59).map(str))
HOUR = st.one_of(st.sampled_from(["0", "1", "2", "3", "23", "*", "*/2", "1-3", "0,2"]),
                 st.integers(0, 23).map(str))


def _start(zone_start: tuple[str, int, int]) -> tuple[ZoneInfo, datetime]:
    zone, year, offset = zone_start
    return ZoneInfo(zone), utc(year, 1, 1) + timedelta(seconds=offset)


@settings(SETTINGS, max_examples=60)
@given(MINUTE, HOUR, st.sampled_from(["*", "*/2", "L", "1-15"]), ZONE_START)
def test_occurrences_strictly_increase_and_never_fall_in_a_gap(
        minute: str, hour: str, dom: str, zone_start: tuple[str, int, int]) -> None:
    zone, start = _start(zone_start)
    schedule = CronSchedule(f"{minute} {hour} {dom} * *", zone)
    spec = cron_oracle.parse(schedule.expression)
    previous = start
    for t in chain(schedule, start, 40):
        assert t > previous and t.tzinfo is UTC and t.second == t.microsecond == 0
        local = t.astimezone(zone)
        round_trip = local.replace(tzinfo=None).replace(tzinfo=zone, fold=local.fold)
        assert round_trip.astimezone(UTC) == t  # a real wall time, not one inside a gap
        if not schedule.fixed_time or (t - timedelta(seconds=1)).astimezone(zone).utcoffset() == local.utcoffset():
            assert cron_oracle.wall_matches(spec, local.replace(tzinfo=None))  # else: a gap's end
        previous = t


def _dst_days(zone: ZoneInfo, year: int) -> list[date]:
    """Local dates in ``year`` on which ``zone``'s UTC offset changes (or [Jan 1] if never)."""
    days, d = [], date(year, 1, 1)
    while d.year == year:
        noon = datetime(d.year, d.month, d.day, 12, tzinfo=zone)
        if (noon - timedelta(days=1)).utcoffset() != noon.utcoffset():
            days.append(d)
        d += timedelta(days=1)
    return days or [date(year, 1, 1)]


@settings(SETTINGS, max_examples=60)
@given(st.integers(0, 59), st.one_of(st.integers(0, 3), st.integers(0, 23)),
       st.sampled_from(["*", "1-5", "0,6", "*/2"]), ZONE_START)
def test_fixed_time_jobs_run_once_per_matching_local_day(
        minute: int, hour: int, dow: str, zone_start: tuple[str, int, int]) -> None:
    zone, year = ZoneInfo(zone_start[0]), zone_start[1]
    day = _dst_days(zone, year)[zone_start[2] % len(_dst_days(zone, year))]
    first, last = day - timedelta(days=3), day + timedelta(days=3)
    expression = f"{minute} {hour} * * {dow}"
    spec = cron_oracle.parse(expression)
    start = datetime(first.year, first.month, first.day, tzinfo=zone).astimezone(UTC) - timedelta(seconds=1)
    fired = [t.astimezone(zone).date() for t in chain(CronSchedule(expression, zone), start, 8)]
    fired = [d for d in fired if d <= last]
    expected = [first + timedelta(days=i) for i in range(7)]
    assert fired == [d for d in expected if cron_oracle.day_matches(spec, d)]


# --- a wildcard cron whose every match falls in a DST gap (docs/reliability.md, section 8, item 8)

GAP_ONLY = "*/30 2 * 3 0#2"  # 02:00 and 02:30 on New York's spring-forward Sunday: never real


def test_wildcard_cron_only_in_dst_gaps_is_a_400_after_bounded_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """It used to walk croniter to year 9999 (~1.4 s of CPU) and raise ValueError (a 500)."""
    calls: list[datetime] = []
    original = CronSchedule._match_after

    def counted(self: CronSchedule, wall: datetime) -> datetime:
        calls.append(wall)
        return original(self, wall)
    monkeypatch.setattr(CronSchedule, "_match_after", counted)
    assert "never fires" in rejected("schedule", GAP_ONLY, tz="America/New_York")
    assert 0 < len(calls) <= 64  # a handful of gaps, not 8,000 years of them


def test_stored_gap_only_cron_has_no_next_occurrence() -> None:
    """A stored job with such a schedule (written before the check) plans nothing and raises nothing."""
    schedule = load_schedule(GAP_ONLY, None, "America/New_York")
    assert schedule.next_after(NOW) is None
    assert load_schedule(GAP_ONLY, None, "UTC").next_after(NOW) == utc(2027, 3, 14, 2)  # real in UTC
