"""PynamoDB models of the jobs and runs tables (the enums of job and run states are :mod:`chalicelib.vocab`'s,
re-exported here for the models' users).

The jobs table holds two kinds of item: jobs (``id = job-…``) and name claims
(``id = name#<name>``), written in one transaction with their job so that names
stay unique under concurrent creates and renames.

``JobModel.dueShard`` is the partition key of the sparse ``due`` index: only an
active job that still has an occurrence to dispatch carries it, so the tick queries
exactly the due jobs. ``nextRunAt`` (epoch ms) is the next occurrence not yet handed
to SQS. The index projects only what the tick needs to plan occurrences, so that
recording a run on the job (lastRunAt, runCount…) does not write the index.
"""
from __future__ import annotations

import json
from typing import NamedTuple

from pynamodb.attributes import BooleanAttribute, MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
from pynamodb.models import Model

# The enums live with the API's other limits (importing them must not load PynamoDB).
from .. import settings
from ..vocab import JobStatus as JobStatus
from ..vocab import Overlap as Overlap
from ..vocab import RunStatus as RunStatus
from ..vocab import Trigger as Trigger
from . import aws

aws.share_with_pynamodb()  # one botocore session for every model's connection and client

# A run is "in progress" (it holds the job's overlap slot) while its status is one of these.
IN_PROGRESS = (RunStatus.QUEUED.value, RunStatus.RUNNING.value, RunStatus.RETRYING.value)
# A run in one of these has ended: nothing of it starts again.
ENDED = (RunStatus.SUCCEEDED.value, RunStatus.FAILED.value, RunStatus.SKIPPED.value, RunStatus.CANCELLED.value)


# Attributes the tick reads from the due index (besides its keys and the table key).
DUE_PROJECTION = ["status", "schedule", "interval", "timezone", "generation"]


def _region() -> str:
    return settings.region()


def _host() -> str | None:
    # Only the local stack and tests set this; on AWS botocore picks the endpoint.
    return settings.dynamodb_endpoint()


class JobsTableMeta:
    """The ``Meta`` of every model of an item kept in the jobs table (jobs, name claims, agents):
    its table, region, endpoint and connection pool, written once."""

    table_name = settings.tables()[0]
    region = _region()
    host = _host()
    max_pool_connections = aws.max_connections()


class RunsTableMeta:
    """The ``Meta`` of every model of an item kept in the runs table (runs, and the history events,
    idempotency keys and run payloads that share it)."""

    table_name = settings.tables()[1]
    region = _region()
    host = _host()
    max_pool_connections = aws.max_connections()


class LateIndex(GlobalSecondaryIndex["JobModel"]):
    """Jobs that expect a success by ``lateAt`` (``expectSuccessWithinMs``): sparse, only an armed
    job carries ``lateShard``; the tick reads what is past its time, O(late jobs) a minute."""

    class Meta:
        index_name = "late"
        projection = IncludeProjection(["name", "agentId", "status", "expectSuccessWithinMs"])

    lateShard = NumberAttribute(hash_key=True)
    lateAt = NumberAttribute(range_key=True)


class DueIndex(GlobalSecondaryIndex["JobModel"]):
    """Sparse, sharded index of jobs with an occurrence left to dispatch."""

    class Meta:
        index_name = "due"
        projection = IncludeProjection(DUE_PROJECTION)

    dueShard = NumberAttribute(hash_key=True)
    nextRunAt = NumberAttribute(range_key=True)


class ListIndex(GlobalSecondaryIndex["JobModel"]):
    """Jobs by status, then agent and id (``listKey`` = ``<agentId>#<id>``): each page of the
    job list is one Query, whatever its filters. Keys only: recording a run never writes it."""

    class Meta:
        index_name = "list"
        projection = KeysOnlyProjection()

    status = UnicodeAttribute(hash_key=True)
    listKey = UnicodeAttribute(range_key=True)


