"""The reconciler's cost: one pass (what the minute tick runs) against the runs in progress.

Every minute the tick runs ``runtime.reconciler().run()`` (chalicelib/engine/reconcile.py): one Query
per shard of the runs table's sparse ``overdue`` index for the runs whose ``recAt`` is more than
``GRACE_MS`` past, a message re-sent and a conditional UpdateItem (its next look) for each of them.
This section seeds runs in progress straight into the runs table, as the engine writes them
(``recShard``/``recAt`` set by :func:`chalicelib.store.runs.watched`): accepted ``running`` runs with a
future deadline, ``retrying`` runs and ``queued`` runs, 1,000 and then 10,000 of them, with 0 and
then 100 of them overdue (the same three kinds, past their time by more than ``GRACE_MS``), and
counts one pass in each of the four cases: items read must be the overdue runs, not the runs in
progress. The bench's agent has no ``maxConcurrent``, so the pass's agent part reads nothing.

``python -m bench.reconcile`` measures it alone and merges it into bench/results.json (key
``reconcile``); ``make bench`` runs it as a part of its own (``--part``: JSON on stdout only), in
a fresh ``moto.mock_aws`` so that no run left by another section is in the index. Its subsection
of docs/benchmarks.md (1e) is written by bench/report.py (``reconcile_section``).
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Iterable, Sequence
from typing import Any

from .harness import part_main

IN_PROGRESS = (1_000, 10_000)
OVERDUE = (0, 100)
REPEAT = 3  # passes timed per case (each overdue case re-marks its runs overdue first); counts are equal
KINDS = ("running", "retrying", "queued")  # accepted running, waiting for a retry, waiting to start
MINUTE_MS = 60_000


def _run_id(at_ms: int, i: int) -> str:
    """A run id of the engine's shape (``run-<ms>-<job hex>``), so that its job is readable from it."""
    return f"run-{at_ms:013d}-a0{i:014x}"


def _item(i: int, now: int, overdue: bool) -> Any:
    """Run ``i`` in progress, of kind ``KINDS[i % 3]``, watched (recShard/recAt) as the engine does.

    Not overdue: its ``recAt`` is where the engine puts it, in the future (the deadline of an
    accepted attempt, a retry's time + the lease, a queued run's expected start + its recheck).
    Overdue: the same run whose time passed more than ``GRACE_MS`` ago (a lost message)."""
    from chalicelib.engine.reconcile import GRACE_MS
    from chalicelib.store.models import RunModel, RunStatus
    from chalicelib.store.runs import watched

    kind = KINDS[i % len(KINDS)]
    scheduled = now - 10 * MINUTE_MS
    job_id = f"job-a0{i:014x}"
    run = RunModel(job_id, _run_id(scheduled, i), trigger="schedule", scheduledAt=scheduled, attempt=1,
                   generation=1, status=RunStatus.RUNNING.value)
    # Spread over the hour ahead, or over the minute before the grace period ended.
    at = now - GRACE_MS - 1_000 - (i % 60) * 1_000 if overdue else now + MINUTE_MS + (i % 3_600) * 1_000
    if kind == "running":
        run.startedAt, run.acceptedAt, run.heartbeatAt, run.timeoutAt = scheduled, scheduled, scheduled, at
    elif kind == "retrying":
        run.status, run.error, run.retryAt = RunStatus.RETRYING.value, "HTTP 500", at
    else:
        run.status, run.attempt = RunStatus.QUEUED.value, 0
    watched(run, at)
    return run


def _write(runs: Iterable[Any]) -> tuple[int, float]:
    """Batch-write run items (BatchWriteItem, 25 a call); (items written, seconds)."""
    from chalicelib.store.models import RunModel

    started, count = time.perf_counter(), 0
    with RunModel.batch_write() as batch:
        for run in runs:
            batch.save(run)
            count += 1
    return count, time.perf_counter() - started


def _overdue_ids(total: int, overdue: int) -> list[int]:
    """Which of ``total`` runs are made overdue: spread evenly over them (and so over the kinds)."""
    step = total // overdue if overdue else 1
    return [k * step for k in range(overdue)]


