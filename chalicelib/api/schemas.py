"""Request models: one source for validation and the OpenAPI document's request bodies.

Validation is strict: ``1`` is not ``true``, ``"5000"`` is not an interval, unknown
fields are errors (a typo such as ``"intervall"`` must not be silently ignored).
"""
from __future__ import annotations

import re
import types
import uuid
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from ..config_schema import Budget, RetryPolicy
from ..defaults import COUNT_MAX, DAY_MS, STATE_MAX_BYTES
from ..errors import ValidationFailed
from ..vocab import (
    CONTROL_CHARS,
    DESCRIPTION_MAX_LENGTH,
    EXPECT_SUCCESS_MIN_MS,
    MAX_INTERVAL_MS,
    NAME_MAX_LENGTH,
    NAME_PATTERN,
    SCHEDULE_MAX_LENGTH,
    TIMEZONE_MAX_LENGTH,
    UUID_PATTERN,
    OverlapName,
    ReportedRunStatus,
    SettableJobStatus,
)

_CONTROL = re.compile(f"[{CONTROL_CHARS}]")
DESCRIPTION_PATTERN = f"^[^{CONTROL_CHARS}]*$"


def _any_case(word: str) -> str:
    # JSON Schema's regular expressions (ECMA-262) have no case-insensitive flag.
    return "".join(f"[{c.upper()}{c}]" for c in word)


def _cron_pattern() -> str:
    """The cron grammar chalicelib.schedules accepts, as one regular expression for the document.

    It leaves out only what no regular expression can say: a range that wraps around with a
    step, a day-of-week range from 7, and dates that never come (``0 0 31 2 *``).
    """
    months = "|".join(_any_case(m) for m in "jan feb mar apr may jun jul aug sep oct nov dec".split())
    days = "|".join(_any_case(d) for d in "sun mon tue wed thu fri sat".split())
    value = {"minute": "0*[1-5]?[0-9]", "hour": "0*(?:1?[0-9]|2[0-3])", "dom": "0*(?:[1-9]|[12][0-9]|3[01])",
             "month": f"0*(?:[1-9]|1[0-2])|{months}", "dow": f"0*[0-7]|{days}"}
    # A step is 1 up to the field's highest value (schedules.py refuses '*/61' as it does '61').
    step = {"minute": "[1-9]|[1-5][0-9]", "hour": "[1-9]|1[0-9]|2[0-3]", "dom": "[1-9]|[12][0-9]|3[01]",
            "month": "[1-9]|1[0-2]", "dow": "[1-7]"}

    def listed(name: str, *extra: str) -> str:
        v = f"(?:{value[name]})"
        element = f"(?:\\*|{v}(?:-{v})?)(?:/0*(?:{step[name]}))?" + "".join(f"|{e}" for e in extra)
        return f"(?:{element})(?:,(?:{element}))*"

    dom, dow = f"(?:{value['dom']})", f"(?:{value['dow']})"
    any_day, nearest = r"(?:\*|\?)", f"{dom}[Ww]"
    nth_or_last = f"(?:{dow}#[1-5]|[Ll]{dow}|{dow}[Ll])"
    minute, hour, month = listed("minute"), listed("hour"), listed("month")
    days_part = (f"(?:\\?|{listed('dom', '[Ll]')})\\s+{month}\\s+(?:\\?|{listed('dow')})"
                 f"|{nearest}\\s+{month}\\s+{any_day}"
                 f"|{any_day}\\s+{month}\\s+{nth_or_last}(?:,{nth_or_last})*")
    macros = "|".join(_any_case(m) for m in ("yearly", "annually", "monthly", "weekly", "daily", "midnight", "hourly"))
    return f"@(?:{macros})|{minute}\\s+{hour}\\s+(?:{days_part})"


_ISO_DATE_TIME = (r"[1-9][0-9]{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
                  r"(?:[T ](?:[01][0-9]|2[0-3])(?::[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?)?"
                  r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):?[0-5][0-9])?)?")
# What a schedule must look like; chalicelib.schedules checks it (and that an instant is ahead).
SCHEDULE_PATTERN = f"^\\s*(?:{_cron_pattern()}|{_ISO_DATE_TIME})\\s*$"


class StrictBody(BaseModel):
    """A request body: no unknown key, values of their JSON type."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("description", check_fields=False)
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and _CONTROL.search(value):
            raise ValueError("must not contain control or bidi-override characters")
        return value

    @field_validator("agentId", check_fields=False)
    @classmethod
    def _canonical_uuid(cls, value: str | None) -> str | None:
        return None if value is None else str(uuid.UUID(value))


def _name(default: Any = ...) -> Any:
    return Field(default, min_length=1, max_length=NAME_MAX_LENGTH, pattern=NAME_PATTERN,
                 description=f"Unique name: 1-{NAME_MAX_LENGTH} printable ASCII characters.")


def _agent_id(default: Any = ...) -> Any:
    return Field(default, pattern=UUID_PATTERN, description="UUID of the agent that runs the job.")


def _unchanged_if_absent(**documented: Any) -> Any:
    # PATCH: an absent field keeps its value; an explicit null still fails the field's type.
    return Field(None, **documented)


def timezone_field(default: Any) -> Any:
    """A body's ``timezone`` field (IANA name), defaulting to ``default``."""
    return Field(default, min_length=1, max_length=TIMEZONE_MAX_LENGTH, description="IANA timezone name.")


