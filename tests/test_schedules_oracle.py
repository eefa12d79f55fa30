"""CronSchedule against the brute-force oracle of tests/cron_oracle.py (which knows no croniter).

Hypothesis draws expressions, zones and start instants, mostly within a day or two of a DST
transition, and both sides list the occurrences in a bounded window after the start.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cron_oracle
from chalicelib.schedules import CronSchedule

UTC = UTC
# Sao Paulo observed DST until 2019; Lord Howe shifts by 30 min, Chatham at :45.
ZONE_YEARS = {
    "America/New_York": range(2019, 2031), "Europe/London": range(2019, 2031),
    "Australia/Lord_Howe": range(2019, 2031), "Asia/Kolkata": range(2019, 2031),
    "Pacific/Chatham": range(2019, 2031), "America/Sao_Paulo": range(2015, 2019),
    "Europe/Dublin": range(2023, 2027), "UTC": range(2023, 2029),
}
SETTINGS = settings(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def transitions(zone_name: str, year: int) -> tuple[datetime, ...]:
    """The instants (whole seconds, UTC) at which ``zone``'s offset changes during ``year``."""
    zone = ZoneInfo(zone_name)
    found, t = [], datetime(year, 1, 1, tzinfo=UTC)
    while t.year == year:
        nxt = t + timedelta(hours=6)
        if t.astimezone(zone).utcoffset() != nxt.astimezone(zone).utcoffset():
            lo, hi = int(t.timestamp()), int(nxt.timestamp())
            while hi - lo > 1:
                mid = (lo + hi) // 2
                same = datetime.fromtimestamp(mid, zone).utcoffset() == t.astimezone(zone).utcoffset()
                lo, hi = (mid, hi) if same else (lo, mid)
            found.append(datetime.fromtimestamp(hi, UTC))
        t = nxt
    return tuple(found)


@st.composite
def zone_and_start(draw: st.DrawFn, near_transition_weight: int = 4) -> tuple[str, datetime]:
    """A zone and a start instant, usually within hours of one of its DST transitions."""
    zone_name = draw(st.sampled_from(sorted(ZONE_YEARS)))
    year = draw(st.sampled_from(list(ZONE_YEARS[zone_name])))
    switches = transitions(zone_name, year)
    if switches and draw(st.integers(0, near_transition_weight)) > 0:
        base = draw(st.sampled_from(switches))
        hours = draw(st.sampled_from([3, 3, 26]))  # mostly close: frequent jobs must reach it
        start = base + timedelta(seconds=draw(st.integers(-hours * 3600, 3 * 3600)))
    else:
        start = datetime(year, 1, 1, tzinfo=UTC) + timedelta(seconds=draw(st.integers(0, 364 * 86400)))
    if draw(st.booleans()):
        start = start.replace(second=0)  # starts exactly on a minute, like previous occurrences
    return zone_name, start + timedelta(microseconds=draw(st.sampled_from([0, 0, 1, 500_000])))


def time_field(top: int, likely: list[int], steps: list[int]) -> st.SearchStrategy[str]:
    """minute/hour field text; ``likely`` values (the DST hours) are drawn more often."""
    value = st.one_of(st.sampled_from(likely), st.integers(0, top))
    return st.one_of(
        value.map(str),
        st.lists(value, min_size=2, max_size=3).map(lambda v: ",".join(map(str, v))),
        st.just("*"),
        st.sampled_from(steps).map(lambda k: f"*/{k}"),
        st.tuples(value, value).map(lambda p: f"{min(p)}-{max(p)}"),
        st.tuples(value, value, st.sampled_from(steps)).map(
            lambda p: f"{min(p[:2])}-{max(p[:2])}/{p[2]}"),
        st.tuples(value, st.sampled_from(steps)).map(lambda p: f"{p[0]}/{p[1]}"),
        st.tuples(value, value).map(lambda p: f"{max(p)}-{min(p)}"),  # wraps round (or a-a)
    )


DAY_OF_MONTH = st.sampled_from(["*", "*/2", "?", "1-15", "10-31", "L", "1,L", "28-3", "2/3", "*"])
MONTH = st.sampled_from(["*", "*", "*", "*/1", "jan-dec", "3,10,11", "nov-apr", "mar-oct/2"])
DAY_OF_WEEK = st.sampled_from(["*", "1-5", "*/2", "?", "mon-fri", "0,6", "sat-sun", "1-7/2",
                               "0-7", "7", "tue/2", "fri-mon", "SUN", "*"])
EXPRESSION = st.one_of(
    st.tuples(time_field(59, [0, 15, 30, 45, 59], [1, 2, 5, 7, 10, 15, 20, 30, 45]),
              time_field(23, [0, 1, 2, 3, 23], [1, 2, 3, 4, 6, 7, 12]),
              DAY_OF_MONTH, MONTH, DAY_OF_WEEK).map(" ".join),
    st.sampled_from(["@daily", "@hourly", "@midnight", "@weekly", "@monthly", "@yearly"]),
)


