"""The usage of a job's last runs that reported usage, kept on the job item for its projection.

``recentUsage`` is JSON text ``[[tokens, costUsd], ...]``, oldest first, at most
:data:`~chalicelib.defaults.USAGE_WINDOW` entries. The run's final write (the budget's
:class:`~chalicelib.store.budgets.Settlement`) sets it from the job as the run's outcome read it
plus the new report: one more attribute in a write that happens anyway, and a job view reads it
with the job (no read of the runs). Two runs of one job (overlap ``allow``) that finish at the
same moment may each write the window they computed; the later one wins and one report is
missing from the average, which is an estimate.
"""
from __future__ import annotations

import json
from typing import NamedTuple

from ..defaults import USAGE_WINDOW
from ..vocab import COST_DECIMALS


class Average(NamedTuple):
    """The mean usage per run over the window."""

    tokens: float
    cost: float


def appended(text: str | None, tokens: int, cost: float) -> str:
    """The window ``text`` with one more report, the oldest dropped past the window's size."""
    entries = _entries(text) + [[tokens, round(cost, COST_DECIMALS)]]
    return json.dumps(entries[-USAGE_WINDOW:], separators=(",", ":"))


def average(text: str | None) -> Average | None:
    """The mean of the window (None before any run reported usage)."""
    entries = _entries(text)
    if not entries:
        return None
    return Average(sum(e[0] for e in entries) / len(entries), sum(e[1] for e in entries) / len(entries))


def _entries(text: str | None) -> list[list[float]]:
    if not text:
        return []
    try:
        data = json.loads(text)
    except ValueError:  # an item edited by hand: start the window again
        return []
    return [[float(e[0]), float(e[1])] for e in data if isinstance(e, list) and len(e) == 2] \
        if isinstance(data, list) else []
