"""Budgets (guard rails): a job's daily limit on cost and tokens, decided inside the claim.

What counts against a budget on a day is *spent* (the ``usage`` reported by the runs started
that day) plus *reserved* (each run in progress reserves what the job's last finished run
reported, 0 before any). The job keeps that sum as ``usedTokens`` / ``usedCost`` for its
``usageDay`` (in the job's timezone, ending at ``usageDayEnd``): the claim checks it is below
each limit and adds the reservation in its own conditional write, so a burst of N occurrences
can overshoot by about one run, not by N; the run's final write replaces its reservation by
what it reported. A claim that finds the day over (or never started) fails on purpose: the
executor starts the new day (:meth:`JobBudgets.new_day`) and claims again, once a day.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, cast
from zoneinfo import ZoneInfo

from pynamodb.exceptions import PynamoDBException, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from ..config import Budget
from ..errors import StoreUnavailable
from ..vocab import COST_DECIMALS
from . import dynamo
from .models import JobModel, RunModel
from .recent_usage import appended

if TYPE_CHECKING:
    from .. import config_schema


class Spend(NamedTuple):
    """Tokens (input + output) and cost (USD) of one run, or of a day."""

    tokens: int = 0
    cost: float = 0.0

    @classmethod
    def of_usage(cls, usage: str | dict[str, Any] | None) -> Spend:
        """What a run's stored ``usage`` (JSON text or object) counts for."""
        data = json.loads(usage) if isinstance(usage, str) else (usage or {})
        tokens = int(data.get("inputTokens") or 0) + int(data.get("outputTokens") or 0)
        return cls(tokens, round(float(data.get("costUsd") or 0.0), COST_DECIMALS))

    @classmethod
    def last_of(cls, job: JobModel) -> Spend:
        """The reservation of a run of ``job``: what its last finished run reported."""
        return cls(int(job.lastUsageTokens or 0), float(job.lastUsageCost or 0.0))


def budget_of(job: JobModel) -> Budget | None:
    """The job's budget, or None."""
    if job.budgetTokens is None and job.budgetCostUsd is None:
        return None
    return Budget(maxTokensPerDay=int(job.budgetTokens) if job.budgetTokens is not None else None,
                  maxCostUsdPerDay=float(job.budgetCostUsd) if job.budgetCostUsd is not None else None)


def budget_attributes(budget: Budget | config_schema.Budget | None) -> dict[str, Any]:
    """The job attributes that store ``budget`` (the API's, or one read back; None clears them)."""
    if budget is None:
        return {"budgetTokens": None, "budgetCostUsd": None}
    return {"budgetTokens": budget.maxTokensPerDay, "budgetCostUsd": budget.maxCostUsdPerDay}


def budget_view(job: JobModel) -> dict[str, Any] | None:
    """The API's ``budget`` object."""
    budget = budget_of(job)
    return None if budget is None else budget.limits()


def usage_today(job: JobModel, now_ms: int) -> dict[str, Any]:
    """The API's ``usageToday``: what counts against a budget today, zeros before any usage.

    Present with or without a budget (CONTRACT section 7): a job whose budget was removed
    still shows what its runs reported today."""
    if job.usageDayEnd is None or int(job.usageDayEnd) <= now_ms:
        return {"costUsd": 0.0, "tokens": 0}
    return {"costUsd": round(float(job.usedCost or 0.0), 6), "tokens": int(job.usedTokens or 0)}


def day_of(timezone: str, at_ms: int) -> tuple[str, int]:
    """The calendar day (``YYYY-MM-DD``) of ``at_ms`` in ``timezone``, and when it ends (epoch ms)."""
    zone = ZoneInfo(timezone)
    local = datetime.fromtimestamp(at_ms / 1000, zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone) + timedelta(days=1)
    # A wall-clock midnight that a DST change skips still maps to one instant (fold 0).
    return local.date().isoformat(), int(midnight.timestamp() * 1000)