def implementation(expression: str, zone: ZoneInfo, after: datetime, until: datetime,
                   limit: int) -> list[datetime]:
    """Occurrences in (after, until] by chaining CronSchedule.next_after."""
    schedule, t = CronSchedule(expression, zone), after
    found: list[datetime] = []
    while len(found) < limit:
        following = schedule.next_after(t)
        if following is None or following > until:
            break
        found.append(t := following)
    return found


def check(expression: str, zone_name: str, start: datetime, days: int, limit: int) -> None:
    """Both sides agree on the first ``limit`` occurrences within ``days`` of ``start``."""
    zone, until = ZoneInfo(zone_name), start + timedelta(days=days)
    expected = cron_oracle.occurrences(expression, zone, start, until, limit)
    actual = implementation(expression, zone, start, until, limit)
    assert actual == expected, (
        f"{expression!r} in {zone_name} after {start.isoformat()}\n"
        f"oracle: {[t.astimezone(zone).isoformat() for t in expected]}\n"
        f"actual: {[t.astimezone(zone).isoformat() for t in actual]}")


@settings(SETTINGS, max_examples=200)
@given(EXPRESSION, zone_and_start())
def test_matches_oracle_near_dst_transitions(expression: str, zone_start: tuple[str, datetime]) -> None:
    check(expression, *zone_start, days=2, limit=40)


SHAPES = ["{m} {h} * * *", "{m},{m2} {h} * * *", "{m} {h},{h2} * * *", "{m} {h}-{h2} * * *",
          "*/{k} {h} * * *", "{m} * * * *", "*/{k} * * * *", "{m} */2 * * *", "{m}-{m2} {h} * * *"]


@st.composite
def dst_case(draw: st.DrawFn) -> tuple[str, str, datetime]:
    """An expression whose hours straddle one DST switch, and a start up to a day before it."""
    zone_name = draw(st.sampled_from([z for z in sorted(ZONE_YEARS) if transitions(z, ZONE_YEARS[z][0])]))
    year = draw(st.sampled_from(list(ZONE_YEARS[zone_name])))
    switch = draw(st.sampled_from(transitions(zone_name, year)))
    zone = ZoneInfo(zone_name)
    hours = sorted({(switch + timedelta(minutes=d)).astimezone(zone).hour for d in (-61, -1, 0, 45)})
    h, m, m2 = draw(st.sampled_from(hours)), draw(st.sampled_from([0, 15, 30, 45, 59])), draw(st.integers(0, 59))
    expression = draw(st.sampled_from(SHAPES)).format(
        m=m, m2=m2, h=h, h2=(h + 1) % 24, k=draw(st.sampled_from([1, 7, 15, 20, 30])))
    start = switch + timedelta(seconds=draw(st.integers(-26 * 3600, 2 * 3600)))
    return expression, zone_name, start.replace(second=draw(st.sampled_from([0, start.second])))


@settings(SETTINGS, max_examples=150)
@given(dst_case())
def test_matches_oracle_at_the_dst_hours(case: tuple[str, str, datetime]) -> None:
    check(*case, days=2, limit=40)


SPECIAL_DAYS = st.one_of(
    st.tuples(st.sampled_from(["L", "15W", "1W", "31W", "30W", "1,L", "l"]), st.just("*")),
    st.tuples(st.sampled_from(["*", "?"]),
              st.sampled_from(["5#2", "fri#1", "0#5", "7#1", "1#1,3#3", "5L", "L0", "friL", "1#5,2L"])),
    st.tuples(st.just("L"), st.sampled_from(["1", "sat", "1-5"])),  # OR: last day or weekday
)


@settings(SETTINGS, max_examples=25)
@given(st.sampled_from(["0 0", "30 2", "*/30 1", "0 */6", "45 23"]), SPECIAL_DAYS,
       st.sampled_from(["*", "*", "2", "feb-mar", "10,11"]), zone_and_start(near_transition_weight=1))
def test_matches_oracle_with_l_w_and_hash(time: str, days: tuple[str, str], month: str,
                                         zone_start: tuple[str, datetime]) -> None:
    check(f"{time} {days[0]} {month} {days[1]}", *zone_start, days=35, limit=3)


@settings(SETTINGS, max_examples=20)
@given(st.sampled_from(["0 12 29 2 *", "*/30 0-1 29 2 *", "30 2 29 feb ?", "0 0 28-29 2 *"]),
       st.sampled_from(sorted(ZONE_YEARS)), st.integers(2019, 2033), st.integers(0, 10 * 86400))
def test_matches_oracle_on_leap_days(expression: str, zone_name: str, year: int, offset: int) -> None:
    start = datetime(year, 2, 20, tzinfo=UTC) + timedelta(seconds=offset)
    check(expression, zone_name, start, days=10, limit=3)
