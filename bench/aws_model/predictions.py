"""Predictions for AWS: p50, p99 and max lateness and the cost of each load, under Lambda's
standard mode, provisioned mode with a fixed minimum of pollers, and the project's design
(provisioned mode raised ahead of the load by the tick, :mod:`.design`)."""
from __future__ import annotations

import dataclasses
from typing import Any

from . import cost, design, scenario
from .assumptions import A
from .profile import Profile, aws, provisioned, standard

SEED = 28
BURSTS = (1_000, 10_000, 100_000)
STEADY_PER_MIN, STEADY_MINUTES = 10_000, 5
SHARDS = 16  # scheduler.dueShards for a 100k burst (docs/benchmarks.md)


def configurations(results: dict[str, Any]) -> dict[str, Profile]:
    """The three configurations on AWS after a quiet hour."""
    return {"standard": aws(results, standard(), "standard"),
            "provisioned": aws(results, provisioned(int(A["fixed_min_pollers"])), "provisioned"),
            "project": aws(results, provisioned(design.REST_POLLERS), "project")}


def loads() -> dict[str, scenario.Load]:
    """The predicted loads, by the names results.json uses."""
    named = {f"burst_{n}": scenario.burst(n, SEED) for n in BURSTS}
    named[f"steady_{STEADY_PER_MIN}_per_min"] = scenario.steady(STEADY_PER_MIN, STEADY_MINUTES, SEED)
    return named


def _epu_hours(name: str, load: scenario.Load, outcome: scenario.Outcome, floor: scenario.Floor | None) -> float:
    """Poller hours billed for one burst (an hour: hourly bursts) or the steady minutes."""
    hours = load.minutes / 60 if load.count_from_ms else 1.0
    scaled = max(0.0, outcome.peak_batches / 10 - (floor.pollers if floor else 0))
    if name == "standard":
        return 0.0
    if name == "provisioned":
        rest = A["fixed_min_pollers"]
        return cost.poller_hours(rest, max(0.0, outcome.peak_batches / 10 - rest), 10.0, hours)
    raised = floor.pollers - design.REST_POLLERS if floor else 0.0
    return cost.poller_hours(design.REST_POLLERS, raised, floor.held_minutes if floor else 0.0, hours) \
        + scaled * 10.0 / 60


def predict(profile: Profile, load: scenario.Load) -> dict[str, Any]:
    """One configuration under one load: lateness, cost and what limited it."""
    floor = design.floor(load, profile.source) if profile.name == "project" else None
    outcome = scenario.simulate(profile, load, SEED, floor)
    counted = sum(1 for t in load.instants if t >= load.count_from_ms)
    calls = design.engine_calls(load, SHARDS, 60 if not load.count_from_ms else STEADY_MINUTES)
    queries = calls["count_queries"] if profile.name == "project" else 0
    bill = cost.bill(outcome, len(load.instants), _epu_hours(profile.name, load, outcome, floor), int(queries))
    if load.count_from_ms:  # the steady load: per minute of it
        bill = {k: round(v * counted / len(load.instants) / load.minutes, 4) for k, v in bill.items()}
    late = outcome.lateness
    return {"p50_ms": late["p50"], "p99_ms": late["p99"], "max_ms": late["max"], "cost_usd": bill["total"],
            "cost_by_service": bill, "cold_starts": outcome.ledger.cold_starts,
            "peak_batches": outcome.peak_batches, "throttled_writes": outcome.throttled,
            "tick_s": max(outcome.ticks.seconds, default=0.0),
            "min_pollers": floor.pollers if floor else None,
            "engine_calls": calls if profile.name == "project" else None}


def bounds_100k(results: dict[str, Any], as_documented: dict[str, Any]) -> dict[str, Any]:
    """What bounds the project's 100,000 burst: ``as_documented`` (its prediction), then the same
    run with the limits lifted in the order they bind."""
    base = configurations(results)["project"]
    load = scenario.burst(100_000, SEED)
    lifted = dataclasses.replace(base, concurrency_limit=10_000, wcu_per_s=0.0, rcu_per_s=0.0)
    variants = {
        "table_unthrottled": dataclasses.replace(base, wcu_per_s=0.0, rcu_per_s=0.0),
        "both": lifted,
        "both_and_delay_from_tick_start": dataclasses.replace(lifted, delay_at_send=False),
    }
    runs = {name: predict(profile, load) for name, profile in variants.items()}
    return {name: {k: v for k, v in figures.items() if k.endswith("_ms")}
            for name, figures in {"as_documented": as_documented, **runs}.items()}


def predictions(results: dict[str, Any]) -> dict[str, Any]:
    """Every load under every configuration."""
    configs = configurations(results)
    return {name: {config: predict(profile, load) for config, profile in configs.items()}
            for name, load in loads().items()}