def claim_terms(jobs: type[JobModel], now_ms: int, reserve: Spend) -> tuple[list[Action], Condition]:
    """The budget's part of a first attempt's claim: below each limit today, then reserve.

    ``reserve`` is what the claimant believes the job's last finished run reported; the claim
    holds only if that is so, and the run item records it, so the run's final write settles
    exactly what its claim reserved (overlapping runs never settle each other's reservation).
    A job without a budget passes; its counters stay at 0 (it reports no last usage)."""
    unlimited = jobs.budgetTokens.does_not_exist() & jobs.budgetCostUsd.does_not_exist()
    tokens_ok = jobs.budgetTokens.does_not_exist() | (jobs.usedTokens < jobs.budgetTokens)
    cost_ok = jobs.budgetCostUsd.does_not_exist() | (jobs.usedCost < jobs.budgetCostUsd)
    believed = _equals(jobs.lastUsageTokens, reserve.tokens) & _equals(jobs.lastUsageCost, reserve.cost)
    condition = cast(Condition, unlimited | ((jobs.usageDayEnd > now_ms) & tokens_ok & cost_ok & believed))
    # The reservation added is the one the run item records (for a budgeted job the condition
    # holds only if it is the job's last usage; a job without a budget reserves what was believed, 0).
    actions: list[Action] = [jobs.usedTokens.set((jobs.usedTokens | 0) + reserve.tokens),
                             jobs.usedCost.set((jobs.usedCost | 0) + reserve.cost)]
    return actions, condition


def _equals(attribute: Any, value: float) -> Condition:
    # A stored 0 and an absent attribute both mean "nothing reported".
    return cast(Condition, (attribute == value) if value else (attribute.does_not_exist() | (attribute == 0)))


def reserved_matches(runs: type[RunModel], reserved: Spend) -> Condition:
    """The run item recorded ``reserved`` as its claim's reservation (absent: 0)."""
    return cast(Condition, _equals(runs.reservedTokens, reserved.tokens) & _equals(runs.reservedCost, reserved.cost))


def last_usage_of(item: dict[str, Any] | None) -> Spend:
    """The job's last finished run's usage, from a raw (DynamoDB-JSON) job item."""
    return Spend(dynamo.number(item, "lastUsageTokens") or 0, _decimal(item, "lastUsageCost") or 0.0)


def reserved_of(item: dict[str, Any] | None) -> Spend:
    """The reservation a raw (DynamoDB-JSON) run item recorded."""
    return Spend(dynamo.number(item, "reservedTokens") or 0, _decimal(item, "reservedCost") or 0.0)


def refusal(item: dict[str, Any] | None, now_ms: int) -> str | None:
    """Why a cancelled claim's job (as returned) refused on budget: ``"day"`` (a new day must
    start first), ``"spent"`` (the budget is used up today), or None (not the budget)."""
    tokens_limit, cost_limit = dynamo.number(item, "budgetTokens"), _decimal(item, "budgetCostUsd")
    if tokens_limit is None and cost_limit is None:
        return None
    if (dynamo.number(item, "usageDayEnd") or 0) <= now_ms:
        return "day"
    over_tokens = tokens_limit is not None and (dynamo.number(item, "usedTokens") or 0) >= tokens_limit
    over_cost = cost_limit is not None and (_decimal(item, "usedCost") or 0.0) >= cost_limit
    return "spent" if over_tokens or over_cost else None


def limited(item: dict[str, Any] | None) -> bool:
    """True if a raw (DynamoDB-JSON) job item has a budget."""
    return dynamo.number(item, "budgetTokens") is not None or _decimal(item, "budgetCostUsd") is not None


def _decimal(item: dict[str, Any] | None, name: str) -> float | None:
    value = (item or {}).get(name, {}).get("N")
    return float(value) if value is not None else None


def spent_reason(item: dict[str, Any] | None) -> str:
    """The ``error`` of an occurrence skipped by its job's budget, from the job item its lost claim
    returned (no read)."""
    tokens, cost = dynamo.number(item, "budgetTokens"), _decimal(item, "budgetCostUsd")
    limits = None if tokens is None and cost is None else Budget(maxTokensPerDay=tokens, maxCostUsdPerDay=cost).limits()
    return f"budget: the job's daily budget {json.dumps(limits)} is used up" if limits \
        else "budget: the job's daily budget is used up"


