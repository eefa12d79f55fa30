"""A job parked by its spent budget (docs/history.md, "Parked jobs").

While a job's own daily budget is spent, every occurrence until the next budget day is skipped
(``budget``). Dispatched one by one, a 1-s job blocked for 12 hours costs 43,200 claims and as many
streak writes. Parked, it costs one write: the first budget skip that finds the job's
``nextRunAt`` before its budget day's end moves it to the first occurrence of the next budget day
and counts the occurrences it passes over **ahead**, in the job's open budget streak and its
``skipped`` total (``parkedSince``/``parkedUntil``: the occurrences ``[since, until)``;
``parkedStreak``: the streak they were counted in). The occurrences already sent (the tick's
lookahead) are skipped as before and join the same streak.

The count is written ahead; what the API shows is not: a view subtracts the parked occurrences
whose time has not come (engine/parking.ahead), so the streak's ``skippedCount`` grows as they
pass. A change to the job (PATCH, a pause) unparks it in its own write: the occurrences not yet
come are taken back out of the counts and the job is armed again from now.

While parked nothing can open another streak: the job's occurrences are not dispatched, the ones
already sent are skipped for the same reason (a spent budget refuses a claim before its
catch-up window or its overlap slot is looked at), and the budget only grows until the day ends.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from . import dynamo
from .models import JobModel, JobStatus


class Park(NamedTuple):
    """Where a parked job's skips go, and how many are counted ahead."""

    since: int  # the first occurrence not sent: the job's nextRunAt as the skip saw it
    until: int  # the first occurrence of the next budget day: the job's new nextRunAt
    skips: int  # the occurrences in [since, until)
    last: int  # the last of them
    streak: str  # the run id of the budget streak they are counted in


def park(jobs: type[JobModel], job_id: str, seen: dict[str, Any], parked: Park) -> bool:
    """Park the job as ``parked`` (one UpdateItem); False if the job is not as the skip saw it (the
    tick moved it, it changed, or another skip parked it first)."""
    actions: list[Action] = [
        jobs.nextRunAt.set(parked.until), jobs.parkedSince.set(parked.since), jobs.parkedUntil.set(parked.until),
        jobs.parkedStreak.set(parked.streak), jobs.streakCount.add(parked.skips), jobs.skippedBudget.add(parked.skips),
        jobs.streakLast.set(parked.last)]
    condition: Condition = (jobs.status == JobStatus.ACTIVE.value) & (jobs.nextRunAt == parked.since)
    condition &= jobs.generation == dynamo.number(seen, "generation")
    condition &= jobs.usageDayEnd == dynamo.number(seen, "usageDayEnd")  # the same spent budget day
    condition &= jobs.updatedAt == dynamo.number(seen, "updatedAt")  # no change since (a raised budget)
    condition &= (jobs.streakRun == parked.streak) & (jobs.streakReason == "budget")
    condition &= (jobs.streakClosedAt.does_not_exist() | (jobs.streakClosedAt > parked.last)) & jobs.dueShard.exists()
    condition &= jobs.endAt.does_not_exist() | (jobs.endAt >= parked.until)
    try:
        jobs(job_id).update(actions=actions, condition=condition)
        return True
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise dynamo.unavailable("jobs", "park a job") from exc


def parked(job: JobModel, now_ms: int) -> bool:
    """True while ``job`` is parked and its count ahead is still in its open streak."""
    return job.parkedUntil is not None and int(job.parkedUntil) > now_ms and job.parkedStreak is not None \
        and job.parkedStreak == job.streakRun


UNPARKED = {"parkedSince": None, "parkedUntil": None, "parkedStreak": None}  # a change that unparks removes them


def uncounted(jobs: type[JobModel], ahead: int) -> list[Action]:
    """The actions of a change that unparks a job: the ``ahead`` occurrences not yet come leave the
    counts (ADDs: skips recorded meanwhile are kept)."""
    return [jobs.streakCount.add(-ahead), jobs.skippedBudget.add(-ahead)] if ahead else []
