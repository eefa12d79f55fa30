"""The event blueprint: the minute tick and the SQS executor (Lambda entry points).

Registering them is cheap; each loads its engine (:func:`.runtime.dispatcher`,
:func:`.runtime.executor`) on its first invocation, and the API function never does.
"""
from __future__ import annotations

import logging
from typing import Any

from chalice import Blueprint, Rate

from . import coldstart, runtime, settings, telemetry
from .clock import now_ms

events = Blueprint(__name__)
log = logging.getLogger("agentos.jobs.events")
QUEUE_NAME = settings.queues()[0]  # read at import: the SQS trigger names it


@events.schedule(Rate(1, unit=Rate.MINUTES), name="tick")
def tick(event: Any) -> dict[str, Any]:
    """Every minute: dispatch every occurrence due before the lookahead horizon."""
    with coldstart.invocation():
        return _tick()


def _tick() -> dict[str, Any]:
    telemetry.configure_logging()
    flags, started = telemetry.invocation_started(), now_ms()
    try:
        report = runtime.dispatcher().tick(started)
        from .engine.provisioning import ahead  # the switch off: one environment read, no AWS call

        ahead(started, runtime.dispatcher().shards)  # the executor made ready for what is due next
        repaired = _reconcile()
        late = _late(started)
        telemetry.count("OccurrencesDispatched", report.occurrences)
        telemetry.milliseconds("TickDurationMs", now_ms() - started)
        log.info("tick: %s jobs due, %s occurrences sent, %s lost races, %s send failures",
                 report.jobs_seen, report.occurrences, report.lost_races, report.send_failures, extra=flags)
        return {"jobs": report.jobs_seen, "occurrences": report.occurrences, "errors": report.errors,
                "repaired": repaired, "late": late}
    finally:
        telemetry.flush()


def _reconcile() -> int:
    # After the dispatch, never instead of it: a failing pass is logged, and the next minute's tries again.
    try:
        done = runtime.reconciler().run()
    except Exception:
        log.exception("reconciler: pass failed; the next tick runs it again")
        return 0
    telemetry.count("RunsRepaired", done.repaired + done.slots_freed)
    return done.repaired + done.slots_freed


def _late(now: int) -> int:
    # job.late, when a receiver takes it (else no pass at all): like the reconciler, never instead of the dispatch.
    watch = runtime.late_watch()
    if watch is None:
        return 0
    try:
        return watch.run(now)
    except Exception:
        log.exception("job.late: pass failed; the next tick runs it again")
        return 0


@events.on_sqs_message(queue=QUEUE_NAME, batch_size=10, name="execute")
def execute(event: Any) -> dict[str, Any]:
    """Run each occurrence in the batch; report failed records one by one (partial batch)."""
    with coldstart.invocation():
        return _execute(event)


def _execute(event: Any) -> dict[str, Any]:
    telemetry.configure_logging()
    telemetry.invocation_started()
    try:
        return runtime.executor().handle_batch(event.to_dict().get("Records", []))
    finally:
        telemetry.flush()
