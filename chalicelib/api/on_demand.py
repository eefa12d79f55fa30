"""Runs on demand: run now (with the job's payload or one of its own) and replay (contract
sections 2, 6 and 10). Both start the same way, outside the schedule: overlap, budgets, agent
limits and callback tokens apply to them as to any run, in the executor's claim.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..clock import now_ms
from ..engine.dispatch import manual_run_id
from ..errors import RunConflict, ValidationFailed
from ..store.events import Event
from ..store.models import JobModel, Overlap, RunModel, Trigger
from ..store.run_payloads import RunPayload
from ..store.runs import Occurrence, RunStore
from ..store.sqs import Message, OccurrenceQueue

RUN_NOW_FIELDS = ("payload",)


def run_now_payload(body: object) -> dict[str, Any] | None:
    """The payload a run-now body asks for (None: no body, or none asked: the job's); 400 otherwise."""
    if body is None:
        return None
    if not isinstance(body, dict):
        raise ValidationFailed("body", "must be a JSON object")
    unknown = sorted(set(body) - set(RUN_NOW_FIELDS))
    if unknown:
        raise ValidationFailed(unknown[0], "is not a field of this request (use payload)")
    payload = body.get("payload")
    if "payload" in body and (type(payload) is not dict or any(type(k) is not str for k in payload)):
        raise ValidationFailed("payload", "must be a JSON object")
    return payload


def start(runs: RunStore, queue: OccurrenceQueue, job: JobModel, trigger: Trigger,
          kept: RunPayload | None, note: Callable[[str], Event] | None = None) -> RunModel:
    """Start a run of ``job`` now; ``kept``: what it is delivered instead of the job's payload;
    ``note``: the request's event in the job's history, from the new run's id (written with its record).

    On a busy ``skip`` job this answers 409 naming the run in progress (the claim still decides
    atomically: a run that slips past this check is recorded ``skipped``)."""
    now = now_ms()
    busy = job.activeRun is not None and int(job.activeUntil or 0) >= now
    if busy and (job.overlap or Overlap.SKIP.value) == Overlap.SKIP.value:
        raise RunConflict(f"run {job.activeRun} of this job is in progress (overlap: skip)", "overlap")
    occ = Occurrence(job_id=job.id, run_id=manual_run_id(job.id, now), scheduled_ms=now, trigger=trigger,
                     generation=int(job.generation), attempt=1)
    if kept is not None:  # before the message: its first claim may come at once
        runs.keep_payload(occ, kept, now)
    # Send first, then record "queued": if the record fails the run still happens.
    queue.send_one(Message(occ, now), now)
    return runs.enqueue_manual(occ, now, kept or RunPayload(job.payload), note(occ.run_id) if note else None)