class JobModel(Model):
    """One scheduled job."""

    class Meta(JobsTableMeta):
        pass

    id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    agentId = UnicodeAttribute()
    schedule = UnicodeAttribute(null=True)
    interval = NumberAttribute(null=True)
    timezone = UnicodeAttribute(default="UTC")
    payload = UnicodeAttribute()  # JSON text: keeps numbers and key order exactly as sent
    retryPolicy = UnicodeAttribute(null=True)  # JSON text of a per-job RetryPolicy
    callback = UnicodeAttribute(null=True)  # name of a registered in-process callback
    status = UnicodeAttribute(default=JobStatus.ACTIVE.value)
    generation = NumberAttribute(default=1)  # bumped when the schedule changes or resumes
    anchorAt = NumberAttribute(null=True)  # epoch ms of an interval job's first occurrence
    nextRunAt = NumberAttribute(null=True)
    dueShard = NumberAttribute(null=True)
    lastRunAt = NumberAttribute(null=True)
    lastRunStatus = UnicodeAttribute(null=True)
    runCount = NumberAttribute(default=0)
    failureCount = NumberAttribute(default=0)
    timeoutMs = NumberAttribute(null=True)  # null: the default (DEFAULT_TIMEOUT_MS)
    heartbeatTimeoutMs = NumberAttribute(null=True)
    overlap = UnicodeAttribute(null=True)  # an Overlap value; null: skip
    # The overlap slot: the run in progress (skip/queue) and the one occurrence waiting
    # for it (queue; JSON of its Occurrence). Written only by conditional writes that also
    # claim or finish a run, so the overlap decision is atomic with the claim.
    startAt = NumberAttribute(null=True)  # schedule bounds (epoch ms), see chalicelib/engine/bounds.py
    endAt = NumberAttribute(null=True)
    maxRuns = NumberAttribute(null=True)
    startedRuns = NumberAttribute(null=True)  # scheduled occurrences started (counted by the claim)
    catchupWindowMs = NumberAttribute(null=True)
    maxConsecutiveFailures = NumberAttribute(null=True)  # the circuit breaker's threshold
    consecutiveFailures = NumberAttribute(null=True)  # failed runs in a row (absent: 0)
    pausedReason = UnicodeAttribute(null=True)  # why the system paused the job (the breaker)
    # Budget (chalicelib/store/budgets.py): the limits, and what counts against them on ``usageDay``
    # (the job's timezone) until ``usageDayEnd``: spent plus reserved by the runs in progress.
    budgetTokens = NumberAttribute(null=True)
    budgetCostUsd = NumberAttribute(null=True)
    usageDay = UnicodeAttribute(null=True)
    usageDayEnd = NumberAttribute(null=True)
    usedTokens = NumberAttribute(null=True)
    usedCost = NumberAttribute(null=True)
    lastUsageTokens = NumberAttribute(null=True)  # what the last finished run reported: the reservation
    lastUsageCost = NumberAttribute(null=True)
    activeRun = UnicodeAttribute(null=True)
    activeUntil = NumberAttribute(null=True)  # after this the holder is presumed lost (crashed out)
    waitingRun = UnicodeAttribute(null=True)
    origin = UnicodeAttribute(null=True)  # JSON of an Origin (absent: made over the API, depth 0)
    recentUsage = UnicodeAttribute(null=True)  # the last runs' reported usage (store/recent_usage.py)
    runsPerDay = NumberAttribute(null=True)  # starts in 24 h as admitted: what it adds to its agent's sum
    # Skips (store/streaks.py): the open streak (its run, reason, count, latest instant) and the totals;
    # an agent budget's block (store/blocks.py): until when its occurrences are skipped.
    streakRun = UnicodeAttribute(null=True)
    streakReason = UnicodeAttribute(null=True)
    streakCount = NumberAttribute(null=True)
    streakLast = NumberAttribute(null=True)
    streakClosedAt = NumberAttribute(null=True)  # the time of the first run to end since it opened
    # A job parked by its spent budget (store/parks.py): its skips until the next budget day are
    # counted ahead in one write, instead of one claim and one write per occurrence.
    parkedSince = NumberAttribute(null=True)
    parkedUntil = NumberAttribute(null=True)
    parkedStreak = UnicodeAttribute(null=True)
    skippedOverlap = NumberAttribute(null=True)
    skippedBudget = NumberAttribute(null=True)
    skippedMissed = NumberAttribute(null=True)
    agentBlockedUntil = NumberAttribute(null=True)
    agentBlockedBy = UnicodeAttribute(null=True)  # the agent's budget that blocked it (store/blocks.mark)
    agentBlockTold = NumberAttribute(null=True)  # the agent-budget block whose job.blocked was sent (its end)
    # Continuity (engine/continuity.py), written with a run's success: its JSON state (<= 16 KiB), and
    # the JSON of {runId, scheduledAt, finishedAt, output} of its latest success, finishedAt beside it.
    state = UnicodeAttribute(null=True)
    lastSuccess = UnicodeAttribute(null=True)
    lastSuccessAt = NumberAttribute(null=True)
    createdAt = NumberAttribute()
    updatedAt = NumberAttribute()

    due = DueIndex()
    listKey = UnicodeAttribute(null=True)  # "<agentId>#<id>" (listing.list_key): the list index's sort key
    listing = ListIndex()
    # job.late (engine/lateness.py): the success expected by lateAt, armed while nobody was told.
    expectSuccessWithinMs = NumberAttribute(null=True)
    lateShard = NumberAttribute(null=True)
    lateAt = NumberAttribute(null=True)
    late = LateIndex()


