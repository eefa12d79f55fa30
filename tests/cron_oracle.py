"""An independent cron oracle for the tests, written WITHOUT croniter on purpose.

It parses the 5-field syntax itself and finds occurrences by brute force, stepping through
every real UTC minute and applying the DST rules of README, "Scheduling" directly:

* wildcard job (minute or hour field starts with ``*``): every instant whose local wall time
  matches;
* fixed-time job: an instant fires when the local clock *first reaches* a matching wall time,
  i.e. when a matching wall time lies in (highest wall time shown so far, wall time now]. That is
  the first instant of an ambiguous time, the end of the gap for a skipped one, and one firing
  when several skipped times end at the same instant.

Semantics of the syntax (Vixie cron plus the Quartz-style extensions the service accepts):
``*``, ``a``, ``a-b`` (a > b wraps round, without a step), ``/s`` steps from the start of the
range (``a/s`` = from ``a`` to the field's top; top of day-of-week is 6), lists, month and day
names, day-of-week 7 = Sunday, ``?`` = ``*`` in the day fields; ``L`` = last day of the month,
``nW`` = the weekday nearest day n (n clamped to the month's length, never leaving the month),
``d#k`` = k-th weekday d of the month, ``dL``/``Ld`` = its last weekday d. Day-of-month and
day-of-week must both match when either starts with ``*`` (or is ``?``), else either matches.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
          "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
          "@hourly": "0 * * * *"}
MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class Spec:
    """A parsed cron expression: plain sets plus the day-of-month/day-of-week extras."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    last_day: bool
    nearest: int | None
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    nth: frozenset[tuple[int, int]]  # (weekday, k)
    last_weekdays: frozenset[int]
    day_and: bool
    fixed_time: bool


def _number(token: str, names: list[str], offset: int) -> int:
    """A number, or a name's position plus ``offset`` (1 for months, 0 for days)."""
    if token.isdigit():
        return int(token)
    return names.index(token) + offset


def _values(text: str, low: int, top: int, names: list[str], offset: int) -> set[int]:
    """Expand a plain field (lists, ranges, wrap-around ranges, steps) to its values."""
    out: set[int] = set()
    for item in text.split(","):
        body, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if body == "*":
            start, end = low, top
        elif "-" in body:
            a, b = body.split("-")
            start, end = _number(a, names, offset), _number(b, names, offset)
        else:
            start = _number(body, names, offset)
            end = top if step_text else start
        if start <= end:
            out.update(range(start, end + 1, step))
        else:  # wrap round: start..top then low..end
            out.update(range(start, top + 1))
            out.update(range(low, end + 1))
    return out


def _day_of_month(dom: str) -> tuple[set[int], bool, int | None]:
    """(plain days, whether ``L`` is listed, the ``nW`` day) of a day-of-month field."""
    if dom in ("*", "?"):
        return set(range(1, 32)), False, None
    if dom.endswith("w"):
        return set(), False, int(dom[:-1])
    items = dom.split(",")
    plain = ",".join(i for i in items if i != "l")
    return (_values(plain, 1, 31, [], 0) if plain else set()), "l" in items, None


def _day_of_week(dow: str) -> tuple[set[int], set[tuple[int, int]], set[int]]:
    """(plain weekdays, ``d#k`` pairs, ``dL`` weekdays) of a day-of-week field, Sunday = 0."""
    weekdays, nth, last = set(), set(), set()
    for item in ("*" if dow == "?" else dow).split(","):
        if "#" in item:
            d, k = item.split("#")
            nth.add((_number(d, DAY_NAMES, 0) % 7, int(k)))
        elif item.startswith("l") or item.endswith("l"):  # no day name ends in "l"
            last.add(_number(item.strip("l"), DAY_NAMES, 0) % 7)
        else:
            weekdays |= {v % 7 for v in _values(item, 0, 6, DAY_NAMES, 0)}
    return weekdays, nth, last


def parse(expression: str) -> Spec:
    """Parse a (valid) 5-field expression or macro."""
    text = MACROS.get(expression.strip().lower(), expression.strip().lower())
    minute, hour, dom, month, dow = text.split()
    days, last_day, nearest = _day_of_month(dom)
    weekdays, nth, last_weekdays = _day_of_week(dow)
    return Spec(
        minutes=frozenset(_values(minute, 0, 59, [], 0)),
        hours=frozenset(_values(hour, 0, 23, [], 0)),
        days=frozenset(days), last_day=last_day, nearest=nearest,
        months=frozenset(_values(month, 1, 12, MONTH_NAMES, 1)),
        weekdays=frozenset(weekdays), nth=frozenset(nth), last_weekdays=frozenset(last_weekdays),
        day_and=dom.startswith("*") or dom == "?" or dow.startswith("*") or dow == "?",
        fixed_time=not minute.startswith("*") and not hour.startswith("*"),
    )


def nearest_weekday(year: int, month: int, day: int) -> int:
    """The Monday-Friday day nearest ``day`` (clamped to the month) without leaving the month."""
    last = calendar.monthrange(year, month)[1]
    day = min(day, last)
    weekday = calendar.weekday(year, month, day)  # Monday = 0
    if weekday == 5:
        return day - 1 if day > 1 else day + 2
    if weekday == 6:
        return day + 1 if day < last else day - 2
    return day


def day_matches(spec: Spec, d: date) -> bool:
    """Whether local date ``d`` is one of the expression's days."""
    if d.month not in spec.months:
        return False
    last = calendar.monthrange(d.year, d.month)[1]
    by_dom = (d.day in spec.days or (spec.last_day and d.day == last)
              or (spec.nearest is not None and d.day == nearest_weekday(d.year, d.month, spec.nearest)))
    weekday = (d.weekday() + 1) % 7
    by_dow = (weekday in spec.weekdays or (weekday, (d.day - 1) // 7 + 1) in spec.nth
              or (weekday in spec.last_weekdays and d.day + 7 > last))
    return (by_dom and by_dow) if spec.day_and else (by_dom or by_dow)


def wall_matches(spec: Spec, wall: datetime) -> bool:
    """Whether a local wall time (whole minute) matches the expression."""
    return (wall.minute in spec.minutes and wall.hour in spec.hours
            and day_matches(spec, wall.date()))


def occurrences(expression: str, zone: ZoneInfo, after: datetime, until: datetime,
                limit: int) -> list[datetime]:
    """Up to ``limit`` occurrences in (after, until], by stepping every real UTC minute.

    Wall times are kept as datetimes in ``zone``: Python compares two datetimes that share a
    tzinfo as wall-clock times, ignoring offsets and fold, which is exactly what is wanted here.
    """
    spec = parse(expression)
    low, high = after.timestamp(), until.timestamp()
    second = int(low) // 60 * 60 - 4 * 3600  # warm up 4 h early, so `reached` is right
    reached = datetime.fromtimestamp(second, zone)  # highest wall time shown so far
    found: list[datetime] = []
    while second + 60 <= high and len(found) < limit:
        second += 60
        wall = datetime.fromtimestamp(second, zone)
        if spec.fixed_time:
            fires = wall > reached and _any_match(spec, reached, wall)
        else:
            fires = wall_matches(spec, wall)
        reached = max(reached, wall)
        if fires and second > low:
            found.append(datetime.fromtimestamp(second, UTC))
    return found


def _any_match(spec: Spec, low: datetime, high: datetime) -> bool:
    """Whether a wall minute in (low, high] matches (a gap makes this range wide)."""
    wall = high
    while wall > low:
        if wall_matches(spec, wall):
            return True
        wall -= MINUTE
    return False
