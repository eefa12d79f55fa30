"""When a job's occurrences fall: cron in an IANA timezone, a single ISO instant, or an interval.

This is the only module of agentOS Jobs that imports croniter. croniter does what it is good at,
expanding an expression and finding the next matching *wall-clock* time, and never sees a
timezone: its own DST handling fires ``30 1 * * *`` twice on New York's fall-back day. Wall
times are mapped to real instants here with zoneinfo, under the DST rules of README, "Scheduling" (Vixie cron's):

* a cron is *fixed-time* iff neither its minute nor its hour field starts with ``*``. It fires at
  the first instant whose wall clock reaches each matching wall time: an ambiguous time (fall
  back) fires once, at its first instant; a time inside a gap (spring forward) fires at the end
  of the gap; several wall times reaching the same instant fire once.
* any other cron (*wildcard*) fires at every instant whose wall time matches: an ambiguous time
  fires twice, a time inside a gap never.

Before croniter sees an expression, :func:`_normalize_field` checks it against a strict grammar,
so that croniter's extensions and quirks (H/R hashing, 6-7 fields, ``5-5`` meaning "every",
stepped wrap-around ranges) never reach a job.
"""
from __future__ import annotations

import math
import re
import threading
from abc import ABC, abstractmethod
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from chalicelib.cron_syntax import BadCron, compile_cron
from chalicelib.errors import InvalidSchedule
from chalicelib.vocab import MAX_INTERVAL_MS, SCHEDULE_MAX_LENGTH

UTC = UTC
# Longest DST fall-back in use is 1 h (2 h historically); look this far for one.
_DST_REACH = timedelta(hours=3)
_SECOND = timedelta(seconds=1)
# A fixed naive start for the "can it ever fire" check, so that validation is deterministic.
_PROBE_START = datetime(2024, 1, 1)
# A wildcard cron whose matches keep falling in DST gaps is given up after this many gaps in
# a row (zones have at most a couple of gaps a year): `*/30 2 * 3 0#2` in New York never
# fires, and walking croniter to year 9999 to find that out cost ~1.4 s of CPU per call.
MAX_GAPS_IN_A_ROW = 16

_TZ_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*")


class _NeverReal(Exception):
    """Every match of a wildcard cron found falls in a DST gap (no instant has that wall time)."""


def _as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is a programming error, not a user one."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"datetime must be timezone-aware: {moment!r}")
    return moment.astimezone(UTC)


class Schedule(ABC):
    """When a job's occurrences fall; every datetime in and out is aware, results are UTC."""

    kind: str

    @abstractmethod
    def first_after(self, moment: datetime) -> datetime | None:
        """First occurrence of a job created, changed or resumed at ``moment``."""

    @abstractmethod
    def next_after(self, moment: datetime) -> datetime | None:
        """The occurrence strictly after ``moment`` (usually the previous occurrence)."""


class IntervalSchedule(Schedule):
    """Every ``interval_ms`` milliseconds, anchored on the previous occurrence."""

    kind = "interval"

    def __init__(self, interval_ms: int) -> None:
        if isinstance(interval_ms, bool) or not isinstance(interval_ms, int) or interval_ms <= 0:
            raise InvalidSchedule("interval", f"must be a positive integer, got {interval_ms!r}")
        self.interval_ms = interval_ms
        self._step = timedelta(milliseconds=interval_ms)

    def first_after(self, moment: datetime) -> datetime | None:
        """One interval after ``moment`` (None past year 9999)."""
        return self.next_after(moment)

    def next_after(self, moment: datetime) -> datetime | None:
        """One interval after ``moment``: a fixed rate when ``moment`` is the previous slot."""
        try:
            return _as_utc(moment) + self._step
        except OverflowError:
            return None  # past year 9999, as a cron past croniter's horizon: no next occurrence

    def __repr__(self) -> str:
        return f"IntervalSchedule({self.interval_ms})"


