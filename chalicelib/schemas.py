"""Request and response models: one source for validation and the OpenAPI document.

Validation is strict: ``1`` is not ``true``, ``"5000"`` is not an interval, unknown
fields are errors (a typo such as ``"intervall"`` must not be silently ignored).
"""
from __future__ import annotations

import re
import uuid
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .config import RetryPolicy
from .errors import ValidationFailed

# Names are identifiers an operator types and greps for: printable ASCII only, so no
# control characters, bidi overrides or look-alike Unicode can hide in them.
NAME_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9 ._:@/+-]{0,126}[A-Za-z0-9._:@/+-])?$"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
MAX_INTERVAL_MS = 315_360_000_000  # ten years


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("description", check_fields=False)
    @classmethod
    def _printable(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and _CONTROL.search(value):
            raise ValueError("must not contain control or bidi-override characters")
        return value

    @field_validator("agentId", check_fields=False)
    @classmethod
    def _canonical_uuid(cls, value: Optional[str]) -> Optional[str]:
        return None if value is None else str(uuid.UUID(value))


def _name(default: Any = ...) -> Any:
    return Field(default, min_length=1, max_length=128, pattern=NAME_PATTERN,
                 description="Unique name: 1-128 printable ASCII characters.")


def _agent_id(default: Any = ...) -> Any:
    return Field(default, pattern=UUID_PATTERN, description="UUID of the agent that runs the job.")


def _timezone(default: Any) -> Any:
    return Field(default, min_length=1, max_length=64, description="IANA timezone name.")


Description = Field(None, max_length=1024)
ScheduleField = Field(None, min_length=1, max_length=256,
                      description="5-field cron (or @daily etc.) in `timezone`, or an ISO-8601 date-time for one run.")
IntervalField = Field(None, ge=1, le=MAX_INTERVAL_MS, description="Milliseconds between runs.")


TimeoutField = Field(None, ge=1_000, le=86_400_000,
                     description="The longest one attempt may take, from its start to its outcome (default 900000).")
HeartbeatField = Field(None, ge=1_000, le=86_400_000,
                       description="An accepted attempt silent for this long has timed out (null: no heartbeat needed).")
OverlapPolicy = Literal["skip", "queue", "allow"]
BreakerField = Field(None, ge=1, le=1_000,
                     description="Pause the job when this many runs in a row end failed (null: never).")


class JobCreate(_Body):
    """Body of ``POST /api/jobs``."""

    name: str = _name()
    description: Optional[str] = Description
    agentId: str = _agent_id()
    schedule: Optional[str] = ScheduleField
    interval: Optional[int] = IntervalField
    timezone: str = _timezone("UTC")
    payload: dict[str, Any] = Field(description="Data passed to the agent's action handler.")
    retryPolicy: Optional[RetryPolicy] = None
    timeoutMs: Optional[int] = TimeoutField
    heartbeatTimeoutMs: Optional[int] = HeartbeatField
    overlap: OverlapPolicy = Field("skip", description="What an occurrence does while a run is in progress.")
    maxConsecutiveFailures: Optional[int] = BreakerField


class JobPatch(_Body):
    """Body of ``PATCH /api/jobs/{id}``: any subset of the mutable fields."""

    # Absent fields stay as they are; an explicit null still fails for non-nullable ones.
    name: str = _name(None)
    description: Optional[str] = Description
    agentId: str = _agent_id(None)
    schedule: Optional[str] = ScheduleField
    interval: Optional[int] = IntervalField
    timezone: str = _timezone(None)
    payload: dict[str, Any] = Field(None, description="Replaces the whole payload.")
    retryPolicy: Optional[RetryPolicy] = None
    timeoutMs: Optional[int] = TimeoutField
    heartbeatTimeoutMs: Optional[int] = HeartbeatField
    overlap: OverlapPolicy = Field(None, description="What an occurrence does while a run is in progress.")
    maxConsecutiveFailures: Optional[int] = BreakerField
    status: Literal["active", "paused"] = Field(None, description="Pause or resume the job.")


class Job(BaseModel):
    """A job as the API returns it."""

    id: str = Field(pattern=r"^job-")
    name: str
    description: Optional[str]
    agentId: str
    schedule: Optional[str]
    interval: Optional[int]
    timezone: str
    payload: dict[str, Any]
    retryPolicy: Optional[RetryPolicy] = None
    status: Literal["active", "paused", "completed", "failed"]
    nextRunAt: Optional[str]
    lastRunAt: Optional[str]
    lastRunStatus: Optional[Literal["succeeded", "failed"]]
    runCount: int
    failureCount: int
    timeoutMs: int
    heartbeatTimeoutMs: Optional[int]
    overlap: OverlapPolicy
    maxConsecutiveFailures: Optional[int] = None
    consecutiveFailures: int = 0
    pausedReason: Optional[str] = None
    createdAt: str
    updatedAt: str


class Run(BaseModel):
    """One occurrence of a job as the API returns it."""

    id: str
    jobId: str
    trigger: Literal["schedule", "manual"]
    scheduledAt: str
    status: Literal["queued", "running", "retrying", "succeeded", "failed", "skipped", "cancelled"]
    attempt: int
    startedAt: Optional[str]
    finishedAt: Optional[str]
    durationMs: Optional[int]
    error: Optional[str]
    output: Any = None
    usage: Optional["Usage"] = None
    progress: Any = None
    timeoutAt: Optional[str] = None
    heartbeatAt: Optional[str] = None
    cancelRequested: bool = False


class Usage(_Body):
    """What a run consumed, as its agent reports it."""

    inputTokens: Optional[int] = Field(None, ge=0, le=10**12)
    outputTokens: Optional[int] = Field(None, ge=0, le=10**12)
    costUsd: Optional[float] = Field(None, ge=0, le=10**9)

    @field_validator("costUsd", mode="before")
    @classmethod
    def _int_is_a_number(cls, value: object) -> object:
        # JSON has one number type: 2 and 2.0 are the same cost.
        return float(value) if type(value) is int else value


Run.model_rebuild()  # Run names Usage, defined after it


class HeartbeatBody(_Body):
    """Body of ``POST /api/runs/{runId}/heartbeat`` (optional)."""

    progress: Any = Field(None, description="Any JSON (at most 4 KiB): what the run has done so far.")


class CompleteBody(_Body):
    """Body of ``POST /api/runs/{runId}/complete``."""

    status: Literal["succeeded", "failed", "cancelled"]
    output: Any = Field(None, description="Any JSON (at most 32 KiB): what the run produced.")
    error: Optional[str] = Field(None, max_length=2048)
    usage: Optional[Usage] = None
    retryable: bool = Field(True, description="A failed run is retried by its policy unless this is false.")


class Error(BaseModel):
    """Chalice's error shape."""

    Code: str
    Message: str


_FRIENDLY = {
    ("name", "string_pattern_mismatch"):
        "must be printable ASCII (letters, digits, space and ._:@/+-), starting and ending with a letter or digit",
    ("agentId", "string_pattern_mismatch"): "must be a UUID such as 550e8400-e29b-41d4-a716-446655440000",
}


def _field_of(error: dict[str, Any]) -> str:
    parts = [str(p) for p in error["loc"]]
    return ".".join(parts) if parts else "body"


def validate(model: type[_Body], data: object) -> _Body:
    """Validate a decoded JSON body, raising a 400 that names the first bad field."""
    if not isinstance(data, dict):
        raise ValidationFailed("body", "must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = _field_of(first)
        reason = _FRIENDLY.get((field, first["type"])) or first["msg"]
        reason = "is required" if first["type"] == "missing" else reason
        if first["type"] == "extra_forbidden":
            reason = "is not a field of this request"
        raise ValidationFailed(field, reason) from exc
