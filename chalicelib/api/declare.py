"""A job declared in code (contract section 10, ``PUT /api/jobs/by-name/{name}``): the body is
the job's whole desired state, and what differs from the stored job becomes a PATCH.

A service that declares its jobs at every start must never shift, skip or repeat an occurrence,
so a declaration that matches the stored job writes nothing: every field is compared as the
API shows it (a default stands for an absent value), and only the fields that differ are sent
to :meth:`JobService.update`.
"""
from __future__ import annotations

import json
from typing import Any

from ..clock import to_ms
from ..defaults import DEFAULT_TIMEOUT_MS
from ..errors import ValidationFailed
from ..schedules import parse_bound
from ..store.budgets import budget_view
from ..store.models import JobModel, Overlap
from ..vocab import SettableJobStatus
from .bodies import NewJob

SETTABLE_STATUSES: tuple[SettableJobStatus, ...] = ("active", "paused")
# A create body's fields that a declaration may change on an existing job (name and agentId
# identify the job: they are checked, never changed here).
PLAIN_FIELDS = ("description", "schedule", "interval", "timezone", "heartbeatTimeoutMs", "overlap",
                "maxConsecutiveFailures", "maxRuns", "catchupWindowMs", "expectSuccessWithinMs")


def declared_body(name: str, body: object) -> tuple[dict[str, Any], str | None]:
    """The create body a PUT asks for (``name`` from the path) and the ``status`` it sets, if any;
    400 naming ``name`` if the body names another job, or ``status`` if it is not settable."""
    if not isinstance(body, dict):
        raise ValidationFailed("body", "must be a JSON object")
    if "name" in body and body["name"] != name:
        raise ValidationFailed("name", f"must be the path's name {name!r} (or be left out)")
    status = body.get("status")
    if "status" in body and status not in SETTABLE_STATUSES:
        raise ValidationFailed("status", f"must be one of {', '.join(SETTABLE_STATUSES)}")
    create = {k: v for k, v in body.items() if k != "status"}
    create["name"] = name
    return create, status


def _canonical(value: Any) -> str:
    # 1, 1.0 and true are different payloads; key order is not a difference.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _instant(field: str, text: str | None, timezone: str) -> int | None:
    return None if text is None else to_ms(parse_bound(field, text, timezone))


def _stored(job: JobModel) -> dict[str, Any]:
    """The stored job's settable fields, as a create body would give them (defaults filled in)."""
    def number(value: Any) -> int | None:
        return int(value) if value is not None else None
    return {
        "description": job.description, "schedule": job.schedule, "interval": number(job.interval),
        "timezone": job.timezone, "heartbeatTimeoutMs": number(job.heartbeatTimeoutMs),
        "overlap": job.overlap or Overlap.SKIP.value,
        "maxConsecutiveFailures": number(job.maxConsecutiveFailures) or None,
        "maxRuns": number(job.maxRuns), "catchupWindowMs": number(job.catchupWindowMs),
        "expectSuccessWithinMs": number(job.expectSuccessWithinMs),
    }


def changes(job: JobModel, spec: NewJob, body: dict[str, Any], status: str | None) -> dict[str, Any]:
    """The PATCH body that makes ``job`` match the declaration ``spec`` (read from ``body``):
    only the fields that differ, each with the body's value or its default. Empty: nothing differs."""
    stored = _stored(job)
    patch = {k: getattr(spec, k) for k in PLAIN_FIELDS if getattr(spec, k) != stored[k]}
    if _canonical(spec.payload) != _canonical(json.loads(job.payload)):
        patch["payload"] = spec.payload
    timeout = spec.timeoutMs if spec.timeoutMs is not None else DEFAULT_TIMEOUT_MS
    if timeout != (int(job.timeoutMs) if job.timeoutMs is not None else DEFAULT_TIMEOUT_MS):
        patch["timeoutMs"] = spec.timeoutMs
    policy = spec.retryPolicy._asdict() if spec.retryPolicy is not None else None
    if policy != (json.loads(job.retryPolicy) if job.retryPolicy else None):
        patch["retryPolicy"] = body.get("retryPolicy")
    budget = spec.budget.limits() if spec.budget is not None else None
    if budget != budget_view(job):
        patch["budget"] = body.get("budget")
    for field in ("startAt", "endAt"):
        stored_ms = getattr(job, field)
        if _instant(field, getattr(spec, field), spec.timezone) != (int(stored_ms) if stored_ms is not None else None):
            patch[field] = getattr(spec, field)
    if status is not None and status != job.status:
        patch["status"] = status
    return patch
