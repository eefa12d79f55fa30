"""A job's ``blocked`` (contract section 13): why its occurrences would be skipped now, and when
that lifts.

* ``budget``: the job's own budget is spent for its budget day. Computed from the job item alone
  (``usageDay``/``usageDayEnd``/``used*`` and the limits): no read, no write. ``until`` is
  ``usageDayEnd``, the start of the next budget day in the job's timezone (:func:`budgets.day_of`).
* ``agentBudget``: the agent's budget (per UTC day) is spent. The agent item is not read for a job
  view: the skip that meets it records ``agentBlockedUntil`` (the next UTC midnight) and
  ``agentBlockedBy`` (which budget: :func:`mark`) on the job, in the write that already ends that
  occurrence. Until then the job's claims are conditional on it (:func:`claim_condition`): its next
  occurrences are skipped without taking the job's overlap slot (which made their neighbours overlap
  skips) and join the same budget streak. It lifts when that time passes, or when the agent's
  budget in the configuration is no longer the one that blocked it (raised, removed): the next
  claim then holds, and its own write removes it.

``quota`` is never shown: a quota refuses a create or a change (contract section 11), it does not
skip occurrences.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from ..clock import iso
from ..config import Budget
from ..defaults import DAY_MS
from . import dynamo
from .budgets import budget_of
from .models import JobModel


def next_utc_day(now_ms: int) -> int:
    """The start of the next UTC day (an agent budget's day)."""
    return (now_ms // DAY_MS + 1) * DAY_MS


def mark(agent_id: str, budget: Budget | None) -> str:
    """Which agent budget blocked a job: the agent and its limits (a changed budget is another mark)."""
    limits = budget.limits() if budget is not None else {}
    return f"{agent_id}:{json.dumps(limits, sort_keys=True)}"


def marks(agents: Mapping[str, Any]) -> frozenset[str]:
    """The marks of every configured agent budget (``agents``: the config's endpoints)."""
    return frozenset(mark(agent_id, endpoint.budget) for agent_id, endpoint in agents.items()
                     if endpoint.budget is not None)


MAX_MARKS = 99  # DynamoDB's IN takes 100 operands; more budgeted agents: claims do not look


def claim_condition(jobs: type[JobModel], now_ms: int, known: frozenset[str]) -> Condition | None:
    """A claim's condition that the job is not blocked by an agent budget still configured as it was."""
    if not known or len(known) > MAX_MARKS:
        return None
    return cast(Condition, jobs.agentBlockedUntil.does_not_exist() | (jobs.agentBlockedUntil <= now_ms)
                | ~jobs.agentBlockedBy.is_in(*sorted(known)))


def agent_blocked(item: dict[str, Any] | None, now_ms: int, known: frozenset[str]) -> bool:
    """True if a lost claim's job (as returned) is blocked by an agent budget still configured as it was."""
    until = dynamo.number(item, "agentBlockedUntil")
    return until is not None and until > now_ms and dynamo.text(item, "agentBlockedBy") in known \
        and len(known) <= MAX_MARKS


def agent_spent(now_ms: int, by: str) -> list[Action]:
    """The job actions of a skip on its agent's budget: blocked until the next UTC day, by ``by``
    (:func:`mark`; the skip is counted in its streak, store/streaks.py)."""
    return [JobModel.agentBlockedUntil.set(next_utc_day(now_ms)), JobModel.agentBlockedBy.set(by)]


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