# The patterns below are documented, not enforced here: the field validator and
# chalicelib.schedules give the precise reason a value is refused.
DescriptionText = Annotated[str, Field(max_length=DESCRIPTION_MAX_LENGTH,
                                       json_schema_extra={"pattern": DESCRIPTION_PATTERN})]
ScheduleText = Annotated[str, Field(min_length=1, max_length=SCHEDULE_MAX_LENGTH,
                                    json_schema_extra={"pattern": SCHEDULE_PATTERN})]
Description = Field(None, description="Free text without control or bidi-override characters.")
ScheduleField = Field(None, description="5-field cron (minute hour day-of-month month day-of-week; @daily etc.) "
                                        "in `timezone`, or an ISO-8601 date-time after now for one run.")
IntervalField = Field(None, ge=1, le=MAX_INTERVAL_MS,
                      description="Milliseconds between runs, at least the server's limits.minIntervalMs.")
# Exactly one of the two timings (chalicelib.schedules.parse_schedule refuses both and neither).
_TIMED: dict[str, dict[str, Any]] = {
    "schedule": {"required": ["schedule"], "properties": {"schedule": {"type": "string"}}},
    "interval": {"required": ["interval"], "properties": {"interval": {"type": "integer"}}}}
ONE_TIMING: dict[str, Any] = {"oneOf": [_TIMED["schedule"], _TIMED["interval"]]}
# A change may name one timing (the other is cleared), never both.
NOT_BOTH_TIMINGS: dict[str, Any] = {"not": {"required": ["schedule", "interval"], "properties": {
    **_TIMED["schedule"]["properties"], **_TIMED["interval"]["properties"]}}}


TimeoutField = Field(None, ge=1_000, le=DAY_MS,
                     description="The longest one attempt may take, from its start to its outcome (default 900000).")
HeartbeatField = Field(
    None, ge=1_000, le=DAY_MS,
    description="An accepted attempt silent for this long has timed out (null: no heartbeat needed).")
OverlapPolicy = OverlapName
StartAtField = Field(None, min_length=1, max_length=64, json_schema_extra={"format": "date-time"},
                     description="ISO-8601 date-time (no offset = the job's timezone): no occurrence before it.")
EndAtField = Field(None, min_length=1, max_length=64, json_schema_extra={"format": "date-time"},
                   description="ISO-8601 date-time in the future, after startAt: no occurrence after it; "
                               "the job is completed once it passed.")
MaxRunsField = Field(None, ge=1, le=COUNT_MAX, description="Completed once this many scheduled occurrences started.")
CatchupField = Field(None, ge=0, le=MAX_INTERVAL_MS,
                     description="An occurrence that cannot start within this long after its time is skipped.")
BreakerField = Field(None, ge=1, le=1_000,
                     description="Pause the job when this many runs in a row end failed (null: never).")
ExpectField = Field(None, ge=EXPECT_SUCCESS_MIN_MS, le=MAX_INTERVAL_MS,
                    description="Notify job.late when no run has succeeded for this long (null: never).")


StateField = Field(None, description=f"Any JSON (at most {STATE_MAX_BYTES} bytes): the job's state, delivered to "
                                     "each run as `state`; a succeeded run may replace it (null: no state).")
BudgetField = Field(None, description="Daily limits (the job's timezone): an occurrence starts only while what "
                                       "was spent plus reserved today is below each; otherwise it is skipped.")


class JobCreate(StrictBody):
    """Body of ``POST /api/jobs``."""

    model_config = ConfigDict(json_schema_extra=ONE_TIMING)

    name: str = _name()
    description: DescriptionText | None = Description
    agentId: str = _agent_id()
    schedule: ScheduleText | None = ScheduleField
    interval: int | None = IntervalField
    timezone: str = timezone_field("UTC")
    payload: dict[str, Any] = Field(description="Data passed to the agent's action handler.")
    retryPolicy: RetryPolicy | None = None
    timeoutMs: int | None = TimeoutField
    heartbeatTimeoutMs: int | None = HeartbeatField
    overlap: OverlapPolicy = Field("skip", description="What an occurrence does while a run is in progress.")
    maxConsecutiveFailures: int | None = BreakerField
    startAt: str | None = StartAtField
    endAt: str | None = EndAtField
    maxRuns: int | None = MaxRunsField
    catchupWindowMs: int | None = CatchupField
    budget: Budget | None = BudgetField
    expectSuccessWithinMs: int | None = ExpectField


class JobDeclare(JobCreate):
    """Body of ``PUT /api/jobs/by-name/{name}``: the job's whole desired state (a create body; an
    absent field is its default); ``name``, if given, is the path's; ``status`` is kept if absent."""

    name: str = _name(None)
    status: SettableJobStatus = _unchanged_if_absent(description="Pause or resume the job (kept if absent).")


