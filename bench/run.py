"""``python -m bench.run [--quick]``: every benchmark, then results.json, docs and plots.

Quick mode (``--quick`` or ``BENCH_QUICK=1``) is sized to finish in about three minutes
on two idle cores. Each part runs in a fresh subprocess (``bench.inproc``,
``bench.lateness``, ``bench.cold_start``, ``bench.reconcile``, ``bench.admission``) so that each sets its own
environment before ``chalicelib`` is imported; their stderr goes to ``bench/logs/``.
"""
from __future__ import annotations

import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from .env import ROOT, quick

RESULTS = ROOT / "bench" / "results.json"
LOGS = ROOT / "bench" / "logs"  # git-ignored (logs/)
PARTS = ("inproc", "lateness", "cold_start", "reconcile", "admission", "idempotency", "late_jobs", "events",
         "history")
# measure and print only: bench.reconcile and bench.admission alone also merge
PART_ARGS = {"reconcile": ("--part",), "admission": ("--part",), "idempotency": ("--part",),
             "late_jobs": ("--part",), "events": ("--part",), "history": ("--part",)}
# parts whose figures go into results.json as they are, under their own key
SECTIONS = ("reconcile", "admission", "idempotency", "late_jobs", "events", "history")


def ensure_plotting() -> None:
    """Install ``bench/requirements.txt`` (matplotlib) if it is missing."""
    if importlib.util.find_spec("matplotlib") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r", str(ROOT / "bench" / "requirements.txt")],
                       check=True)


def run_part(name: str, is_quick: bool) -> tuple[dict[str, Any], float]:
    """Run ``bench.<name>`` in a fresh interpreter; its JSON and its wall time."""
    LOGS.mkdir(exist_ok=True)
    args = [sys.executable, "-m", f"bench.{name}", *PART_ARGS.get(name, ())] + (["--quick"] if is_quick else [])
    started = time.perf_counter()
    with open(LOGS / f"{name}.log", "w", encoding="utf-8") as log:
        out = subprocess.run(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
    seconds = time.perf_counter() - started
    if out.returncode != 0:
        tail = (LOGS / f"{name}.log").read_text(encoding="utf-8")[-3000:]
        raise SystemExit(f"bench.{name} failed (exit {out.returncode}); end of bench/logs/{name}.log:\n{tail}")
    return json.loads(out.stdout), seconds


def _git_commit() -> str:
    """The commit the bench ran on (``unknown`` outside git)."""
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def meta(is_quick: bool, seconds: dict[str, float], load: Sequence[tuple[float, ...]]) -> dict[str, Any]:
    """Where and how the figures were taken."""
    from importlib.metadata import version

    return {"quick": is_quick, "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "commit": _git_commit(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "moto": version("moto"), "pynamodb": version("pynamodb"), "boto3": version("boto3"),
            "part_seconds": {k: round(v, 1) for k, v in seconds.items()},
            "total_seconds": round(sum(seconds.values()), 1),
            "loadavg_1min_before_each_part": [round(x[0], 2) for x in load]}


def main() -> int:
    """Run every part, assemble, write results.json and regenerate the docs."""
    is_quick = quick()
    ensure_plotting()
    parts, seconds, load = {}, {}, []
    for name in PARTS:
        load.append(os.getloadavg())
        print(f"bench: {name}...", file=sys.stderr, flush=True)
        parts[name], seconds[name] = run_part(name, is_quick)
    from .assemble import assemble
    from .report import write_docs

    results = assemble(parts, meta(is_quick, seconds, load))
    results.update({name: parts[name] for name in SECTIONS})
    from .aws_model.figures import model  # issue 28: calibrated on this run's lateness, then AWS

    print("bench: aws_model...", file=sys.stderr, flush=True)
    results["aws_model"] = model(results)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    write_docs(results)
    for target in results["targets"]:
        print(f"  {'PASS' if target['pass'] else 'FAIL'}  {target['name']}: {target['value']} "
              f"(target {target['target']})", file=sys.stderr)
    print(f"bench: wrote {RESULTS.relative_to(ROOT)} and docs/benchmarks.md in {sum(seconds.values()):.0f} s",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
