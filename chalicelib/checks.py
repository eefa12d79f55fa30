"""Checks of the quick reading: a JSON value taken as it is, when it is plainly valid.

:mod:`.config` (the configuration file) and :mod:`.bodies` (a new job's body) read a document
without pydantic when every key and value of it passes these checks; a check raises
:class:`Unsure` for anything else, and the pydantic models then decide (accept it, or name the
first bad field). So a check may refuse a valid value, never accept an invalid one: it is
strict where the models are (no bool for an int, no ``3.0``, no ``"3"``), and narrower where
being exact would cost more than asking the models.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any


class Unsure(Exception):
    """A value the quick reading does not vouch for (maybe invalid, maybe only unusual)."""


Check = Callable[[Any], Any]


def integer(lo: int, hi: int) -> Check:
    """An int (not a bool) within [lo, hi]."""
    def check(value: Any) -> int:
        if type(value) is int and lo <= value <= hi:  # strict: no bool, no 3.0, no "3"
            return value
        raise Unsure
    return check


def number(lo: float, hi: float) -> Check:
    """A finite int or float within [lo, hi], as a float."""
    def check(value: Any) -> float:
        # JSON has one number type: 2 and 2.0 are the same number (the models convert ints too).
        if type(value) in (int, float) and math.isfinite(value) and lo <= value <= hi:
            return float(value)
        raise Unsure
    return check


def boolean(value: Any) -> bool:
    """``true`` or ``false``."""
    if type(value) is bool:
        return value
    raise Unsure


def text(lo: int, hi: int, pattern: str | None = None) -> Check:
    """A string of lo..hi characters, all of it matching ``pattern`` if one is given."""
    def check(value: Any) -> str:
        if type(value) is str and lo <= len(value) <= hi and (pattern is None or re.fullmatch(pattern, value)):
            return value
        raise Unsure
    return check


def one_of(*choices: str) -> Check:
    """One of the given strings."""
    def check(value: Any) -> str:
        if type(value) is str and value in choices:
            return value
        raise Unsure
    return check


def optional(check: Check) -> Check:
    """``null``, or what ``check`` accepts."""
    return lambda value: None if value is None else check(value)


def section(cls: Callable[..., Any], checks: dict[str, Check]) -> Check:
    """An object of known keys only (extra keys are errors), each checked, given to ``cls``."""
    def check(value: Any) -> Any:
        if type(value) is not dict or not value.keys() <= checks.keys():
            raise Unsure
        return cls(**{key: checks[key](item) for key, item in value.items()})
    return check
