"""A new job's body (``POST /api/jobs``), read into one plain shape whichever way it is read.

The API's first create used to load pydantic and build the request models (~250 ms of a cold
start, twice what the rest of the request costs). A body whose every key and value is plainly
valid (:mod:`.checks`: known keys, JSON values of the exact type, within the models' bounds)
is read here without them; any other body, and every invalid one, goes through
:class:`.schemas.JobCreate`, which accepts it or names its first bad field. Both readings give
a :class:`NewJob`. tests/api/test_bodies.py checks that they agree.
"""
from __future__ import annotations

import json
import re
import uuid
from typing import TYPE_CHECKING, Any, NamedTuple

from .. import vocab
from ..checks import Check, Unsure, integer, one_of, optional, text
from ..config import Budget, RetryPolicy, check_budget, check_retry_policy
from ..defaults import COUNT_MAX, DAY_MS
from ..vocab import Overlap, values

if TYPE_CHECKING:
    from .schemas import JobCreate


class NewJob(NamedTuple):
    """What a valid create body asks for; ``given`` names the fields the body set."""

    name: str
    description: str | None
    agentId: str  # canonical: lower case
    schedule: str | None
    interval: int | None
    timezone: str
    payload: dict[str, Any]
    retryPolicy: RetryPolicy | None
    timeoutMs: int | None
    heartbeatTimeoutMs: int | None
    overlap: str
    maxConsecutiveFailures: int | None
    startAt: str | None
    endAt: str | None
    maxRuns: int | None
    catchupWindowMs: int | None
    budget: Budget | None
    expectSuccessWithinMs: int | None
    given: frozenset[str]

    def retry_policy_text(self) -> str | None:
        """The retry policy as the job stores it (JSON text), if the body gave one."""
        policy = self.retryPolicy
        return None if policy is None else json.dumps(policy._asdict(), separators=(",", ":"))


DEFAULTS: dict[str, Any] = {"description": None, "schedule": None, "interval": None, "timezone": "UTC",
                            "retryPolicy": None, "timeoutMs": None, "heartbeatTimeoutMs": None, "overlap": "skip",
                            "maxConsecutiveFailures": None, "startAt": None, "endAt": None, "maxRuns": None,
                            "catchupWindowMs": None, "budget": None, "expectSuccessWithinMs": None}
REQUIRED = ("name", "agentId", "payload")


def _description(value: Any) -> str:
    checked: str = text(0, vocab.DESCRIPTION_MAX_LENGTH)(value)
    if re.search(f"[{vocab.CONTROL_CHARS}]", checked):
        raise Unsure
    return checked


def _agent_id(value: Any) -> str:
    return str(uuid.UUID(text(36, 36, vocab.UUID_PATTERN)(value)))


def _payload(value: Any) -> dict[str, Any]:
    if type(value) is not dict or any(type(key) is not str for key in value):
        raise Unsure
    return value


_FIELDS: dict[str, Check] = {
    "name": text(1, vocab.NAME_MAX_LENGTH, vocab.NAME_PATTERN), "description": optional(_description),
    "agentId": _agent_id,
    "schedule": optional(text(1, vocab.SCHEDULE_MAX_LENGTH)), "interval": optional(integer(1, vocab.MAX_INTERVAL_MS)),
    "timezone": text(1, vocab.TIMEZONE_MAX_LENGTH), "payload": _payload, "retryPolicy": optional(check_retry_policy),
    "timeoutMs": optional(integer(1_000, DAY_MS)), "heartbeatTimeoutMs": optional(integer(1_000, DAY_MS)),
    "overlap": one_of(*values(Overlap)), "maxConsecutiveFailures": optional(integer(1, 1_000)),
    "startAt": optional(text(1, 64)), "endAt": optional(text(1, 64)), "maxRuns": optional(integer(1, COUNT_MAX)),
    "catchupWindowMs": optional(integer(0, vocab.MAX_INTERVAL_MS)), "budget": optional(check_budget),
    "expectSuccessWithinMs": optional(integer(vocab.EXPECT_SUCCESS_MIN_MS, vocab.MAX_INTERVAL_MS)),
}


def quick_new_job(body: object) -> NewJob | None:
    """``body`` read without pydantic, if every key and value of it is plainly valid; else None."""
    if type(body) is not dict or not body.keys() <= _FIELDS.keys() or not all(k in body for k in REQUIRED):
        return None
    try:
        fields = {key: _FIELDS[key](value) for key, value in body.items()}
    except (Unsure, ValueError):
        return None
    return NewJob(**{**DEFAULTS, **fields}, given=frozenset(body))


def from_model(spec: JobCreate) -> NewJob:
    """The :class:`NewJob` holding what :class:`.schemas.JobCreate` accepted."""
    fields = {name: getattr(spec, name) for name in NewJob._fields if name != "given"}
    policy, budget = spec.retryPolicy, spec.budget
    fields["retryPolicy"] = None if policy is None else RetryPolicy(**policy.model_dump())
    fields["budget"] = None if budget is None else Budget(**budget.model_dump())
    return NewJob(**fields, given=frozenset(spec.model_fields_set))


def read_new_job(body: object) -> NewJob:
    """Validate a create body, raising a 400 that names the first bad field."""
    quick = quick_new_job(body)
    if quick is not None:
        return quick
    from .schemas import JobCreate, validate  # pydantic: only a body the quick reading declined

    return from_model(validate(JobCreate, body))
