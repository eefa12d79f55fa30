"""What a quota check costs (contract section 11): a create, a PATCH and a delete through
``JobService`` for an agent with no quota and for one with every quota, counted call by call.

An agent with ``maxJobs`` or ``maxRunsPerDay`` keeps counters on its ``agent#<id>`` item, moved in
the job's own TransactWriteItems (chalicelib/api/admission.py, chalicelib/store/quotas.py): the
figures below say what that adds per request (calls, items written, items read). ``minIntervalMs``
and ``maxDepth`` are decided in memory. A counter that was never started (a quota configured on
an agent that already has jobs) is started once, by the first write that finds it absent: the
last case counts that first create over ``EXISTING`` jobs. The projection every job view carries
(chalicelib/engine/projection.py) reads nothing: its wall time per view is measured for an
interval of one second (arithmetic) and an every-minute cron (walked once per minute, cached).

``python -m bench.admission`` measures it alone and merges it into bench/results.json (key
``admission``); ``make bench`` runs it as one of its parts (``--part``: JSON on stdout only). Its
subsection of docs/benchmarks.md (1f) is written by bench/report.py (``admission_section``).
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from .harness import part_main

FREE = "11111111-1111-4111-8111-111111111111"  # no quota
LIMITED = "22222222-2222-4222-8222-222222222222"  # every quota
LATE = "33333333-3333-4333-8333-333333333333"  # every quota, jobs made before its counters
QUOTA = {"maxJobs": 100_000, "minIntervalMs": 1000, "maxRunsPerDay": 10**9, "maxDepth": 3}
REPEAT = 10  # requests counted per case; their counts must be equal
EXISTING = 100  # the late agent's jobs before its counters start
VIEWS = 200  # job views timed per schedule
HOUR_MS = 3_600_000


def config_extra() -> dict[str, Any]:
    """The bench's agents: one without a quota, two with every quota."""
    return {"agents": {FREE: {"maxConcurrent": 1000}, LIMITED: {"quota": QUOTA}, LATE: {"quota": QUOTA}}}


def _body(name: str, agent: str) -> dict[str, Any]:
    return {"name": name, "agentId": agent, "interval": HOUR_MS, "payload": {"n": name}}


def _counted(action: Callable[..., Any]) -> dict[str, Any]:
    from .counting import COUNTER

    with COUNTER.measure() as tally:
        started = time.perf_counter()
        action()
        wall = time.perf_counter() - started
    return {"calls": dict(sorted(tally.calls.items())), "dynamodb_calls": tally.service_calls("dynamodb"),
            "items_read": tally.items_read, "wall_ms": wall * 1000}


def _case(name: str, actions: Sequence[Callable[..., Any]], items_written: int) -> dict[str, Any]:
    """Each action counted; the counts must agree, the wall time is their median."""
    measured = [_counted(action) for action in actions]
    first = measured[0]
    if any(m[k] != first[k] for m in measured for k in ("calls", "items_read")):
        raise AssertionError(f"requests of case {name} counted differently: {measured}")
    return {"case": name, "calls": first["calls"], "dynamodb_calls": first["dynamodb_calls"],
            "items_read": first["items_read"], "items_written": items_written,
            "wall_ms": round(statistics.median(m["wall_ms"] for m in measured), 2)}


def _requests(agent: str, tag: str) -> list[dict[str, Any]]:
    """Create, PATCH (a new interval) and delete ``REPEAT`` jobs of ``agent``."""
    from chalicelib import runtime

    service = runtime.jobs()
    service.create(_body(f"{tag}-warm", agent))  # the counters start here (and clients warm up)
    made: list[str] = []
    creates = [lambda i=i: made.append(service.create(_body(f"{tag}-{i}", agent))["id"]) for i in range(REPEAT)]
    extra = 1 if agent != FREE else 0  # the agent item, in the job's own transaction
    cases = [_case(f"create, {tag}", creates, 2 + extra)]
    patches = [lambda i=i: service.update(made[i], {"interval": HOUR_MS // 2}) for i in range(REPEAT)]
    cases.append(_case(f"PATCH interval, {tag}", patches, 1 + extra))
    deletes = [lambda i=i: service.delete(made[i]) for i in range(REPEAT)]
    cases.append(_case(f"delete, {tag}", deletes, 2 + extra))
    return cases


def _first_count() -> dict[str, Any]:
    """The first create of an agent whose ``EXISTING`` jobs were made before its counters."""
    from chalicelib import runtime
    from chalicelib.store.models import JobModel

    for i in range(EXISTING):  # straight into the store: no counter moves
        job = JobModel(f"job-late{i:012x}", name=f"late-{i}", agentId=LATE, interval=HOUR_MS, payload="{}",
                       status="active", createdAt=0, updatedAt=0, runsPerDay=24)
        runtime.job_store().create(job)
    return _case(f"first create over {EXISTING} jobs, counters absent",
                 [lambda: runtime.jobs().create(_body("late-first", LATE))], 3)


def _views() -> dict[str, Any]:
    """Wall time of one job view's projection, per schedule (no call is made: counted too)."""
    from chalicelib import runtime
    from chalicelib.clock import now_ms
    from chalicelib.engine.projection import projection

    from .counting import COUNTER

    timed: dict[str, Any] = {}
    for label, timing in (("interval 1 s", {"interval": 1000}), ("cron every minute", {"schedule": "* * * * *"})):
        body = {**_body(f"view-{label}", FREE), "interval": None, **timing}
        job_id = runtime.jobs().create(body)["id"]
        job = runtime.job_store().get(job_id)
        with COUNTER.measure() as tally:
            started = time.perf_counter()
            runs = [projection(job, now_ms() + i * 1000) for i in range(VIEWS)]
            wall = time.perf_counter() - started
        timed[label] = {"runsPerDay": runs[0]["runsPerDay"], "us_per_view": round(wall / VIEWS * 1e6, 1),
                        "calls": sum(tally.calls.values())}
    return timed


def measure() -> dict[str, Any]:
    """Every case, in one run."""
    cases = _requests(FREE, "no quota") + _requests(LIMITED, "every quota") + [_first_count()]
    return {"cases": cases, "quota": QUOTA, "repeat": REPEAT, "existing": EXISTING, "views": _views(),
            "view_count": VIEWS}


def main() -> int:
    """``python -m bench.admission [--part]``: JSON on stdout; alone, also merged into bench/results.json."""
    return part_main("admission", measure, **config_extra())


if __name__ == "__main__":
    raise SystemExit(main())
