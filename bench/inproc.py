"""Bench part run in process against ``moto.mock_aws``: tick efficiency and executor cost.

``python -m bench.inproc [--quick]`` prints one JSON document on stdout.
"""
from __future__ import annotations

import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import env

QUICK_SIZES = [1_000, 5_000, 10_000]
FULL_SIZES = [1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000]
DUE = 500
LIST_SIZES = (10_000, 100_000)  # the job list's cost per page is measured at these table sizes
RETRY_POLICY = {"maxAttempts": 3, "initialDelayMs": 1000, "jitter": False}  # the executor paths need one


def _provision() -> tuple[dict[str, str], float]:
    """The dev stage's tables and queues, deployed into in-process moto from infra/."""
    from infra.provision import provision

    started = time.perf_counter()
    return provision("dev"), time.perf_counter() - started


def run(quick: bool, workdir: Path) -> dict[str, Any]:
    """Both measurements inside one ``mock_aws`` (the agent is a real local HTTP server)."""
    from devtools.agent_server import AgentServer

    with AgentServer() as agent:
        config = env.write_config(workdir / "agentos.config.json", agent.url, workdir / "logs",
                                  retryPolicy=RETRY_POLICY)
        env.prepare(config_path=config)
        from moto import mock_aws

        from .counting import COUNTER

        COUNTER.install()
        tuned = env.tune_moto()
        with mock_aws():
            return {**_measure(quick, agent), "moto_adjustments": tuned}


def _measure(quick: bool, agent: Any) -> dict[str, Any]:
    """Provision, then the tick curve, then the executor paths."""
    from . import executor_cost, guard_rails, listing, tick
    from . import long_runs as bench_long_runs

    created, provision_s = _provision()
    executor = executor_cost.measure(agent)  # first: moto's transactions slow down as tables fill
    long_runs = bench_long_runs.measure(agent)
    rails = guard_rails.measure(agent)
    sizes = QUICK_SIZES if quick else FULL_SIZES
    started = time.perf_counter()
    curve = tick.curve(sizes, DUE, lambda n: listing.measure(n) if n in LIST_SIZES else None)
    curve_s = time.perf_counter() - started
    executor["transaction_ms"]["large"] = executor_cost.transaction_ms(0x51, executor_cost.table_items())
    return {"provision_s": round(provision_s, 2), "listing": curve.pop("probes"), "tick_curve": curve,
            "tick_curve_s": round(curve_s, 1),
            "executor": executor, "long_runs": long_runs, "guard_rails": rails}


def main() -> int:
    """Entry point: JSON on stdout, logs on stderr."""
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)  # failures are the point of some paths
    with tempfile.TemporaryDirectory(prefix="agentos-bench-") as tmp:
        result = run(env.quick(), Path(tmp))
    json.dump(result, sys.stdout, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