class Settlement(NamedTuple):
    """The final write's budget part: replace a run's reservation by what it reported."""

    day: str  # the job's usageDay the run counted on (its start's day)
    day_end: int  # when that day ends (epoch ms)
    reserved: Spend  # what the run's claim reserved (recorded on the run; the final write checks it)
    last: Spend | None  # the new "last finished run" (None: the run did not run, nothing reported)
    job_day: str | None = None  # the job's usageDay as last read (the final write checks it)
    recent: str | None = None  # the job's recentUsage with this run's report (None: leave it)

    def actions(self, jobs: type[JobModel], counted: bool = True) -> list[Action]:
        """The job's counter updates: replace the reservation by the report on the run's day; on a
        day the job has not counted yet (a job without a budget), start it with this report;
        on a day that is over (``counted`` False), leave the counters alone."""
        got = self.last or Spend()
        if counted and self.opens_day:
            actions: list[Action] = [jobs.usageDay.set(self.day), jobs.usageDayEnd.set(self.day_end),
                                     jobs.usedTokens.set(got.tokens), jobs.usedCost.set(got.cost)]
        elif counted:
            tokens, cost = got.tokens - self.reserved.tokens, round(got.cost - self.reserved.cost, COST_DECIMALS)
            actions = [jobs.usedTokens.add(tokens), jobs.usedCost.add(cost)]
        else:
            actions = []
        if self.last is not None:
            actions += [jobs.lastUsageTokens.set(self.last.tokens), jobs.lastUsageCost.set(self.last.cost)]
        if self.recent is not None:  # the projection's window, in the same write
            actions.append(jobs.recentUsage.set(self.recent))
        return actions

    @property
    def opens_day(self) -> bool:
        """True if the job's counters are of an earlier day than the run's (or of none)."""
        return self.job_day is None or self.job_day < self.day

    def day_condition(self, jobs: type[JobModel]) -> Condition:
        """The job's usageDay is what this settlement expects (``job_day``)."""
        if self.job_day == self.day:
            return cast(Condition, jobs.usageDay == self.day)
        if self.opens_day:
            return cast(Condition, jobs.usageDay.does_not_exist() | (jobs.usageDay < self.day))
        return cast(Condition, jobs.usageDay > self.day)


def settlement(job: JobModel, started_ms: int, reported: Spend | None,
               reserved: Spend | None = None, usage_reported: bool = False) -> Settlement:
    """How a run of ``job`` started at ``started_ms`` ends on the day's usage (with or without a budget).

    ``reported`` is the run's usage; None for a run that ended without running (skipped after
    its claim, cancelled before it started), which only gives its reservation back. ``reserved``
    is the run's reservation if known; else the job's last usage is the first guess, and the
    final write, which checks it against the run item, learns the right one. ``usage_reported``:
    the run reported a ``usage`` (it joins the job's recentUsage window, for its projection)."""
    day, end = day_of(job.timezone, started_ms)
    if reserved is None:  # a job without a budget reserves nothing (runtime.RunStore.claim_parts)
        reserved = Spend.last_of(job) if budget_of(job) is not None else Spend()
    recent = appended(job.recentUsage, reported.tokens, reported.cost) if usage_reported and reported else None
    return Settlement(day, end, reserved, reported, job.usageDay, recent)


class JobBudgets:
    """Starts a job's budget day (the once-a-day write a claim asks for)."""

    def __init__(self, jobs: type[JobModel] = JobModel) -> None:
        self.jobs = jobs

    def new_day(self, job: JobModel, now_ms: int) -> None:
        """Reset what counts to the reservations of the runs still in progress (none known:
        0) for the day of ``now_ms`` in the job's timezone; a racing executor's reset wins."""
        jobs = self.jobs
        day, end = day_of(job.timezone, now_ms)
        over = jobs.usageDayEnd.does_not_exist() | (jobs.usageDayEnd <= now_ms)
        try:
            job.update(actions=[jobs.usageDay.set(day), jobs.usageDayEnd.set(end), jobs.usedTokens.set(0),
                                jobs.usedCost.set(0)], condition=jobs.id.exists() & over)
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise StoreUnavailable("jobs table unavailable while starting a budget day; retry later") from exc
        except PynamoDBException as exc:
            raise StoreUnavailable("jobs table unavailable while starting a budget day; retry later") from exc
