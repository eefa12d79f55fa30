"""A cron expression as this API reads it, checked and normalised for croniter: five fields (or a
macro such as ``@daily``), names of months and days, ranges and steps, ``?``, and the day entries
``L``, ``W``, ``#`` and ``L``-weekday, each refused with a message naming the field
(:class:`BadCron`). The schedule itself (croniter, DST) is :mod:`.schedules`'.
"""
from __future__ import annotations

import re

MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {n: i + 1 for i, n in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}
_DAYS = {n: i for i, n in enumerate("sun mon tue wed thu fri sat".split())}
# (name, lowest, highest, names) per field; day-of-week 7 is Sunday, as in Vixie cron.
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day-of-month", 1, 31, {}),
    ("month", 1, 12, _MONTHS), ("day-of-week", 0, 7, _DAYS))
DOM, DOW = 2, 4
_ELEMENT = re.compile(r"(\*|[0-9a-z]+)(?:-([0-9a-z]+))?(?:/([0-9]+))?")
_NTH = re.compile(r"([0-9a-z]+)#([0-9]+)")
_LAST_DOW = re.compile(r"l([0-9a-z]+)|([0-9a-z]+)l")
_NEAREST = re.compile(r"([0-9]+)w")
class BadCron(ValueError):
    """Why a cron expression is refused (turned into InvalidSchedule by the caller)."""


def compile_cron(expression: str) -> tuple[list[str], str, bool]:
    """(the 5 fields, the expression croniter gets, whether day fields OR) or :class:`BadCron`."""
    text = expression.strip()
    if text.startswith("@"):
        if text.lower() not in MACROS:
            raise BadCron(f"unknown macro {text!r} (use one of {', '.join(MACROS)})")
        text = MACROS[text.lower()]
    fields = text.split()
    if len(fields) != 5:
        raise BadCron(f"a cron expression has exactly 5 fields (minute hour day-of-month "
                       f"month day-of-week), this one has {len(fields)}")
    parts = [_normalize_field(i, f.lower()) for i, f in enumerate(fields)]
    dom_star = fields[DOM].startswith("*") or fields[DOM] == "?"
    dow_star = fields[DOW].startswith("*") or fields[DOW] == "?"
    special = parts[DOM][1] or parts[DOW][1]
    if special and not (fields[DOM] in ("*", "?") or fields[DOW] in ("*", "?")):
        raise BadCron("W, # and L-weekday need the other day field to be * or ?")
    # Vixie cron: when either day field starts with '*' both must match, else either.
    return fields, " ".join(p[0] for p in parts), not (dom_star or dow_star)


def _normalize_field(index: int, text: str) -> tuple[str, bool]:
    """Check one field; return it in a form croniter reads like Vixie cron, and if it uses W/#/L."""
    name = _FIELDS[index][0]
    if text == "?":
        if index not in (DOM, DOW):
            raise BadCron(f"'?' is only allowed in day-of-month and day-of-week, not in {name}")
        return "*", False
    elements = text.split(",")
    plain: list[str] = []
    specials: list[str] = []
    for element in elements:
        special = _special(index, element, len(elements))
        (specials if special else plain).append(special or _plain(index, element))
    if index == DOW and plain and specials:
        raise BadCron("day-of-week cannot mix # or L entries with plain days")
    return ",".join(plain + specials), bool(specials) and not all(s == "l" for s in specials)


def _special(index: int, element: str, count: int) -> str | None:
    """``L`` / ``nW`` (day-of-month) and ``d#k`` / ``dL`` (day-of-week) in croniter's spelling."""
    if index == DOM and element == "l":
        return "l"
    if index == DOM and (match := _NEAREST.fullmatch(element)):
        if count != 1:
            raise BadCron("'W' must be the only entry of day-of-month")
        return f"{_value(index, match.group(1))}w"
    if index == DOW and (match := _NTH.fullmatch(element)):
        nth = int(match.group(2))
        if not 1 <= nth <= 5:
            raise BadCron(f"'#{nth}': the week of the month must be 1-5")
        return f"{_value(index, match.group(1)) % 7}#{nth}"
    if index == DOW and (match := _LAST_DOW.fullmatch(element)):
        return f"l{_value(index, match.group(1) or match.group(2)) % 7}"
    return None


def _plain(index: int, element: str) -> str:
    """``*``, ``a``, ``a-b`` with an optional ``/step``, names turned into numbers."""
    name = _FIELDS[index][0]
    match = _ELEMENT.fullmatch(element)
    if not match:
        raise BadCron(f"{name} entry {element!r} is not understood")
    start, end, step = match.groups()
    _check_step(index, step)
    suffix = f"/{int(step)}" if step else ""
    if start == "*":
        if end is not None:
            raise BadCron(f"{name} entry {element!r} is not understood")
        return "*" + suffix
    first = _value(index, start)
    last = None if end is None else _value(index, end)
    if first == last:
        return str(first)  # croniter would read 'a-a' as the whole field
    if index == DOW and first == 7 and (end or step):
        raise BadCron("a day-of-week range cannot start at 7; write Sunday as 0")
    if last is None:
        return f"{first}{suffix}"
    if first > last and step:
        raise BadCron(f"{name} range {element!r} wraps around and has a step; list it instead")
    return f"{first}-{last}{suffix}"


def _check_step(index: int, step: str | None) -> None:
    """A ``/step`` of 1 up to the field's highest value, the bound a plain value has."""
    name, low, high, _ = _FIELDS[index]
    if step is None:
        return
    if int(step) == 0:
        raise BadCron(f"{name} step must be at least 1")
    if int(step) > high:
        # croniter takes '*/61' and fires at :00 only; a plain 61 is refused, so is this.
        raise BadCron(f"{name} step {int(step)} is larger than its range {low}-{high}")


def _value(index: int, token: str) -> int:
    """A field value: digits or (month, day-of-week) a three-letter name, in range."""
    name, low, high, names = _FIELDS[index]
    if token.isascii() and token.isdigit():
        value = int(token)
    elif token in names:
        value = names[token]
    else:
        raise BadCron(f"{name} value {token!r} is not a number" + (" or name" if names else ""))
    if not low <= value <= high:
        raise BadCron(f"{name} value {value} is outside {low}-{high}")
    return value
