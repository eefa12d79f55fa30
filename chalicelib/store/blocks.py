"""A job's ``blocked`` (contract section 13): why its occurrences would be skipped now, and when
that lifts.

* ``budget``: the job's own budget is spent for its budget day. Computed from the job item alone
  (``usageDay``/``usageDayEnd``/``used*`` and the limits): no read, no write. ``until`` is
  ``usageDayEnd``, the start of the next budget day in the job's timezone (:func:`budgets.day_of`).
* ``agentBudget``: the agent's budget (per UTC day) is spent. The agent item is not read for a job
  view: the skip that meets it records ``agentBlockedUntil`` (the next UTC midnight) on the job, in
  the write that already ends that occurrence; it lifts when that time passes, or when a claim of
  the job starts a run (the claim's own write removes it).

``quota`` is never shown: a quota refuses a create or a change (contract section 11), it does not
skip occurrences.
"""
from __future__ import annotations

from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from ..clock import iso
from ..defaults import DAY_MS
from . import dynamo
from .budgets import budget_of
from .models import JobModel


def next_utc_day(now_ms: int) -> int:
    """The start of the next UTC day (an agent budget's day)."""
    return (now_ms // DAY_MS + 1) * DAY_MS


def agent_spent(now_ms: int) -> list[Action]:
    """The job actions of a skip on its agent's budget: blocked until the next UTC day (the skip is
    counted in its streak, store/streaks.py)."""
    return [JobModel.agentBlockedUntil.set(next_utc_day(now_ms))]


def told_once(model: type[JobModel], job_id: str, until: int) -> bool:
    """True for the one caller that records that the agent-budget block ending at ``until`` was
    told (``job.blocked``): one conditional write, made only by the skips whose job read predates it."""
    try:
        model(job_id).update(actions=[model.agentBlockTold.set(until)],
                             condition=model.agentBlockTold.does_not_exist() | (model.agentBlockTold < until))
        return True
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise dynamo.unavailable("jobs", "record a block told") from exc


def _spent(job: JobModel) -> bool:
    budget = budget_of(job)
    if budget is None:
        return False
    tokens = budget.maxTokensPerDay is not None and float(job.usedTokens or 0) >= budget.maxTokensPerDay
    cost = budget.maxCostUsdPerDay is not None and float(job.usedCost or 0) >= budget.maxCostUsdPerDay
    return tokens or cost


def view(job: JobModel, now_ms: int) -> dict[str, Any] | None:
    """The API's ``blocked``: null, or ``{"reason", "until", "message"}``."""
    if job.usageDayEnd is not None and int(job.usageDayEnd) > now_ms and _spent(job):
        return {"reason": "budget", "until": iso(job.usageDayEnd),
                "message": f"the job's daily budget is used up for {job.usageDay} ({job.timezone}); "
                           "its occurrences are skipped until the next budget day"}
    if job.agentBlockedUntil is not None and int(job.agentBlockedUntil) > now_ms:
        return {"reason": "agentBudget", "until": iso(job.agentBlockedUntil),
                "message": f"agent {job.agentId}'s daily budget is used up; its occurrences are skipped "
                           "until the next UTC day"}
    return None
