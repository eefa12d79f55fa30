"""bench/aws_model: it runs in seconds, a seed fixes its figures, and its event source scales as
Lambda's documentation says (standard: 5 batches, +300 a minute, at most 1,000; provisioned:
10 invocations per poller from the minimum, +1,000 a minute)."""
from __future__ import annotations

import dataclasses

import pytest

from bench.aws_model import calibration, design, scenario
from bench.aws_model.executor import Platform
from bench.aws_model.profile import Latency, aws, provisioned, standard
from bench.aws_model.sim import Sim
from bench.aws_model.source import EventSource


def busy_after(source_kind: str, seconds: int, limit: int = 10_000) -> int:
    """Batches running after ``seconds`` of a backlog that never drains (each invocation lasts an hour)."""
    source = standard() if source_kind == "standard" else provisioned(10)
    profile = dataclasses.replace(aws({}, source), answer=Latency(3_600_000, 3_600_000), cold_ms=0.0,
                                  receive=Latency(0, 0), concurrency_limit=limit, wcu_per_s=0.0, rcu_per_s=0.0)
    sim = Sim(1)
    events = EventSource(Platform(sim, profile), profile.source, profile.concurrency_limit)
    for _ in range(200_000):
        events.arrive(0)
    sim.run(until=seconds * 1000 + 1)
    return events.active


@pytest.mark.parametrize("seconds, expected", [(0, 5), (60, 305), (120, 605), (180, 905), (600, 1000)])
def test_standard_mode_starts_with_5_batches_adds_300_a_minute_up_to_1000(seconds: int, expected: int) -> None:
    assert busy_after("standard", seconds) == expected


def test_provisioned_mode_starts_at_its_minimum_and_scales_three_times_faster() -> None:
    assert busy_after("provisioned", 0) == 100  # 10 pollers x 10 invocations
    assert busy_after("provisioned", 60) == 1_100  # +1,000 a minute
    assert busy_after("provisioned", 60, limit=990) == 990  # the account's concurrency bounds both


def test_a_burst_runs_fast_and_a_seed_fixes_every_figure() -> None:
    profile = aws({})
    load = scenario.burst(2_000, 7)
    first, again = scenario.simulate(profile, load, 7), scenario.simulate(profile, load, 7)
    assert first.lateness == again.lateness and first.ledger.wcu == again.ledger.wcu
    assert first.lateness["n"] == 2_000
    assert scenario.simulate(profile, load, 8).lateness != first.lateness


def test_the_design_raises_ahead_of_a_10000_burst_and_keeps_it_under_2_s() -> None:
    profile = aws({}, provisioned(design.REST_POLLERS), "project")
    load = scenario.burst(10_000, 28)
    floor = design.floor(load, profile.source)
    assert floor is not None and floor.pollers == 100 and floor.from_ms < scenario.BURST_AT_MS - 60_000
    assert scenario.simulate(profile, load, 28, floor).lateness["p99"] <= 2_000


def test_calibration_compares_each_local_load() -> None:
    block = {"occurrences": 50, "lateness_ms": {"p50": 150.0, "p99": 500.0}, "arrived_ms": {"min": -1200.0},
             "mean_ms": {}}
    lateness = {"capacity_per_s": {"before": {"GetItem": 200.0, "TransactWriteItems": 120.0,
                                               "BatchGetItem10": 130.0},
                                    "after": {"GetItem": 200.0, "TransactWriteItems": 120.0,
                                              "BatchGetItem10": 130.0}},
                "a": block}
    row = calibration.calibrate(lateness)["a"]
    assert row["measured_p99_ms"] == 500.0 and row["model_p99_ms"] > 0 and "within_tolerance" in row


def test_every_assumption_is_in_the_module_docstring_table() -> None:
    from bench.aws_model import assumptions

    doc = assumptions.__doc__ or ""
    for row in assumptions.TABLE:
        assert f"\n{row.key} " in doc and f"{row.value:g} {row.unit}" in doc, row.key
