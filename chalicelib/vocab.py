"""The API's vocabulary and limits, in one place: statuses, policies, lengths, ranges, patterns.

Request validation (:mod:`.schemas`), the query parsers (:mod:`.web`), the OpenAPI
document (:mod:`.openapi`), the stored models (:mod:`.models`) and the engine all read them
from here. This module imports nothing heavy: the API's routes need the job statuses
without loading PynamoDB or pydantic (see tests/test_cold_start.py).

pydantic and mypy need the allowed strings of a field as a ``Literal`` written out; each
``...Name`` alias below restates one enum, and :func:`_check` stops the import if the two
ever differ, so the enum stays the one source.
"""
from __future__ import annotations

from enum import StrEnum
from typing import Literal, get_args


class JobStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class Overlap(StrEnum):
    """What an occurrence does while an earlier run of its job is in progress."""

    SKIP = "skip"
    QUEUE = "queue"
    ALLOW = "allow"


class Trigger(StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"
    REPLAY = "replay"  # a run started again, delivered the payload it was delivered (contract section 10)


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    """The values of ``enum``, in declaration order."""
    return tuple(member.value for member in enum)


JOB_STATUSES = values(JobStatus)

JobStatusName = Literal["active", "paused", "completed", "failed"]
RunStatusName = Literal["queued", "running", "retrying", "succeeded", "failed", "skipped", "cancelled"]
OverlapName = Literal["skip", "queue", "allow"]
TriggerName = Literal["schedule", "manual", "replay"]
# The statuses a PATCH may set, a job's last run may have, and an agent may report.
SettableJobStatus = Literal["active", "paused"]
LastRunStatus = Literal["succeeded", "failed", "cancelled"]
ReportedRunStatus = Literal["succeeded", "failed", "cancelled"]


def _check() -> None:
    for alias, enum in ((JobStatusName, JobStatus), (RunStatusName, RunStatus), (OverlapName, Overlap),
                        (TriggerName, Trigger)):
        if get_args(alias) != values(enum):
            raise AssertionError(f"{alias} does not list {enum.__name__}'s values {values(enum)}")
    for subset, enum in ((SettableJobStatus, JobStatus), (LastRunStatus, RunStatus), (ReportedRunStatus, RunStatus)):
        if not set(get_args(subset)) <= set(values(enum)):
            raise AssertionError(f"{subset} names a value {enum.__name__} does not have")


_check()

# --- lengths, ranges and patterns of requests ------------------------------------------------

# Names are identifiers an operator types and greps for: printable ASCII only, so no
# control characters, bidi overrides or look-alike Unicode can hide in them.
NAME_MAX_LENGTH = 128
NAME_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9 ._:@/+-]{0,126}[A-Za-z0-9._:@/+-])?$"
DESCRIPTION_MAX_LENGTH = 1024
# What a description must not contain: control characters and bidi overrides (a character class).
CONTROL_CHARS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff"
SCHEDULE_MAX_LENGTH = 256
TIMEZONE_MAX_LENGTH = 64
JOB_ID_PATTERN = r"^job-[0-9a-f]{1,64}$"  # a job's id (ids are made by the API: job-<hex>)
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
MAX_INTERVAL_MS = 315_360_000_000  # ten years
EXPECT_SUCCESS_MIN_MS = 60_000  # job.late's expectSuccessWithinMs: at least a minute (the tick's period)
ID_MAX_LENGTH = 256  # a job or run id in a path
PAGE_LIMIT_DEFAULT = 100  # ?limit= of the job and run lists
PAGE_LIMIT_MAX = 1000
# Costs (USD) are kept to the nano-dollar: a DynamoDB number holds 38 significant digits and
# nothing nearer zero than 1e-130, so a cost like 2.2e-309 (or 1e9 + 1e-30) cannot be stored.
COST_DECIMALS = 9
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"  # base64url without padding (chalicelib.store.dynamo.encode_cursor)
IDEMPOTENCY_KEY_MAX_LENGTH = 255  # an Idempotency-Key header: 1 to this many printable ASCII characters
IDEMPOTENCY_KEY_PATTERN = r"^[ -~]+$"