def _pass(now: int, overdue: int) -> dict[str, Any]:
    """One counted reconciler pass at ``now``."""
    from chalicelib import runtime

    from .counting import COUNTER

    reconciler = runtime.reconciler()
    with COUNTER.measure() as tally:
        started = time.perf_counter()
        done = reconciler.run(now)
        wall = time.perf_counter() - started
    return {"overdue_found": done.overdue, "repaired": done.repaired, "pass_items_read": done.items_read,
            "items_read": tally.items_read, "dynamodb_calls": tally.service_calls("dynamodb"),
            "sqs_calls": tally.service_calls("sqs"), "calls": dict(sorted(tally.calls.items())),
            "messages_sent": done.repaired + done.started, "wall_s": wall, "expected_overdue": overdue}


def _scan_reference(now: int) -> int:
    """Items a Scan of the runs table for the overdue runs reads (the reference the index replaces)."""
    from chalicelib.engine.reconcile import GRACE_MS
    from chalicelib.store.models import RunModel

    from .counting import COUNTER

    with COUNTER.measure() as tally:
        for _ in RunModel.scan(RunModel.recAt < now - GRACE_MS):
            pass
    return tally.items_read


def _case(total: int, overdue: int, now: int) -> dict[str, Any]:
    """``REPEAT`` passes over ``total`` runs in progress of which ``overdue`` are overdue."""
    from chalicelib.engine.reconcile import RECHECK_MS
    from chalicelib.store.models import RunModel

    ids = _overdue_ids(total, overdue)
    passes = []
    for _ in range(REPEAT):
        _write(_item(i, now, True) for i in ids)  # (again) past their time: the last pass moved them on
        passes.append(_pass(now, overdue))
    first = passes[0]
    counts = ("items_read", "dynamodb_calls", "sqs_calls", "calls", "overdue_found", "repaired")
    if any(p[k] != first[k] for p in passes for k in counts):
        raise AssertionError(f"passes of one case counted differently: {passes}")
    rechecked = sum(1 for i in ids if RunModel.get(f"job-a0{i:014x}", _run_id(now - 10 * MINUTE_MS, i)).recAt
                    == now + RECHECK_MS)
    walls = [p["wall_s"] for p in passes]
    scan = _scan_reference(now)
    return {"runs_in_progress": total, "overdue": overdue, **{k: first[k] for k in counts},
            "pass_items_read": first["pass_items_read"], "messages_sent": first["messages_sent"],
            "rechecked": rechecked, "items_read_per_minute": first["items_read"],
            "items_read_per_day": first["items_read"] * 1_440, "scan_items_read": scan,
            "wall_s": round(statistics.median(walls), 3), "wall_s_runs": [round(w, 3) for w in walls]}


def measure(sizes: Sequence[int] = IN_PROGRESS, overdue: Sequence[int] = OVERDUE) -> dict[str, Any]:
    """Every case, in one run, on one runs table that grows from one size to the next."""
    from chalicelib import runtime
    from chalicelib.engine.reconcile import GRACE_MS, PAGE, RECHECK_MS
    from chalicelib.store.runs import RECONCILE_SHARDS

    now = int(time.time() * 1000)
    queue = runtime.reconciler().queue
    queue.url(queue.queue_name)  # once per process: not part of a pass
    cases, seeding, seeded = [], [], 0
    for total in sizes:
        if total > seeded:
            items, seconds = _write(_item(i, now, False) for i in range(seeded, total))
            seeding.append({"items": items, "seconds": round(seconds, 2), "items_per_s": round(items / seconds)})
            seeded = total
        for late in overdue:
            cases.append(_case(total, late, now))
            _write(_item(i, now, False) for i in _overdue_ids(total, late))  # on time again for the next case
    return {"cases": cases, "seeding": seeding, "kinds": list(KINDS), "shards": RECONCILE_SHARDS,
            "grace_ms": GRACE_MS, "recheck_ms": RECHECK_MS, "page": PAGE, "repeat": REPEAT}


def main() -> int:
    """``python -m bench.reconcile [--part]``: JSON on stdout; alone, also merged into bench/results.json."""
    return part_main("reconcile", measure)


if __name__ == "__main__":
    raise SystemExit(main())
