"""Checks of the quick reading: a JSON value taken as it is, when it is plainly valid.

:mod:`.config` (the configuration file) and :mod:`.api.bodies` (a new job's body) read a document
without pydantic when every key and value of it passes these checks; a check raises
:class:`Unsure` for anything else, and the pydantic models then decide (accept it, or name the
first bad field). So a check may refuse a valid value, never accept an invalid one: it is
strict where the models are (no bool for an int, no ``3.0``, no ``"3"``), and narrower where
being exact would cost more than asking the models.

:func:`record` derives the check of a whole NamedTuple from its fields' types and a table of
their :class:`Bound` (``config.BOUNDS``), the declaration :mod:`.config_schema` builds its
pydantic models from too.
"""
from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Mapping
from types import NoneType, UnionType
from typing import Any, get_args, get_type_hints


class Unsure(Exception):
    """A value the quick reading does not vouch for (maybe invalid, maybe only unusual)."""


Check = Callable[[Any], Any]


class Bound:
    """What a field allows beyond its type: ``lo``..``hi`` (a number's value, a string's length;
    None: unbounded), a ``pattern`` (anchored) its whole string matches, and its description."""

    # A plain class: defining a NamedTuple costs ~0.15 ms of the cold start that reads the config.
    __slots__ = ("lo", "hi", "pattern", "doc")

    def __init__(self, lo: float | None = None, hi: float | None = None, pattern: str | None = None,
                 doc: str | None = None) -> None:
        self.lo, self.hi, self.pattern, self.doc = lo, hi, pattern, doc


NO_BOUND = Bound()
Bounds = Mapping[type, Mapping[str, Bound]]  # NamedTuple class -> field name -> its bound


def fields(cls: type, bounds: Bounds) -> dict[str, tuple[Any, Bound]]:
    """Each field of the NamedTuple ``cls``: (its type, its bound in ``bounds``)."""
    hints: dict[str, Any] = cls.__annotations__
    if any(isinstance(hint, str) for hint in hints.values()):  # deferred: evaluated here, at a cost
        hints = get_type_hints(cls)
    own = bounds.get(cls, {})
    if not own.keys() <= hints.keys():
        raise TypeError(f"{cls.__name__} has no field {sorted(own.keys() - hints.keys())}")
    return {name: (hint, own.get(name, NO_BOUND)) for name, hint in hints.items()}


def is_record(hint: Any) -> bool:
    """Whether ``hint`` is a NamedTuple class (a record of its own fields)."""
    return isinstance(hint, type) and issubclass(hint, tuple) and hasattr(hint, "_fields")


def optional_of(hint: Any) -> Any:
    """``X`` of ``X | None``, else None."""
    args = get_args(hint) if isinstance(hint, UnionType) else ()
    rest = [arg for arg in args if arg is not NoneType]
    return rest[0] if NoneType in args and len(rest) == 1 else None


def typed(hint: Any, bound: Bound, bounds: Bounds) -> Check:
    """The check of a value of type ``hint`` (bool, int, float, str, a NamedTuple, or one of them
    or None) within ``bound``; numbers must be bounded (a config value without one is a slip)."""
    inner = optional_of(hint)
    if inner is not None:
        return optional(typed(inner, bound, bounds))
    if hint is bool:
        return boolean
    if hint in (int, float) and bound.lo is not None and bound.hi is not None:
        return integer(int(bound.lo), int(bound.hi)) if hint is int else number(bound.lo, bound.hi)
    if hint is str:
        return text(int(bound.lo or 0), sys.maxsize if bound.hi is None else int(bound.hi), bound.pattern)
    if is_record(hint):
        return record(hint, bounds)
    raise TypeError(f"no quick check for {hint!r} within {bound.lo}..{bound.hi}")


def record(cls: type, bounds: Bounds, special: Mapping[str, Check] | None = None) -> Check:
    """The check of an object read into the NamedTuple ``cls``: each field's check derived from
    its type and its bound in ``bounds``, but where ``special`` gives one."""
    checks = {name: (special or {}).get(name) or typed(hint, bound, bounds)
              for name, (hint, bound) in fields(cls, bounds).items()}
    return section(cls, checks)


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