class RunNow(StrictBody):
    """Body of ``POST /api/jobs/{id}/run`` (optional)."""

    payload: dict[str, Any] = _unchanged_if_absent(
        description="Delivered to this run instead of the job's payload (the job is unchanged).")


class JobPatch(StrictBody):
    """Body of ``PATCH /api/jobs/{id}``: any subset of the mutable fields."""

    model_config = ConfigDict(json_schema_extra=NOT_BOTH_TIMINGS)

    # Absent fields stay as they are; an explicit null still fails for non-nullable ones.
    name: str = _name(None)
    description: DescriptionText | None = Description
    agentId: str = _agent_id(None)
    schedule: ScheduleText | None = ScheduleField
    interval: int | None = IntervalField
    timezone: str = timezone_field(None)
    payload: dict[str, Any] = _unchanged_if_absent(description="Replaces the whole payload.")
    retryPolicy: RetryPolicy | None = None
    timeoutMs: int | None = TimeoutField
    heartbeatTimeoutMs: int | None = HeartbeatField
    overlap: OverlapPolicy = _unchanged_if_absent(description="What an occurrence does while a run is in progress.")
    maxConsecutiveFailures: int | None = BreakerField
    startAt: str | None = StartAtField
    endAt: str | None = EndAtField
    maxRuns: int | None = MaxRunsField
    catchupWindowMs: int | None = CatchupField
    budget: Budget | None = BudgetField
    expectSuccessWithinMs: int | None = ExpectField
    status: SettableJobStatus = _unchanged_if_absent(description="Pause or resume the job.")
    state: Any = StateField  # null: start over without state


class Usage(StrictBody):
    """What a run consumed, as its agent reports it."""

    inputTokens: int | None = Field(None, ge=0, le=10**12)
    outputTokens: int | None = Field(None, ge=0, le=10**12)
    costUsd: float | None = Field(None, ge=0, le=COUNT_MAX,
                                  description="USD; counted towards budgets to the nano-dollar (9 decimal places).")

    @field_validator("costUsd", mode="before")
    @classmethod
    def _int_is_a_number(cls, value: object) -> object:
        # JSON has one number type: 2 and 2.0 are the same cost.
        return float(value) if type(value) is int else value




class HeartbeatBody(StrictBody):
    """Body of ``POST /api/runs/{runId}/heartbeat`` (optional)."""

    progress: Any = Field(None, description="Any JSON (at most 4 KiB): what the run has done so far.")


class CompleteBody(StrictBody):
    """Body of ``POST /api/runs/{runId}/complete``."""

    status: ReportedRunStatus
    output: Any = Field(None, description="Any JSON (at most 32 KiB): what the run produced.")
    error: str | None = Field(None, max_length=2048)
    usage: Usage | None = None
    retryable: bool = Field(True, description="A failed run is retried by its policy unless this is false.")
    state: Any = Field(None, description=f"With succeeded: the job's state for its next runs (any JSON, at most "
                                         f"{STATE_MAX_BYTES} bytes; null clears it; absent keeps it).")


_FRIENDLY = {
    ("name", "string_pattern_mismatch"):
        "must be printable ASCII (letters, digits, space and ._:@/+-), starting and ending with a letter or digit",
    ("agentId", "string_pattern_mismatch"): "must be a UUID such as 550e8400-e29b-41d4-a716-446655440000",
}


B = TypeVar("B", bound=StrictBody)


def _field_of(error: ErrorDetails) -> str:
    parts = [str(p) for p in error["loc"]]
    return ".".join(parts) if parts else "body"


def _optional_arg(annotation: Any) -> Any:
    """``X`` of ``Optional[X]``, else the annotation itself."""
    if get_origin(annotation) in (Union, types.UnionType):
        return next((a for a in get_args(annotation) if a is not type(None)), annotation)
    return annotation


def _integral_numbers(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with ``5.0`` read as ``5`` wherever ``model`` wants an integer.

    JSON has one number type, and the document's ``"type": "integer"`` (JSON Schema) admits
    5.0; strict validation would not. Free-form fields (``payload``) are left as sent.
    """
    fixed = dict(data)
    for name, field in model.model_fields.items():
        value, wanted = fixed.get(name), _optional_arg(field.annotation)
        if wanted is int and isinstance(value, float) and value.is_integer():
            fixed[name] = int(value)
        elif isinstance(value, dict) and isinstance(wanted, type) and issubclass(wanted, BaseModel):
            fixed[name] = _integral_numbers(wanted, value)
    return fixed


def validate(model: type[B], data: object) -> B:
    """Validate a decoded JSON body, raising a 400 that names the first bad field."""
    if not isinstance(data, dict):
        raise ValidationFailed("body", "must be a JSON object")
    try:
        return model.model_validate(_integral_numbers(model, data))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = _field_of(first)
        reason = _FRIENDLY.get((field, first["type"])) or first["msg"]
        reason = "is required" if first["type"] == "missing" else reason
        if first["type"] == "extra_forbidden":
            reason = "is not a field of this request"
        raise ValidationFailed(field, reason) from exc
