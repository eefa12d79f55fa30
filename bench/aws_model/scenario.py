"""A load and one simulated run of it: occurrences due at given instants, the ticks that send
them, the event source and the executor; what the agents see and what it all bills."""
from __future__ import annotations

import math
from dataclasses import dataclass

from bench.stats import summary

from . import tick
from .executor import Ledger, Platform
from .profile import LOCAL_POLLERS, LOCAL_SLOTS, Profile
from .sim import Sim
from .source import EventSource, LocalPollers

BURST_AT_MS = 600_000  # the hh:00 instant, 10 minutes into the run (the quiet hour is implied)


@dataclass(frozen=True)
class Floor:
    """The project's design in the model: at least ``batches`` concurrent batches from
    ``from_ms`` on (MinimumPollers raised ahead of the burst)."""

    batches: int
    from_ms: float
    pollers: int
    held_minutes: float


@dataclass(frozen=True)
class Load:
    """Occurrences due at ``instants`` (ms); lateness counted for those at or after ``count_from_ms``."""

    name: str
    instants: tuple[int, ...]
    first_tick_ms: float
    count_from_ms: float = 0.0
    minutes: float = 1.0  # how many minutes of traffic the cost covers


@dataclass
class Outcome:
    """One run's figures."""

    lateness: dict[str, float]
    ledger: Ledger
    ticks: tick.TickLog
    peak_batches: int
    throttled: int = 0


def burst(size: int, seed: int) -> Load:
    """``size`` occurrences due at hh:00 after a quiet hour; the first tick that sees them runs
    at a seeded phase (30-90 s before, as the 90-s lookahead allows)."""
    import random

    phase = random.Random(seed).uniform(0, tick.PERIOD_MS)
    first = BURST_AT_MS - 90_000 + phase
    return Load(f"burst_{size}", (BURST_AT_MS,) * size, first)


def steady(per_min: int, minutes: int, seed: int) -> Load:
    """``per_min`` occurrences a minute, spread over the whole seconds, for ``minutes``; the
    first two minutes warm the event source up and are not counted."""
    import random

    per_s = per_min / 60
    instants = [60_000 + s * 1000 for s in range(minutes * 60)
                for _ in range(math.floor(per_s * (s + 1)) - math.floor(per_s * s))]
    phase = random.Random(seed).uniform(0, tick.PERIOD_MS)
    return Load(f"steady_{per_min}_per_min", tuple(instants), phase, count_from_ms=60_000 + 120_000,
                minutes=minutes - 2)


def simulate(profile: Profile, load: Load, seed: int, floor: Floor | None = None) -> Outcome:
    """Run ``load`` on ``profile`` (deterministic for a seed)."""
    sim = Sim(seed)
    platform = Platform(sim, profile)
    if profile.source.mode == "fixed":
        source: EventSource | LocalPollers = LocalPollers(platform, LOCAL_POLLERS, LOCAL_SLOTS)
    else:
        source = EventSource(platform, profile.source, profile.concurrency_limit)
    if floor is not None:
        sim.at(floor.from_ms, source.raise_floor, floor.batches)
    ticks = tick.schedule(sim, profile, list(load.instants), load.first_tick_ms, source.arrive)
    sim.run()
    ledger = platform.ledger
    late = [ms for ms, at in zip(ledger.lateness_ms, ledger.late_instants, strict=True) if at >= load.count_from_ms]
    throttled = sum(c.throttled for c in (platform.writes, platform.reads) if c is not None)
    return Outcome(summary(late), ledger, ticks, source.peak, throttled)
