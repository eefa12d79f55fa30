"""An attempt's deadlines: how long it may take, and when an accepted one times out."""
from __future__ import annotations

from ..defaults import DEFAULT_TIMEOUT_MS
from ..store.models import JobModel, RunModel


def timeout_ms(job: JobModel) -> int:
    """The job's ``timeoutMs`` (the longest one attempt may take)."""
    return int(job.timeoutMs) if job.timeoutMs is not None else DEFAULT_TIMEOUT_MS


def attempt_deadline(run: RunModel) -> int:
    """When an accepted attempt times out: its timeout, or its heartbeat deadline if sooner."""
    deadline = int(run.timeoutAt)
    if run.heartbeatTimeoutMs:
        deadline = min(deadline, int(run.heartbeatAt or run.acceptedAt) + int(run.heartbeatTimeoutMs))
    return deadline