class OnceSchedule(Schedule):
    """A single run at ``at``."""

    kind = "once"

    def __init__(self, at: datetime) -> None:
        self.at = _as_utc(at)

    def first_after(self, moment: datetime) -> datetime | None:
        """``at`` if it is still ahead of ``moment``."""
        return self.at if self.at > _as_utc(moment) else None

    def next_after(self, moment: datetime) -> datetime | None:
        """``at`` if it is still ahead of ``moment``; a single run has nothing after it."""
        return None if _as_utc(moment) >= self.at else self.at

    def __repr__(self) -> str:
        return f"OnceSchedule({self.at.isoformat()})"


class CronSchedule(Schedule):
    """A strict 5-field cron expression (or macro) evaluated in ``zone``."""

    kind = "cron"

    def __init__(self, expression: str, zone: ZoneInfo) -> None:
        # Imported by the first cron schedule read: a tick or an executor with none to read, and
        # an interval or an instant, never need it (~10 ms of a cold start).
        from croniter import croniter
        from croniter.croniter import CroniterBadDateError, CroniterError

        try:
            fields, for_croniter, day_or = compile_cron(expression)
            self._iter = croniter(for_croniter, _PROBE_START, ret_type=datetime, day_or=day_or)
            self._iter.get_next(datetime)  # raises when no date ever matches
        except (CroniterError, ValueError, KeyError, TypeError) as exc:
            # _BadCron explains itself; the grammar should leave croniter nothing else to refuse.
            reason = exc if isinstance(exc, BadCron) else (
                "it never fires" if isinstance(exc, CroniterBadDateError) else "not supported")
            raise InvalidSchedule(
                "schedule", f"invalid cron expression {expression!r}: {reason}") from None
        self.expression = " ".join(fields)
        self.zone = zone
        self.fixed_time = not fields[0].startswith("*") and not fields[1].startswith("*")
        self.day_or = day_or  # both day fields restricted: a day matches either (cron's rule)
        self._lock = threading.Lock()  # a croniter object carries its position

    def field_sets(self) -> list[list[int]] | None:
        """The values each field matches (minute, hour, day of month, month, day of week with
        Sunday 0; an empty list: every value), or None when a field is not a plain set (``L``,
        ``#``): what counting starts without walking them needs (chalicelib/engine/projection.py)."""
        expanded, nth = self._iter.expanded, getattr(self._iter, "nth_weekday_of_month", None)
        if nth or any(not isinstance(v, int) and v != "*" for field in expanded[:5] for v in field):
            return None
        # A "*" anywhere in a list ("*,4/1") matches every value, as a lone "*" does.
        return [[] if "*" in field else sorted({int(v) % 7 if i == 4 else int(v) for v in field})
                for i, field in enumerate(expanded[:5])]

    def first_after(self, moment: datetime) -> datetime | None:
        """First occurrence strictly after ``moment``."""
        return self.next_after(moment)

    def next_after(self, moment: datetime) -> datetime | None:
        """The occurrence strictly after ``moment`` under the DST rules of the module docstring."""
        from croniter.croniter import CroniterError  # imported already: self._iter is a croniter

        moment = _as_utc(moment)
        local = moment.astimezone(self.zone)
        try:
            if self.fixed_time:
                return self._next_fixed(moment, local)
            return self._next_wildcard(moment, local)
        except (CroniterError, OverflowError, _NeverReal):
            return None  # beyond year 9999, croniter's 50-year horizon, or only ever in DST gaps

    def _next_fixed(self, moment: datetime, local: datetime) -> datetime:
        """Reach the first matching wall time the clock has not yet reached by ``moment``."""
        reached = local.replace(tzinfo=None)
        if local.fold:
            # Clocks were set back less than an hour or two ago: the wall times up to the
            # moment of the change have been reached (and fired) already.
            back = _offset(local.replace(fold=0)) - _offset(local)
            switch = self._transition(moment - back, moment)
            reached = (switch - _SECOND).astimezone(self.zone).replace(tzinfo=None)
        wall = self._match_after(reached)
        first = wall.replace(tzinfo=self.zone).astimezone(UTC)  # fold=0: the earlier instant
        if first.astimezone(self.zone).replace(tzinfo=None) == wall:
            return first
        # In a gap fold=0 reads the wall with the old offset, i.e. after the gap ends.
        return self._transition(wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC), first)

    def _next_wildcard(self, moment: datetime, local: datetime) -> datetime:
        """The first instant after ``moment`` whose wall time matches."""
        best = self._earliest_from(local.replace(tzinfo=None), moment)
        ahead = moment + _DST_REACH
        if _offset(ahead.astimezone(self.zone)) < _offset(local):
            # Clocks go back soon: the wall times from the switch on come round again.
            switch = self._transition(moment, ahead)
            again = switch.astimezone(self.zone).replace(tzinfo=None)
            if again <= local.replace(tzinfo=None):
                best = min(best, self._earliest_from(again - _SECOND, moment))
        return best

    def _earliest_from(self, wall: datetime, moment: datetime) -> datetime:
        """Earliest instant after ``moment`` of the first real matching wall time after ``wall``."""
        for _ in range(MAX_GAPS_IN_A_ROW + 1):
            wall = self._match_after(wall)
            first = wall.replace(tzinfo=self.zone).astimezone(UTC)
            second = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
            if first.astimezone(self.zone).replace(tzinfo=None) != wall:
                # A gap: no instant has this wall time; skip to where the gap ends.
                switch = self._transition(second, first)
                wall = switch.astimezone(self.zone).replace(tzinfo=None) - _SECOND
                continue
            later = [t for t in (first, second) if t > moment]
            if later:
                return min(later)
        raise _NeverReal(self.expression)

    def _match_after(self, wall: datetime) -> datetime:
        """First matching naive wall time strictly after naive ``wall`` (whole minutes)."""
        with self._lock:
            following: datetime = self._iter.get_next(datetime, start_time=wall)
            return following

    def _transition(self, low: datetime, high: datetime) -> datetime:
        """The DST switch in (low, high]: first whole second whose UTC offset differs from low's."""
        before = low.astimezone(self.zone).utcoffset()
        lo, hi = math.floor(low.timestamp()), math.ceil(high.timestamp())
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if datetime.fromtimestamp(mid, self.zone).utcoffset() == before:
                lo = mid
            else:
                hi = mid
        return datetime.fromtimestamp(hi, UTC)

    def __repr__(self) -> str:
        return f"CronSchedule({self.expression!r}, {self.zone.key!r})"


