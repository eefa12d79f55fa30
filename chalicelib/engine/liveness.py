"""Whether an occurrence's job is still live for it when it is about to start, and why not: the same
rule as the claim's condition (:meth:`chalicelib.store.runs.RunStore.claim`), on the job read at the instant."""
from __future__ import annotations

from ..store.models import JobModel, JobStatus, Trigger
from ..store.runs import Occurrence, Slot
from .bounds import exhausted


def still_live(job: JobModel | None, occ: Occurrence) -> bool:
    """True if ``job`` (read at the instant) may still run ``occ`` (the claim's own rule)."""
    if job is None:
        return False
    if occ.trigger is not Trigger.SCHEDULE:  # a run on demand (run now, replay) needs only its job
        return True
    live = job.status in (JobStatus.ACTIVE.value, JobStatus.FAILED.value)
    # A job completed by maxRuns still runs the occurrences its claims counted (they started), and
    # a completed job the retries of occurrences that started.
    live = live or (job.status == JobStatus.COMPLETED.value and (exhausted(job) or occ.attempt > 1))
    return live and int(job.generation) == occ.generation


def gone_reason(slot: Slot | None) -> str:
    """Why a claim found its job not live: what a skipped run's error says."""
    status = slot.status if slot is not None else None
    if status is None:
        return "the job was deleted"
    if status in (JobStatus.PAUSED.value, JobStatus.COMPLETED.value):
        return f"the job is {status}"
    return "the job was rescheduled (this occurrence belongs to its old schedule)"
