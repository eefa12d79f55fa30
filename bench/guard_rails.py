"""The cost of a guard rail: executor calls per occurrence with each limit off and on, side by side.

Runs inside ``moto.mock_aws`` with the real HTTP test agent answering 200 at once. Each variant
delivers ``REPEAT`` occurrences of fresh jobs, one ``handle_batch`` each, and counts every
DynamoDB and SQS call the executor makes for them: no limit (the reference), a job budget, an
agent's ``maxConcurrent`` with a slot free, an agent budget, and all of them together. The
claim's budget check costs no call (it is part of the claim's own write); the agent's limits
cost the gate's conditional write, plus (with ``maxConcurrent``) the freeing write's check of
the agent's line.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

REPEAT = 10
LIMITED_AGENT = "9b0c8d7e-6f5a-4b3c-8d2e-1f0a9b8c7d6e"
VARIANTS: dict[str, dict[str, Any]] = {
    "no limits (reference)": {},
    "job budget": {"job_budget": True},
    "agent maxConcurrent": {"agent": {"maxConcurrent": 50}},
    "agent budget": {"agent": {"budget": {"maxCostUsdPerDay": 1_000}}},
    "all of them": {"job_budget": True, "agent": {"maxConcurrent": 50, "budget": {"maxCostUsdPerDay": 1_000}}},
}


def _configure(agent_url: str, limits: dict[str, Any] | None) -> None:
    """Point the process at a config whose limited agent has ``limits`` (a fresh runtime)."""
    from chalicelib import runtime

    path = Path(os.environ["AGENTOS_CONFIG"])
    data = json.loads(path.read_text()) if path.exists() else {}
    agents = {k: v for k, v in data.get("agents", {}).items() if k != LIMITED_AGENT}
    if limits is not None:
        agents[LIMITED_AGENT] = {"url": agent_url, "timeoutMs": 10_000, **limits}
    path.write_text(json.dumps({**data, "agents": agents}))
    runtime.reset()


def _variant(tag: int, spec: dict[str, Any]) -> dict[str, Any]:
    from chalicelib import runtime
    from chalicelib.store.models import JobModel

    from . import seed
    from .counting import COUNTER
    from .executor_cost import cost_message, cost_record

    jobs = [seed.make_job(seed.job_id(tag, i), int(time.time() * 1000) + 3_600_000, 4) for i in range(REPEAT)]
    for job in jobs:
        if spec.get("agent"):
            job.agentId = LIMITED_AGENT
        if spec.get("job_budget"):
            job.budgetTokens, job.budgetCostUsd = 10**9, 1_000.0
    seed.write(jobs)
    executor = runtime.executor()
    # A first occurrence per job, not counted: it starts the budget day and creates the agent's
    # item, once a day and once ever; the figure is the steady state.
    now = int(time.time() * 1000)
    for i, job in enumerate(jobs):
        executor.handle_batch([cost_record(cost_message(job.id, scheduled_ms=now - 60_000), 1000 + i)])
    messages = [cost_message(job.id, scheduled_ms=now) for job in jobs]
    with COUNTER.measure() as tally:
        for i, message in enumerate(messages):
            executor.handle_batch([cost_record(message, i)])
    ran = sum(1 for job in jobs if int(JobModel.get(job.id).runCount or 0) == 2)
    return {"runs_succeeded": ran, "repeat": REPEAT,
            "dynamodb_per_occurrence": round(tally.service_calls("dynamodb") / REPEAT, 2),
            "sqs_per_occurrence": round(tally.service_calls("sqs") / REPEAT, 2),
            "operations_per_occurrence": {k: round(v / REPEAT, 2) for k, v in sorted(tally.calls.items())}}


def measure(agent: Any) -> dict[str, Any]:
    """Every variant, in one run, on the same tables."""
    agent.respond_with(200)
    figures: dict[str, Any] = {}  # variant -> counts
    try:
        for k, (name, spec) in enumerate(VARIANTS.items()):
            _configure(agent.url, spec.get("agent"))
            figures[name] = _variant(0x90 + k, spec)
    finally:
        _configure(agent.url, None)
    return figures


def main() -> int:
    """``python -m bench.guard_rails``: measure alone, merge into bench/results.json, re-render the docs."""
    from .alone import run_alone

    return run_alone("guard_rails", measure)


if __name__ == "__main__":
    raise SystemExit(main())
