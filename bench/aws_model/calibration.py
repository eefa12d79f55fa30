"""Calibration: the model run with the local stack's own figures against what bench.lateness
measured for loads (a), (b), (c) and (c_slow) in the same ``make bench`` run.

The one input the bench does not control is where the instants fall within the tick's second
(the jobs are seeded a few seconds ahead, rounded up to a whole second): it moves every message's
arrival by up to a second. It is read from the run: the phase whose earliest modelled arrival is
closest to the earliest measured one. Everything else comes from the run's capacity hammer,
its measured Query and SendMessageBatch times, MEASURED.md and the code's own constants.
"""
from __future__ import annotations

import statistics
from typing import Any

from . import scenario
from .profile import local

CALIBRATED = ("a", "b", "c", "c_slow")
ALSO_SHOWN = ("d",)  # measured too, beyond what the calibration scores
SEEDS = (1, 2, 3)
PHASES_MS = range(0, 1000, 50)
TOLERANCE = 0.30


def _shape(name: str, block: dict[str, Any], quick: bool) -> tuple[int, int, float]:
    """(per second, seconds, agent delay s) of load ``name`` as bench.lateness defines it."""
    from bench.lateness import loads

    for load in loads(quick, name):
        if load.occurrences == block["occurrences"]:
            return load.per_second, load.seconds, load.agent_delay_s
    per_s = block["occurrences"] if block["occurrences"] >= 50 else 1
    return per_s, max(1, block["occurrences"] // per_s), 0.0


def _load(name: str, per_s: int, seconds: int, phase_ms: int) -> scenario.Load:
    """The load as bench.lateness seeds it: ``lead_ms`` ahead of the first tick, whole seconds."""
    occurrences = per_s * seconds
    lead = 3000 + 30 * occurrences
    first = -(-lead // 1000) * 1000 + phase_ms
    return scenario.Load(name, tuple(first + k * 1000 for k in range(seconds) for _ in range(per_s)), 0.0)


def model_load(lateness: dict[str, Any], name: str, quick: bool) -> dict[str, Any]:
    """The model's figures for one measured load, next to the measurement."""
    block = lateness[name]
    per_s, seconds, delay_s = _shape(name, block, quick)
    profile = local(lateness, name, delay_s * 1000)
    target = block.get("arrived_ms", {}).get("min", 0.0)

    def earliest(phase: int) -> float:
        return min(scenario.simulate(profile, _load(name, per_s, seconds, phase), SEEDS[0]).ledger.arrived_ms)

    phase = min(PHASES_MS, key=lambda p: abs(earliest(p) - target))
    runs = [scenario.simulate(profile, _load(name, per_s, seconds, phase), seed).lateness for seed in SEEDS]
    model_p99 = statistics.median(r["p99"] for r in runs)
    measured = block["lateness_ms"]["p99"]
    return {"measured_p99_ms": measured, "model_p99_ms": round(model_p99, 1),
            "error": round(model_p99 / measured - 1, 3) if measured else None,
            "measured_p50_ms": block["lateness_ms"]["p50"],
            "model_p50_ms": round(statistics.median(r["p50"] for r in runs), 1),
            "phase_ms": phase, "calibrated": name in CALIBRATED}


def calibrate(lateness: dict[str, Any], quick: bool = False) -> dict[str, Any]:
    """Every calibrated load (and the extra ones measured), and whether each is within TOLERANCE."""
    names = [n for n in (*CALIBRATED, *ALSO_SHOWN) if isinstance(lateness.get(n), dict)]
    table = {name: model_load(lateness, name, quick) for name in names}
    for row in table.values():
        row["within_tolerance"] = row["error"] is not None and abs(row["error"]) <= TOLERANCE
    return table
