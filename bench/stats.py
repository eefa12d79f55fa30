"""Small statistics helpers (no numpy needed)."""
from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q ≤ 100) of ``values``."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max/min/mean, rounded to 0.1."""
    if not values:
        return {"n": 0}
    figures = {"p50": percentile(values, 50), "p95": percentile(values, 95), "p99": percentile(values, 99),
               "max": max(values), "min": min(values), "mean": sum(values) / len(values)}
    return {"n": len(values), **{k: round(v, 1) for k, v in figures.items()}}


def median(values: Sequence[float]) -> float:
    """The median (mean of the middle two for an even count)."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