class Origin(NamedTuple):
    """Who made a job (contract section 11): ``via`` (api, mcp, console, kit, run), the run whose
    callback token made it, and its lineage depth (0 unless a run made it)."""

    via: str = "api"
    runId: str | None = None
    depth: int = 0

    def text(self) -> str:
        """The stored JSON text."""
        return json.dumps(self._asdict(), separators=(",", ":"))

    @classmethod
    def of(cls, job: JobModel) -> Origin:
        """A stored job's origin (jobs made before origins were kept: the API's, depth 0)."""
        return cls(**json.loads(job.origin)) if job.origin else cls()


class NameClaim(Model):
    """The item that reserves a job name; lives in the jobs table."""

    class Meta(JobsTableMeta):
        pass

    id = UnicodeAttribute(hash_key=True)  # "name#<name>"
    jobId = UnicodeAttribute()


class AgentModel(Model):
    """One agent's limits state (``id = agent#<agentId>``, in the jobs table): the runs holding
    its concurrency slots (run id -> lease, epoch ms), how many wait, and its UTC day's usage."""

    class Meta(JobsTableMeta):
        pass

    id = UnicodeAttribute(hash_key=True)
    holders = MapAttribute(null=True)  # type: ignore[var-annotated]
    queued = NumberAttribute(null=True)
    usageDay = UnicodeAttribute(null=True)
    usedTokens = NumberAttribute(null=True)
    usedCost = NumberAttribute(null=True)
    # Quota counters (store/quotas.py), kept while the agent has maxJobs or maxRunsPerDay:
    jobCount = NumberAttribute(null=True)  # its jobs that are not deleted
    runsPerDay = NumberAttribute(null=True)  # the sum of its jobs' runsPerDay


def agent_item_id(agent_id: str) -> str:
    """The jobs-table key of an agent's limits item."""
    return f"agent#{agent_id}"


class AgentQueueIndex(GlobalSecondaryIndex["RunModel"]):
    """Runs waiting for a slot of their agent (``maxConcurrent``), in scheduled order: sparse,
    only a waiting run carries ``queueAgent``."""

    class Meta:
        index_name = "agentQueue"
        projection = IncludeProjection(["trigger", "scheduledAt", "generation", "attempt"])

    queueAgent = UnicodeAttribute(hash_key=True)
    queueKey = UnicodeAttribute(range_key=True)  # "<13-digit scheduledAt>#<run id>"


class OverdueIndex(GlobalSecondaryIndex["RunModel"]):
    """Runs in progress by when the reconciler should look at them (``recAt``: a lease, a deadline,
    a retry's time): sparse, since a run that ended carries no ``recAt``, and sharded (``recShard``)
    so that a burst of claims spreads its index writes. Each minute's pass reads only what is due."""

    class Meta:
        index_name = "overdue"
        projection = IncludeProjection(["trigger", "scheduledAt", "generation", "attempt", "status", "acceptedAt",
                                        "timeoutAt", "hbDeadline", "retryAt", "queueAgent", "admittedAt"])

    recShard = NumberAttribute(hash_key=True)
    recAt = NumberAttribute(range_key=True)