def _offset(moment: datetime) -> timedelta:
    """The UTC offset of an aware datetime (never None in a ZoneInfo or UTC)."""
    offset = moment.utcoffset()
    assert offset is not None, moment
    return offset


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    """The IANA names this machine's tz database holds (read once: ~70 ms)."""
    return frozenset(available_timezones())


def validate_timezone(name: object) -> ZoneInfo:
    """The ZoneInfo of an IANA timezone name, or InvalidSchedule("timezone", ...)."""
    if not isinstance(name, str):
        raise InvalidSchedule("timezone", "must be a string naming an IANA timezone, e.g. \"UTC\"")
    # 'localtime' is a host file, not a zone; the shape check keeps paths and '..' out.
    if (not name or len(name) > 64 or name == "localtime" or ".." in name
            or not _TZ_NAME.fullmatch(name) or name not in _known_zones()):
        raise InvalidSchedule("timezone", f"unknown IANA timezone {name[:80]!r}")
    return ZoneInfo(name)


def parse_schedule(schedule: object, interval: object, timezone: str, now: datetime,
                   min_interval_ms: int) -> Schedule:
    """A request's schedule: cron, ISO instant (must be after ``now``) or interval; else 400."""
    if schedule is None and interval is None:
        raise InvalidSchedule("schedule", "exactly one of schedule or interval is required")
    if schedule is not None and interval is not None:
        raise InvalidSchedule(
            "schedule", "exactly one of schedule or interval is required, both were given")
    zone = validate_timezone(timezone)
    if interval is not None:
        return IntervalSchedule(_check_interval(interval, min_interval_ms))
    return _parse_text(schedule, zone, _as_utc(now))


