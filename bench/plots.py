"""The PNG plots of docs/benchmarks.md (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def tick_curve(results: dict[str, Any], path: Path) -> Path:
    """Items read and find-phase wall time against N, due index vs Scan."""
    points = results["tick"]["find_curve"]
    sizes = [p["jobs_total"] for p in points]
    fig, (items, wall) = plt.subplots(1, 2, figsize=(10, 4))
    items.plot(sizes, [p["naive"]["items_read"] for p in points], "o-", label="Scan reference")
    items.plot(sizes, [p["engine"]["items_read"] for p in points], "s-", label="due index (engine)")
    items.set(xscale="log", yscale="log", xlabel="jobs in the table (N)", ylabel="items read per tick",
              title=f"Items read to find {results['tick']['due']} due jobs")
    wall.plot(sizes, [p["naive"]["wall_s"] for p in points], "o-", label="Scan reference")
    wall.plot(sizes, [p["engine"]["wall_s"] for p in points], "s-", label="due index (engine)")
    wall.set(xscale="log", xlabel="jobs in the table (N)", ylabel="seconds (in-process moto)",
             title="Wall time of the find phase (moto: not O(due))")
    for axis in (items, wall):
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    return save_figure(fig, path)


def lateness_cdf(results: dict[str, Any], path: Path) -> Path:
    """Empirical CDF of lateness for each load, with the 1 s target."""
    fig, axis = plt.subplots(figsize=(8, 4.5))
    for name, block in results["lateness"].items():
        if not isinstance(block, dict) or not block.get("lateness_ms_sorted"):
            continue
        values = [max(v, 1.0) for v in block["lateness_ms_sorted"]]
        share = [(i + 1) / len(values) for i in range(len(values))]
        axis.step(values, share, where="post", label=f"({name}) {block['description']}")
    axis.axvline(1000, color="red", linestyle="--", label="target: p99 < 1,000 ms")
    axis.set(xscale="log", xlabel="lateness seen by the agent (ms, log)", ylabel="share of occurrences",
             title="Dispatch lateness on the local stack (moto server)")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=7, loc="upper left")
    return save_figure(fig, path)


def save_figure(fig: Any, path: Path) -> Path:
    """Write ``fig`` as a PNG and free it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
