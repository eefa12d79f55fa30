"""A job's history as the API shows it (contract section 13, ``GET /api/jobs/{id}/events``), and the
events the job service records with each write (:mod:`chalicelib.store.events` keeps them).

An event's ``changes`` compare the job's API view before and after the write, over the fields a
PATCH may set (and ``pausedReason``): ``{field: [old, new]}``; a value over 1 KiB of JSON is kept
as ``{"truncated": true, "bytes": n}``. A deleted job's events stay readable under its id (the
job itself answers 404); a scoped token sees them only if the job's agent (after a delete: the
agent the delete recorded) is one of its own.
"""
from __future__ import annotations

import json
from typing import Any

from ..clock import iso
from ..errors import JobNotFound
from ..store.events import Actor, Event, EventLog, EventModel, diff, kept
from ..store.jobs import JobStore
from ..vocab import JobStatus
from .auth import Scope

STATE_FIELD = "state"  # a PATCH that sets it is a "state-reset"


# The job fields whose changes an event records: every field a PATCH may set (tests/api/test_events.py
# checks it against the PATCH model, which is not imported here: a plain create loads no pydantic),
# and pausedReason.
HISTORY_FIELDS = ("name", "description", "agentId", "schedule", "interval", "timezone", "payload", "retryPolicy",
                  "timeoutMs", "heartbeatTimeoutMs", "overlap", "maxConsecutiveFailures", "startAt", "endAt",
                  "maxRuns", "catchupWindowMs", "budget", "expectSuccessWithinMs", "state", "status", "pausedReason")


def history_fields() -> tuple[str, ...]:
    """The job fields whose changes an event records."""
    return HISTORY_FIELDS


def created(view: dict[str, Any], actor: Actor) -> Event:
    """The event of a create: each field it set, from null."""
    return Event("created", actor, {f: [None, kept(view[f])] for f in history_fields()
                                    if view.get(f) is not None})


def updated(before: dict[str, Any], after: dict[str, Any], actor: Actor, given: set[str]) -> Event:
    """The event of a PATCH (``given``: the fields its body named): ``state-reset`` if it set the
    state, ``paused`` / ``resumed`` if it moved the status so, else ``updated``."""
    changes = diff(before, after, history_fields())
    old, new = before.get("status"), after.get("status")
    if STATE_FIELD in given:
        action = "state-reset"
    elif old != new and new == JobStatus.PAUSED.value:
        action = "paused"
    elif old != new and new == JobStatus.ACTIVE.value:
        action = "resumed"
    else:
        action = "updated"
    return Event(action, actor, changes)


def deleted(actor: Actor) -> Event:
    """The event of a delete."""
    return Event("deleted", actor, {})


def run_requested(run_id: str, actor: Actor) -> Event:
    """The event of ``POST /api/jobs/{id}/run``: the run it started is named in ``reason``."""
    return Event("run-requested", actor, {}, f"run {run_id}")


def replayed(run_id: str, replay_of: str, actor: Actor) -> Event:
    """The event of ``POST /api/runs/{id}/replay``."""
    return Event("replayed", actor, {}, f"run {run_id} replays run {replay_of}")


def event_view(item: EventModel) -> dict[str, Any]:
    """The API representation of one event."""
    return {"at": iso(item.at), "action": item.action, "actor": {"kind": item.actorKind, "id": item.actorId},
            "changes": json.loads(item.changes), "reason": item.reason}


class History:
    """Reads a job's history, for the token's scope."""

    def __init__(self, log: EventLog, jobs: JobStore) -> None:
        self.log = log
        self.jobs = jobs

    def page(self, job_id: str, scope: Scope, limit: int,
             cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of ``job_id``'s events, newest first, and the next page's cursor. 404 for a job
        that neither exists nor has events, and for a scoped token when the job is not its agents'."""
        if not job_id.startswith("job-"):
            raise JobNotFound(job_id)
        if scope is not None and self._agent(job_id) not in scope:
            raise JobNotFound(job_id)
        events, following = self.log.page(job_id, limit, cursor)
        if not events and cursor is None and self.jobs.find(job_id) is None:
            raise JobNotFound(job_id)
        return [event_view(e) for e in events], following

    def _agent(self, job_id: str) -> str | None:
        """The job's agent; once deleted, the agent its latest event (the delete) recorded."""
        job = self.jobs.find(job_id)
        if job is not None:
            return job.agentId
        latest = self.log.newest(job_id)
        return latest.agentId if latest is not None else None
