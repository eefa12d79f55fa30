"""Gather the parts' JSON into ``bench/results.json``, with the issue's keys and targets."""
from __future__ import annotations

from typing import Any


def tick_block(inproc: dict[str, Any]) -> dict[str, Any]:
    """``tick.*``: the complete ticks at the largest N, engine and Scan reference."""
    curve = inproc["tick_curve"]
    point = curve["tick"]
    engine, naive = point["engine"], point["naive"]
    occurrences = max(engine["occurrences"], 1)
    return {
        "jobs_total": point["jobs_total"], "table_items": point["table_items"], "due": point["due"],
        "shards": curve["shards"], "occurrences": engine["occurrences"],
        "items_read": engine["items_read"], "api_calls": engine["calls"],
        "api_calls_total": sum(engine["calls"].values()), "dynamodb_calls": engine["dynamodb_calls"],
        "sends": engine["sends"], "wall_s": engine["wall_s"],
        "items_read_per_occurrence": engine["items_read_per_occurrence"],
        "dynamodb_calls_per_occurrence": engine["dynamodb_calls_per_occurrence"],
        "advances_per_occurrence": round(_advance_calls(engine["calls"]) / occurrences, 4),
        "advance_batch": curve.get("advance_batch"),
        "sends_per_occurrence": engine["sends_per_occurrence"],
        "scan_items_read": naive["items_read"], "scan_api_calls": naive["calls"], "scan_wall_s": naive["wall_s"],
        "scan_to_index_items_ratio": point["scan_to_index_items_ratio"],
        "engine": engine, "naive": naive, "find_curve": curve["find_curve"], "seeding": curve["seeding"],
    }


def _advance_calls(calls: dict[str, int]) -> int:
    """The tick's writes: one UpdateItem per job, or one TransactWriteItems per batch of jobs."""
    return calls.get("dynamodb.UpdateItem", 0) + calls.get("dynamodb.TransactWriteItems", 0)


def lateness_blocks(lateness: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``lateness_ms`` (load (a)) and ``lateness`` (every load)."""
    loads = lateness["loads"]
    headline = {k: loads["a"]["lateness_ms"][k] for k in ("p50", "p95", "p99", "max")}
    return headline, {"pollers": lateness["pollers"], "tick_period_s": lateness["tick_period_s"],
                      "capacity_per_s": lateness["capacity_per_s"], **loads}


def _target(name: str, value: float, limit: float, op: str, note: str = "") -> dict[str, Any]:
    """One target row: ``op`` is ``<=`` or ``<``."""
    ok = value <= limit if op == "<=" else value < limit
    return {"name": name, "value": value, "target": f"{op} {limit:g}", "pass": bool(ok), "note": note}


def _reference(late: dict[str, Any], name: str) -> str:
    """The per-message reference run of load ``name`` in the same bench run, if there is one."""
    ref = late.get(f"{name}_ref")
    return f"per message, same run: {ref['lateness_ms']['p99']:,.0f}" if ref else ""


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with its measured value and pass/fail."""
    tick, late, cold = results["tick"], results["lateness"], results["cold_start"]
    return [
        _target(f"items read per due occurrence (N = {tick['jobs_total']:,})", tick["items_read_per_occurrence"],
                1.05, "<="),
        _target("SQS send calls per occurrence (tick)", tick["sends_per_occurrence"], 0.11, "<="),
        _target("lateness p99, load (a) 50 in one second (ms)", late["a"]["lateness_ms"]["p99"], 1000, "<"),
        _target("lateness p99, load (b) 20/s steady (ms)", late["b"]["lateness_ms"]["p99"], 1000, "<",
                _reference(late, "b")),
        *[_target(f"lateness p99, load ({name}) {late[name]['occurrences']:,} in one second (ms)",
                  late[name]["lateness_ms"]["p99"], 1000, "<",
                  _reference(late, name) + "; the local stack's bound: finding 12")
          for name in ("c",) if name in late],  # (d), 1,000 in one second, is reported with no target
        *[_target(f"executor DynamoDB calls per occurrence, burst ({name})",
                  late[name]["executor_dynamodb_calls_per_occurrence"], 1.3, "<=",
                  f"per message: {late[name + '_ref']['executor_dynamodb_calls_per_occurrence']:g}"
                  if name + "_ref" in late else "")
          for name in ("c", "d") if name in late and "executor_dynamodb_calls_per_occurrence" in late[name]],
        _target("executor DynamoDB calls per successful occurrence", results["executor"]["calls_success"], 3, "<="),
        _target("tick DynamoDB calls per occurrence (all calls)", tick["dynamodb_calls_per_occurrence"], 1, "<=",
                f"{tick['shards']} shard queries + 1 advance write per {tick.get('advance_batch') or 1} jobs"),
        _target("tick DynamoDB writes per occurrence (advances only)", tick["advances_per_occurrence"], 1, "<="),
        _target("import app / import boto3", cold["ratio"], 1.5, "<="),
        *[_target(f"import app + first invocation of {f} / import boto3", r, 1.5, "<=",
                  f"{cold['first_invocation_s'][f]:.3f} s against {cold['first_invocation_boto3_s']:.3f} s, "
                  "same rounds" + (f"; per round {cold['first_invocation_ratio_per_round'][f]:g}"
                                   if f in cold.get("first_invocation_ratio_per_round", {}) else ""))
          for f, r in (cold.get("first_invocation_ratio") or {}).items()],
        *[_target(f"deadline check: items read per due check ({c['runs_in_progress']:,} runs in progress)",
                  c["items_read_per_due_check"], 2, "<=",
                  "the run and its job: grows with the runs due, not in progress")
          for c in (results.get("long_runs") or {}).get("deadline_checks", [])],
        *[_target(f"job list: items read per page of 100, any filter (N = {p['jobs_total']:,})",
                  max(f["max_items_read_per_page_100"] for f in p["filters"]), 200, "<=",
                  "index entries + jobs fetched") for p in results.get("listing", [])],
    ]


def assemble(parts: dict[str, dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    """The whole results document."""
    inproc, lateness, cold = parts["inproc"], parts["lateness"], parts["cold_start"]
    headline, loads = lateness_blocks(lateness)
    results: dict[str, Any] = {
        "meta": {**meta, "provision_s": inproc["provision_s"]},
        "tick": tick_block(inproc), "lateness_ms": headline, "lateness": loads,
        "executor": inproc["executor"], "cold_start": cold, "listing": inproc.get("listing", []),
        "long_runs": inproc.get("long_runs"),
        "guard_rails": inproc.get("guard_rails"),
    }
    results["targets"] = targets(results)
    return results