class RecentIndex(GlobalSecondaryIndex["RunModel"]):
    """Every run by its UTC day, newest first (``GET /api/runs``, store/run_index.py): keys only, and
    its keys are set when the item is made and never change, so only a run's creation (and its
    expiry) writes it: later writes of the run (heartbeats, outcomes) never do."""

    class Meta:
        index_name = "recent"
        projection = KeysOnlyProjection()

    runDay = UnicodeAttribute(hash_key=True)  # "YYYY-MM-DD" of the run id's instant (UTC)
    id = UnicodeAttribute(range_key=True)


class FailedIndex(GlobalSecondaryIndex["RunModel"]):
    """Failed runs by their UTC day, newest first (``GET /api/runs?status=failed``): sparse, only a
    run whose final write made it ``failed`` carries ``failedDay`` (a redriven run's claim removes it)."""

    class Meta:
        index_name = "failed"
        projection = KeysOnlyProjection()

    failedDay = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class RunModel(Model):
    """One occurrence of a job: every attempt and redelivery shares it."""

    class Meta(RunsTableMeta):
        pass

    jobId = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)  # "run-<13-digit ms>-<tag>": sorts by time
    trigger = UnicodeAttribute()
    scheduledAt = NumberAttribute()
    status = UnicodeAttribute()
    attempt = NumberAttribute(default=0)
    generation = NumberAttribute(null=True)
    startedAt = NumberAttribute(null=True)
    finishedAt = NumberAttribute(null=True)
    leaseUntil = NumberAttribute(null=True)
    error = UnicodeAttribute(null=True)
    response = UnicodeAttribute(null=True)  # the agent's answer, truncated (non-JSON answers)
    output = UnicodeAttribute(null=True)  # JSON text of the run's output (<= 32 KiB or a marker)
    usage = UnicodeAttribute(null=True)  # JSON text of {"inputTokens", "outputTokens", "costUsd"}
    progress = UnicodeAttribute(null=True)  # JSON text of the last heartbeat's progress
    timeoutAt = NumberAttribute(null=True)  # this attempt's deadline (startedAt + job timeoutMs)
    heartbeatTimeoutMs = NumberAttribute(null=True)  # copied from the job at the claim
    heartbeatAt = NumberAttribute(null=True)
    hbDeadline = NumberAttribute(null=True)  # an accepted attempt's heartbeat deadline (heartbeatAt + timeout)
    acceptedAt = NumberAttribute(null=True)  # set when the agent answered 202 for this attempt
    cancelRequested = BooleanAttribute(null=True)
    retryAt = NumberAttribute(null=True)  # when the next attempt is due (a "retrying" run)
    reservedTokens = NumberAttribute(null=True)  # what the claim reserved on the job's budget (absent: 0)
    reservedCost = NumberAttribute(null=True)
    reportDigest = UnicodeAttribute(null=True)  # SHA-256 of the completion report (repeats are no-ops)
    expiresAt = NumberAttribute(null=True)  # DynamoDB TTL, epoch seconds
    payload = UnicodeAttribute(null=True)  # JSON text of the payload this run is (was) delivered
    replayOf = UnicodeAttribute(null=True)  # the run this one replays (trigger "replay")
    queueAgent = UnicodeAttribute(null=True)  # set while the run waits for a slot of its agent
    queueKey = UnicodeAttribute(null=True)
    admittedAt = NumberAttribute(null=True)  # granted its agent's slot after waiting (its start is sent)
    skippedCount = NumberAttribute(null=True)  # a streak of skips (store/streaks.py): the occurrences it covers
    lastSkippedAt = NumberAttribute(null=True)  # the latest of them (its first is scheduledAt)
    skipReason = UnicodeAttribute(null=True)  # overlap, budget or missed: a streak's reason
    runDay = UnicodeAttribute(null=True)  # the recent index's key (store/run_index.py), set with the whole item
    recent = RecentIndex()
    failedDay = UnicodeAttribute(null=True)  # set on a failed run only: the sparse failed index's key
    failed = FailedIndex()
    attempts = MapAttribute(null=True)  # type: ignore[var-annotated]  # attempt number -> entry (store/run_attempts.py)
    agentQueue = AgentQueueIndex()
    recShard = NumberAttribute(null=True)  # set with recAt while the run is in progress (reconcile.py)
    recAt = NumberAttribute(null=True)
    overdue = OverdueIndex()


def name_claim_id(name: str) -> str:
    """The jobs-table key that reserves ``name``."""
    return f"name#{name}"

