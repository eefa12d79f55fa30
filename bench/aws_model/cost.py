"""What a run bills, in USD at us-east-1 list prices (:mod:`.assumptions`): Lambda requests and
GB-seconds (executor and tick), SQS requests, DynamoDB on-demand units, provisioned mode's event
poller hours."""
from __future__ import annotations

from .assumptions import A
from .scenario import Outcome

# DynamoDB units the tick spends per occurrence (docs/benchmarks.md, section 3 and "On paper"):
# advancing nextRunAt in a 25-job transaction (2 units) plus the index's delete and put; reading a
# 0.2 KB due entry eventually consistent (0.5 unit per 4 KB).
TICK_WCU, TICK_RCU = 4.0, 0.2 / 4 * 0.5
GB = A["memory_mb"] / 1024


def poller_hours(resting: float, raised: float, raised_minutes: float, hours: float) -> float:
    """Event poller hours: ``resting`` pollers for ``hours``, plus ``raised`` more for ``raised_minutes``."""
    return resting * hours + max(0.0, raised) * raised_minutes / 60


def bill(outcome: Outcome, occurrences: int, epu_hours: float = 0.0, count_queries: int = 0) -> dict[str, float]:
    """USD by service for one run (``count_queries``: provisioning's Select=COUNT calls, 0.5 RRU each)."""
    ledger, ticks = outcome.ledger, outcome.ticks
    gb_s = GB * (ledger.billed_ms + 1000 * sum(ticks.seconds)) / 1000
    costs = {
        "lambda": (ledger.invocations + ticks.ticks) * A["price_lambda_request"] + gb_s * A["price_lambda_gb_s"],
        "sqs": (ticks.sends + ledger.receives + ledger.deletes) * A["price_sqs_request"],
        "dynamodb": (ledger.wcu + TICK_WCU * occurrences) * A["price_wru"]
        + (ledger.rcu + TICK_RCU * occurrences + 0.5 * count_queries) * A["price_rru"],
        "pollers": epu_hours * A["price_epu_hour"],
    }
    costs["total"] = sum(costs.values())
    return {k: round(v, 4) for k, v in costs.items()}
