"""``job.late`` (contract section 13): no run of a job has succeeded for ``expectSuccessWithinMs``,
counted from its last success, or from when the expectation was set (or the job resumed).

Each minute the tick reads the jobs past their ``lateAt`` from the sparse ``late`` index
(:mod:`chalicelib.store.late`: O(late jobs), nothing when none is late) and tells the receivers
once: the entry is disarmed by a conditional write before the notification is queued, and only
the next success arms it again. A job that is not active when its time comes (paused, completed)
is disarmed without a word; resuming it arms it again.
"""
from __future__ import annotations

import logging

from ..store.late import LateJobs
from ..store.models import JobStatus
from .notifications import Notifier

log = logging.getLogger("agentos.jobs.lateness")


class LateWatch:
    """Tells the receivers of ``job.late`` about the jobs whose expected success did not come."""

    def __init__(self, jobs: LateJobs, notifier: Notifier) -> None:
        self.jobs = jobs
        self.notifier = notifier

    def run(self, now_ms: int) -> int:
        """One pass: the late jobs told (each once per lateness)."""
        told = 0
        for entry in list(self.jobs.due(now_ms)):
            if not self.jobs.disarm(entry.id, int(entry.lateAt)):
                continue
            if entry.status != JobStatus.ACTIVE.value:
                continue  # paused or ended: nothing is expected of it now
            minutes = int(entry.expectSuccessWithinMs or 0) // 60_000
            self.notifier.emit("job.late", entry, None, f"no run has succeeded for {minutes} minutes "
                               f"(expectSuccessWithinMs {int(entry.expectSuccessWithinMs or 0)})")
            told += 1
        if told:
            log.warning("job.late: %d job(s) told", told)
        return told
