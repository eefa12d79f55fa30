"""The API's answers as pydantic models (serialisation only): the OpenAPI document describes each
answer with them (:mod:`.openapi`); requests are :mod:`.schemas`'."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from ..config_schema import Budget, RetryPolicy
from ..vocab import JobStatusName, LastRunStatus, RunStatusName, TriggerName
from .schemas import OverlapPolicy, StateField, Usage


class UsageToday(BaseModel):
    """What a job's runs reported today (plus reserved by runs in progress): what counts against a budget."""

    costUsd: float
    tokens: int


class JobOrigin(BaseModel):
    """Who made a job (read-only): the client, the run whose callback token made it, its lineage depth."""

    via: Literal["api", "mcp", "console", "kit", "run"]
    runId: str | None = Field(description="The run whose callback token made the job (via run), else null.")
    depth: int = Field(ge=0, description="0 unless a run made the job: then its job's depth + 1.")


class Projection(BaseModel):
    """What a job is expected to start and cost in the next 24 h (read-only)."""

    runsPerDay: int = Field(ge=0, description="Its start times in the next 24 h, bounds applied (0 unless active).")
    tokensPerDay: float | None = Field(description="runsPerDay times the average tokens of its last (up to 10) "
                                                   "finished runs that reported usage; null before any.")
    costUsdPerDay: float | None = Field(description="The same for costUsd; null before any.")


class Job(BaseModel):
    """A job as the API returns it."""

    id: str = Field(pattern=r"^job-")
    name: str
    description: str | None
    agentId: str
    schedule: str | None
    interval: int | None
    timezone: str
    payload: dict[str, Any]
    retryPolicy: RetryPolicy | None = None
    status: JobStatusName
    nextRunAt: str | None
    lastRunAt: str | None
    lastRunStatus: LastRunStatus | None
    runCount: int
    failureCount: int
    timeoutMs: int
    heartbeatTimeoutMs: int | None
    overlap: OverlapPolicy
    maxConsecutiveFailures: int | None = None
    consecutiveFailures: int = 0
    pausedReason: str | None = None
    startAt: str | None = None
    endAt: str | None = None
    maxRuns: int | None = None
    catchupWindowMs: int | None = None
    budget: Budget | None = None
    usageToday: UsageToday  # zeros before any usage, with or without a budget
    skipped: Skipped
    blocked: Blocked | None = Field(None, description="Why the job's occurrences are being skipped, and until when.")
    expectSuccessWithinMs: int | None = None
    state: Any = StateField
    lastSuccessAt: str | None = Field(None, description="When its latest succeeded run finished (null: none yet).")
    origin: JobOrigin
    projection: Projection
    createdAt: str
    updatedAt: str


class WaitingFor(BaseModel):
    """Why a queued run has not started."""

    agentId: str
    reason: Literal["maxConcurrent"]


class Run(BaseModel):
    """One occurrence of a job as the API returns it."""

    id: str
    jobId: str
    trigger: TriggerName
    scheduledAt: str
    status: RunStatusName
    attempt: int
    startedAt: str | None
    finishedAt: str | None
    durationMs: int | None
    error: str | None
    output: Any = None
    usage: Usage | None = None
    progress: Any = None
    timeoutAt: str | None = None
    heartbeatAt: str | None = None
    cancelRequested: bool = False
    payload: dict[str, Any] | None = Field(None, description="The payload this run was (is to be) delivered: its "
                                                               "job's, or its own (run now with a payload, replay).")
    replayOf: str | None = Field(None, description="The run this one replays (trigger replay), else null.")
    attempts: list[Attempt] = Field(default_factory=list, description="Every attempt made, oldest first.")
    skippedCount: int | None = Field(None, description="A skipped run: the consecutive occurrences it stands for.")
    lastSkippedAt: str | None = Field(None, description="A skipped run: the latest of them (scheduledAt: the first).")
    waitingFor: WaitingFor | None = Field(None, description="A queued run waiting for a slot of its agent "
                                                            "(maxConcurrent): whose; null otherwise.")


class Skipped(BaseModel):
    """Occurrences of a job skipped since its creation, by reason."""

    overlap: int
    budget: int
    missed: int


class Blocked(BaseModel):
    """Why a job's occurrences are skipped now."""

    reason: Literal["budget", "agentBudget", "quota"]
    until: str | None
    message: str


class Attempt(BaseModel):
    """One attempt of a run: a retry keeps the attempts before it, each with its error."""

    attempt: int
    startedAt: str | None
    finishedAt: str | None
    status: Literal["running", "succeeded", "failed", "cancelled"]
    error: str | None = Field(description="Why it failed (a timeout says `timed out`), at most 1,000 characters.")
    durationMs: int | None


class Error(BaseModel):
    """Chalice's error shape."""

    Code: str
    Message: str


Run.model_rebuild()  # Run names Attempt and WaitingFor, defined after it
Job.model_rebuild()  # Job names Skipped and Blocked