def load_schedule(schedule: str | None, interval: int | None, timezone: str) -> Schedule:
    """A stored job's schedule, without the request-time checks (past instant, minimum interval)."""
    zone = validate_timezone(timezone)
    if interval is not None:
        return IntervalSchedule(_check_interval(interval, 1))
    return _parse_text(schedule, zone, None)


def _check_interval(interval: object, min_interval_ms: int) -> int:
    """``interval`` if it is an int of milliseconds within the limits (bool is not an int)."""
    if isinstance(interval, bool) or not isinstance(interval, int):
        raise InvalidSchedule("interval", "must be an integer number of milliseconds")
    if interval < min_interval_ms:
        raise InvalidSchedule("interval", f"must be at least {min_interval_ms} ms, got {interval}")
    if interval > MAX_INTERVAL_MS:
        raise InvalidSchedule("interval", f"must be at most {MAX_INTERVAL_MS} ms (10 years)")
    return interval


def _parse_text(schedule: object, zone: ZoneInfo, now: datetime | None) -> Schedule:
    """Cron if it looks like cron (``@`` or 3+ fields), else an ISO-8601 instant."""
    if not isinstance(schedule, str):
        raise InvalidSchedule("schedule", "must be a string (cron expression or ISO-8601 date-time)")
    if len(schedule) > SCHEDULE_MAX_LENGTH:
        raise InvalidSchedule("schedule", f"must be at most {SCHEDULE_MAX_LENGTH} characters")
    text = schedule.strip()
    if text.startswith("@") or len(text.split()) >= 3:
        cron = CronSchedule(text, zone)
        if now is not None and cron.first_after(now) is None:
            raise InvalidSchedule("schedule", f"cron expression {text!r} never fires in {zone.key} "
                                              "(every match falls in a DST gap, or none is left)")
        return cron
    at = _parse_instant(text, zone)
    if now is not None and at <= now:
        raise InvalidSchedule("schedule", f"{schedule!r} is in the past")
    return OnceSchedule(at)


def parse_bound(field: str, text: str, timezone: str) -> datetime:
    """A schedule bound (``startAt``/``endAt``): an ISO-8601 date-time, no offset = ``timezone``."""
    try:
        return _parse_instant(text, ZoneInfo(timezone))
    except InvalidSchedule as exc:
        gap = "does not exist" in exc.message
        reason = exc.message.split(": ", 1)[-1] if gap else f"not an ISO-8601 date-time: {text[:80]!r}"
        raise InvalidSchedule(field, reason) from None


def _parse_instant(text: str, zone: ZoneInfo) -> datetime:
    """An ISO-8601 date-time (``Z`` allowed; no offset = wall time in ``zone``) as UTC."""
    unparsable = InvalidSchedule(
        "schedule", f"not a 5-field cron expression or an ISO-8601 date-time: {text[:80]!r}")
    raw = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise unparsable from None
    try:
        if parsed.tzinfo is None:
            local = parsed.replace(tzinfo=zone)  # fold=0: the first of an ambiguous pair
            if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != parsed:
                raise InvalidSchedule(
                    "schedule", f"{text!r} does not exist in {zone.key} (clocks skip it)")
            parsed = local
        # Whole milliseconds: the store keeps epoch milliseconds.
        at = parsed.astimezone(UTC)
        return at.replace(microsecond=at.microsecond // 1000 * 1000)
    except (OverflowError, ValueError):
        raise unparsable from None
