"""Tick efficiency: items read and API calls per due occurrence, engine vs. Scan.

Runs inside ``moto.mock_aws`` (in process). For each table size N of the curve, the
D due jobs are found twice, by a query of each ``due`` index shard (what
:meth:`Dispatcher.tick` does) and by a Scan (:mod:`bench.naive_tick`). At the largest
N both complete ticks run (find, send, advance), with the due jobs restored in
between. Counts come from :mod:`bench.counting`; wall times are moto's.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from chalicelib import runtime
from chalicelib.engine.dispatch import Dispatcher, DispatchReport
from chalicelib.store.models import JobModel

from . import seed
from .counting import COUNTER, Tally
from .naive_tick import naive_tick, scan_due


def _drop_messages(queue_name: str) -> None:
    """Empty the in-process moto queue (PurgeQueue is allowed once a minute only).

    moto's SendMessage walks every message already in the queue, so a tick's sends get
    slower with each earlier tick's (delayed, never received) messages: a moto artifact
    that would otherwise leak into the wall times.
    """
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].queues[queue_name]
    with queue._messages_lock:
        queue._messages.clear()


def _run(tick: Callable[[int], DispatchReport], now_ms: int) -> dict[str, Any]:
    """One counted, timed tick (on an empty queue)."""
    _drop_messages(runtime.queue().queue_name)
    with COUNTER.measure() as tally:
        started = time.perf_counter()
        report = tick(now_ms)
        wall = time.perf_counter() - started
    return _summary(tally, report, wall)


def _summary(tally: Tally, report: DispatchReport, wall_s: float) -> dict[str, Any]:
    """The JSON figures of one tick."""
    occurrences = max(report.occurrences, 1)
    return {
        **tally.as_dict(), "wall_s": round(wall_s, 3), "jobs_seen": report.jobs_seen,
        "occurrences": report.occurrences, "advanced": report.advanced, "lost_races": report.lost_races,
        "errors": report.errors, "sends": tally.calls["sqs.SendMessageBatch"],
        "items_read_per_occurrence": round(tally.items_read / occurrences, 4),
        "dynamodb_calls_per_occurrence": round(tally.service_calls("dynamodb") / occurrences, 4),
        "sends_per_occurrence": round(tally.calls["sqs.SendMessageBatch"] / occurrences, 4),
    }


def _restore_due(due: int, now_ms: int, dispatcher: Dispatcher) -> None:
    """Put the due jobs back as seeded (the previous tick advanced them)."""
    horizon = now_ms + dispatcher.lookahead_ms
    seed.write(seed.tick_population(0, due, due, now_ms, horizon, dispatcher.shards), claims=False)


def _find(name: str, find: Callable[[], list[JobModel]]) -> dict[str, Any]:
    """Only the "which jobs are due" phase of a tick: counted and timed."""
    with COUNTER.measure() as tally:
        started = time.perf_counter()
        found = find()
        wall = time.perf_counter() - started
    return {"how": name, "found": len(found), "items_read": tally.items_read, "wall_s": round(wall, 3),
            "calls": dict(tally.calls)}


def find_point(jobs_total: int, now_ms: int) -> dict[str, Any]:
    """Items read and wall time to find the due jobs, by index query and by Scan, at one N."""
    dispatcher = runtime.dispatcher()
    horizon = now_ms + dispatcher.lookahead_ms
    engine = _find("due index", lambda: [j for s in range(dispatcher.shards) for j in dispatcher.store.due(s, horizon)])
    naive = _find("scan", lambda: list(scan_due(dispatcher.store.model, horizon)))
    return {"jobs_total": jobs_total, "table_items": 2 * jobs_total, "engine": engine, "naive": naive}


def full_point(jobs_total: int, due: int, now_ms: int) -> dict[str, Any]:
    """Engine tick, then naive tick, on the same N jobs: finds, sends and advances, all counted."""
    dispatcher = runtime.dispatcher()
    engine = _run(dispatcher.tick, now_ms)
    _restore_due(due, now_ms, dispatcher)
    naive = _run(lambda now: naive_tick(dispatcher, now), now_ms)
    _restore_due(due, now_ms, dispatcher)
    ratio = naive["items_read"] / max(engine["items_read"], 1)
    return {"jobs_total": jobs_total, "due": due, "table_items": 2 * jobs_total, "engine": engine,
            "naive": naive, "scan_to_index_items_ratio": round(ratio, 2)}


def curve(sizes: list[int], due: int, probe: Callable[[int], dict[str, Any] | None] = lambda n: None) -> dict[str, Any]:
    """Seed the table up to each size in turn and measure the find phase there (and whatever
    ``probe`` measures at that size); at the largest size, run both complete ticks."""
    dispatcher = runtime.dispatcher()
    dispatcher.queue.url(dispatcher.queue.queue_name)  # GetQueueUrl: once per process, not per tick
    now_ms = int(time.time() * 1000)
    horizon = now_ms + dispatcher.lookahead_ms
    points, seeding, seeded, probes = [], [], 0, []
    for size in sorted(sizes):
        items, seconds = seed.write(seed.tick_population(seeded, size, due, now_ms, horizon, dispatcher.shards))
        seeding.append({"jobs": size - seeded, "items": items, "seconds": round(seconds, 2),
                        "items_per_s": round(items / max(seconds, 1e-9))})
        seeded = size
        points.append(find_point(size, now_ms))
        probes += [found] if (found := probe(size)) else []
    return {"probes": probes, "shards": dispatcher.shards, "lookahead_ms": dispatcher.lookahead_ms, "due": due,
            "advance_batch": dispatcher.advance_batch,
            "find_curve": points, "seeding": seeding, "tick": full_point(seeded, due, now_ms)}
