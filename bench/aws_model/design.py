"""The project's design in the model: what chalicelib.engine.provisioning would set before a load.

The same arithmetic as the engine (its functions and constants are imported): the tick whose
5-minute window first holds the busiest instant raises the minimum pollers; the raise takes
effect UPDATE_MS later (assumed: AWS documents no figure for an UpdateEventSourceMapping to apply)
and is held HOLD_MS.
"""
from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter

from chalicelib.engine.provisioning import HOLD_MS, WINDOW_MS, Provisioner, pollers_for
from chalicelib.store.lambda_api import PollerMapping, Pollers

from . import tick
from .assumptions import A
from .profile import Source
from .scenario import Floor, Load

UPDATE_MS = A["update_apply_ms"]  # assumed: a new MinimumPollers is in force within a minute
REST_POLLERS = 2  # AGENTOS_POLLERS_REST's default: SQS's smallest MinimumPollers


def busiest(load: Load) -> tuple[int, int]:
    """(instant, occurrences) of the busiest whole second at the top of a minute (where the engine
    looks), or of any second when none falls there."""
    at_minutes = Counter(t for t in load.instants if t % 60_000 < 1000)
    counts = at_minutes or Counter(load.instants)
    instant, count = max(counts.items(), key=lambda kv: (kv[1], -kv[0]))
    return instant, count


def floor(load: Load, source: Source) -> Floor | None:
    """The floor the design puts under ``source`` for ``load`` (None: resting pollers suffice)."""
    instant, count = busiest(load)
    pollers = pollers_for(count, REST_POLLERS)
    if pollers <= REST_POLLERS:
        return None
    ticks = [load.first_tick_ms + k * tick.PERIOD_MS for k in range(-10, 20)]
    raised_at = min(t for t in ticks if t + WINDOW_MS > instant)
    held = math.ceil(HOLD_MS / tick.PERIOD_MS) + 1  # lowered by the first tick after the hold
    return Floor(min(pollers * 10, source.most), raised_at + UPDATE_MS, pollers, float(held))


class _Mapping(PollerMapping):
    """The event source mapping in memory: counts the Lambda API calls the engine makes."""

    def __init__(self) -> None:
        super().__init__("model", lambda: None)
        self.state, self.calls = Pollers(None, 0), 0

    def read(self) -> Pollers:
        self.calls += 1
        return self.state

    def set_pollers(self, minimum: int, maximum: int) -> None:
        self.calls += 1
        self.state = Pollers(minimum, 0)


def engine_calls(load: Load, shards: int, minutes: int = 60) -> dict[str, int]:
    """What chalicelib.engine.provisioning itself calls over ``minutes`` of ticks around ``load``
    (a burst: from half an hour before; a steady load: while it runs): COUNT queries (half a read
    unit each when nearly empty) and Lambda API calls."""
    instants = sorted(load.instants)
    queries = [0]

    def count(shard: int, start: int, end: int) -> int:
        queries[0] += 1
        return (bisect_left(instants, end) - bisect_left(instants, start)) // shards  # jobs hash evenly

    mapping = _Mapping()
    engine = Provisioner(mapping, shards, REST_POLLERS, 2000, count)
    first = int(load.first_tick_ms) - (0 if load.count_from_ms else 30 * tick.PERIOD_MS)
    for k in range(minutes):
        engine.step(first + k * tick.PERIOD_MS)
    return {"count_queries": queries[0], "lambda_calls": mapping.calls, "ticks": minutes}
