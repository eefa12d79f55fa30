"""Per-agent limits (guard rails): ``maxConcurrent`` and the agent's daily ``budget``.

One item per limited agent (``agent#<id>`` in the jobs table) is a semaphore with leases: the
map ``holders`` names the runs holding a slot (run id -> lease), so a crashed executor's slot
is reaped once its lease passes; ``queued`` counts the runs waiting. The gate is one
conditional write after the job is read at the instant: take a slot (and charge the agent's
budget) only while one is free and nobody waits, else the run waits (status ``queued``, in the
runs table's sparse ``agentQueue`` index, in scheduled order). Whoever frees a slot (the run's
final write, a retry, a skip) then *fills*: grants the slot to the earliest waiting run and
sends it, so it starts within a second; nothing polls. A waiting run also keeps one *wake*
message in the queue, due when the earliest lease could expire, which reaps and fills if the
one who should have filled died.
"""
from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any, NamedTuple

from pynamodb.exceptions import PynamoDBException, QueryError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition, size
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from ..config import AgentEndpoint, Config
from ..errors import StoreUnavailable
from ..store import dynamo, run_attempts
from ..store.budgets import Spend, day_of
from ..store.dynamo import model_connection
from ..store.models import AgentModel, JobModel, RunModel, RunStatus, Trigger, agent_item_id
from ..store.runs import Occurrence, unwatch, watch

log = logging.getLogger("agentos.jobs.agents")
GATE_TRIES = 4  # each lost try learns what the agent item held (a lease to reap, a new day)
FILL_MAX = 10  # waiting runs granted per fill at most (a burst of freed slots fills in turns)


class Gate(StrEnum):
    """What the agent's gate decided for one attempt."""

    GO = "go"  # the attempt holds a slot (or the agent has no slot limit) and is charged
    QUEUED = "queued"  # every slot is taken (or others wait first): the run waits its turn
    OVER_BUDGET = "over_budget"  # the agent's budget is used up today


def holds_slots(limits: AgentEndpoint | None) -> bool:
    """True if an agent with these limits (:meth:`AgentLimits.limits`) has its attempts hold slots."""
    return limits is not None and limits.maxConcurrent is not None


class Waiting(NamedTuple):
    """A run waiting for a slot, as the queue index shows it."""

    occurrence: Occurrence
    queue_key: str


def queue_key(occ: Occurrence) -> str:
    """The waiting run's sort key: scheduled time first, so runs start in scheduled order."""
    return f"{occ.scheduled_ms:013d}#{occ.run_id}"


class AgentLimits:
    """The gate, the waiting line and the releases of the limited agents' slots."""

    def __init__(self, config: Config, model: type[AgentModel] = AgentModel,
                 runs: type[RunModel] = RunModel, jobs: type[JobModel] = JobModel) -> None:
        self.config = config
        self.model = model
        self.runs = runs
        self.jobs = jobs

    def limits(self, agent_id: str) -> AgentEndpoint | None:
        """The agent's configured limits, or None when it has none."""
        endpoint = self.config.agent(agent_id)
        return endpoint if endpoint is not None and endpoint.limited else None

    def slot_limited(self, agent_id: str) -> bool:
        """True if the agent's attempts hold slots (``maxConcurrent`` is set)."""
        return holds_slots(self.limits(agent_id))

    # --- the gate -------------------------------------------------------------------------

    def admit(self, job: JobModel, occ: Occurrence, limits: AgentEndpoint | None, now_ms: int, lease_until: int,
              reserved: Spend) -> Gate:
        """Take a slot for this attempt and, on a run's first attempt, charge the agent's budget
        what the run's claim reserved (its final write settles that same amount). ``limits``: the
        agent's (:meth:`limits`), worked out once per attempt by the caller."""
        if limits is None:
            return Gate.GO
        charge = reserved if occ.attempt == 1 and limits.budget is not None else None
        for _ in range(GATE_TRIES):
            failed = self._try_admit(job.agentId, occ, limits, charge, now_ms, lease_until)
            if failed is None:
                return Gate.GO
            decided = self._learn(job.agentId, failed, limits, charge is not None, now_ms)
            if decided is not None:
                return decided
        return Gate.QUEUED

    def _try_admit(self, agent_id: str, occ: Occurrence, limits: AgentEndpoint, charge: Spend | None,
                   now_ms: int, lease_until: int) -> dict[str, Any] | None:
        """One conditional write; None when it held, else the item it failed on ({}: none)."""
        model = self.model
        actions: list[Action] = []
        condition: Condition = model.id.exists()
        if limits.maxConcurrent is not None:
            holds = model.holders[occ.run_id].exists()
            # An item made by the quota counters (or the budget) has no holders map yet: the
            # condition holds, the SET of a slot in it is refused (ValidationException), and
            # _learn creates the map ({} below). size() of a missing map is never evaluated.
            free = (model.holders.does_not_exist() | (size(model.holders) < limits.maxConcurrent)) & (
                model.queued.does_not_exist() | (model.queued <= 0))
            actions.append(model.holders[occ.run_id].set(lease_until))
            condition &= holds | free
        if charge is not None and limits.budget is not None:
            spend, within = _budget_terms(model, limits, charge, day_of("UTC", now_ms)[0])
            actions += spend
            condition &= within
        if not actions:
            return None
        try:
            self.model(agent_item_id(agent_id)).update(actions=actions, condition=condition)
            return None
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return self._item(agent_id)
            if exc.cause_response_code == "ValidationException":  # no item (no holders map) yet
                return {}
            raise StoreUnavailable("jobs table unavailable while admitting a run; retry later") from exc

    def state(self, agent_id: str) -> dict[str, Any]:
        """The agent item as read now: ``holders`` (run id -> lease), ``queued``, the day's usage."""
        return self._item(agent_id)

    def free(self, agent_id: str, run_id: str, lease: int) -> bool:
        """Free ``run_id``'s slot if it still holds it with ``lease`` (the reconciler found it over)."""
        try:
            self.model(agent_item_id(agent_id)).update(actions=self.release_actions(run_id),
                                                       condition=self.model.holders[run_id] == lease)
        except PynamoDBException:
            return False  # renewed, or freed by its own final write meanwhile
        log.warning("agent %s: slot of run %s freed by the reconciler", agent_id, run_id)
        return True

    def correct_queued(self, agent_id: str, seen: int) -> int:
        """Make the agent's count of waiting runs the length of its line (a queueing or leaving
        write whose answer was lost can leave it off); 1 if it was corrected, else 0."""
        try:
            length = self.runs.agentQueue.count(agent_id)
        except PynamoDBException as exc:
            raise StoreUnavailable("runs table unavailable while reading an agent's line; retry later") from exc
        if length == seen:
            return 0
        self._best_effort(agent_id, [self.model.queued.set(length)], self.model.queued == seen)
        return 1

    def _item(self, agent_id: str) -> dict[str, Any]:
        try:
            item = self.model.get(agent_item_id(agent_id), consistent_read=True)
        except self.model.DoesNotExist:
            return {}
        except PynamoDBException as exc:
            raise StoreUnavailable("jobs table unavailable while admitting a run; retry later") from exc
        return {"holders": dict(item.holders.attribute_values if item.holders is not None else {}),
                "queued": int(item.queued or 0), "usageDay": item.usageDay,
                "usedTokens": int(item.usedTokens or 0), "usedCost": float(item.usedCost or 0)}

    def _learn(self, agent_id: str, item: dict[str, Any], limits: AgentEndpoint, charging: bool,
               now_ms: int) -> Gate | None:
        """Why the gate's write failed: fix what can be fixed and return None (try again), or decide."""
        if not item:
            self._create(agent_id)
            return None
        today = day_of("UTC", now_ms)[0]
        if charging and limits.budget is not None and item.get("usageDay") != today:
            self._new_day(agent_id, today)
            return None
        if charging and limits.budget is not None and _over(limits, item):
            return Gate.OVER_BUDGET
        if self._reap(agent_id, item["holders"], now_ms):
            return None
        return Gate.QUEUED

    def _create(self, agent_id: str) -> None:
        # An UpdateItem, not a Put: it creates the item, or leaves a racing creator's alone.
        model = self.model
        try:
            self.model(agent_item_id(agent_id)).update(
                actions=[model.holders.set(model.holders | {}), model.queued.set(model.queued | 0)])
        except PynamoDBException as exc:
            raise StoreUnavailable("jobs table unavailable while admitting a run; retry later") from exc

    def _new_day(self, agent_id: str, today: str) -> None:
        model = self.model
        try:
            self.model(agent_item_id(agent_id)).update(
                actions=[model.usageDay.set(today), model.usedTokens.set(0), model.usedCost.set(0)],
                condition=model.usageDay.does_not_exist() | (model.usageDay != today))
        except PynamoDBException:
            pass  # another executor started the day first

    def _reap(self, agent_id: str, holders: dict[str, Any], now_ms: int) -> bool:
        """Free the slots whose lease passed (their holder crashed out); True if any was freed."""
        freed = False
        for run_id, lease in holders.items():
            if int(lease) >= now_ms:
                continue
            try:
                self.model(agent_item_id(agent_id)).update(
                    actions=[self.model.holders[run_id].remove()],
                    condition=self.model.holders[run_id] == lease)
                log.warning("agent %s: slot of run %s reaped (lease passed)", agent_id, run_id)
                freed = True
            except PynamoDBException:
                pass
        return freed

    # --- waiting ----------------------------------------------------------------------------

    def enqueue(self, agent_id: str, occ: Occurrence, limits: AgentEndpoint) -> bool:
        """Make the claimed attempt wait for a slot: the run becomes ``queued`` (attempt given
        back) in the agent's line, counted by the agent. False if a slot is free after all."""
        runs, model = self.runs, self.model
        still_ours = (runs.status == RunStatus.RUNNING.value) & (runs.attempt == occ.attempt)
        run_actions: list[Action] = [runs.status.set(RunStatus.QUEUED.value), runs.attempt.set(occ.attempt - 1),
                                     runs.queueAgent.set(agent_id), runs.queueKey.set(queue_key(occ)),
                                     runs.leaseUntil.remove(), runs.startedAt.remove(), *unwatch(runs),
                                     run_attempts.withdrawn(runs, occ.attempt)]
        assert limits.maxConcurrent is not None  # only a slot-limited agent's gate queues
        full = (size(model.holders) >= limits.maxConcurrent) | (model.queued > 0)

        def write() -> None:
            with TransactWrite(connection=model_connection(self.runs)) as tx:
                tx.update(self.runs(occ.job_id, occ.run_id), actions=run_actions, condition=still_ours)
                tx.update(self.model(agent_item_id(agent_id)), actions=[model.queued.add(1)], condition=full)
        return dynamo.committed(write, lambda: StoreUnavailable(
            "tables unavailable while queueing a run for its agent; retry later"))

    def earliest_lease(self, agent_id: str, now_ms: int) -> int:
        """When the first slot of the agent could be reaped (its earliest lease; now if none)."""
        holders = self._item(agent_id).get("holders") or {}
        return min((int(lease) for lease in holders.values()), default=now_ms)

    def line(self, agent_id: str, limit: int) -> list[Waiting]:
        """The first ``limit`` runs waiting for the agent, earliest scheduled first."""
        try:
            found = self.runs.agentQueue.query(agent_id, limit=limit)
            return [Waiting(Occurrence(r.jobId, r.id, int(r.scheduledAt), Trigger(r.trigger),
                                       int(r.generation or 1), int(r.attempt or 0) + 1), str(r.queueKey))
                    for r in found]
        except QueryError as exc:
            raise StoreUnavailable("runs table unavailable while reading an agent's line; retry later") from exc

    def fill(self, agent_id: str, now_ms: int, lease_ms: int) -> list[Occurrence]:
        """Grant free slots to the earliest waiting runs; returns the runs granted (to be sent)."""
        limits = self.limits(agent_id)
        if limits is None or limits.maxConcurrent is None:
            return []
        granted: list[Occurrence] = []
        for _ in range(2 * FILL_MAX):
            # The count of waiting runs, then the head, both read afresh: the grant holds only if
            # nobody joined the line in between (an earlier run may have), so the line is served
            # in scheduled order even when fills race each other and late arrivals.
            item = self._item(agent_id)
            if int(item.get("queued") or 0) <= 0 or len(granted) >= FILL_MAX:
                break
            if len(item.get("holders") or {}) >= limits.maxConcurrent:
                if not self._reap(agent_id, item.get("holders") or {}, now_ms):
                    break  # every slot is taken: the next release fills
                continue
            head = self.line(agent_id, 1)
            if not head:  # counted but not in line: a queueing write whose answer was lost
                self._best_effort(agent_id, [self.model.queued.set(0)], self.model.queued == item["queued"])
                break
            if self._grant(agent_id, head[0], limits.maxConcurrent, now_ms, now_ms + lease_ms, int(item["queued"])):
                granted.append(head[0].occurrence)
        return granted

    def _grant(self, agent_id: str, waiting: Waiting, most: int, now_ms: int, lease_until: int,
               seen_queued: int) -> bool | None:
        """Give ``waiting`` a slot: True; False if it no longer waits; None if the slots or the
        line changed since they were read."""
        runs, model, occ = self.runs, self.model, waiting.occurrence
        free = (size(model.holders) < most) & (model.queued == seen_queued)

        def write() -> None:
            with TransactWrite(connection=model_connection(self.runs)) as tx:
                tx.update(self.model(agent_item_id(agent_id)), condition=free, actions=[
                    model.holders[occ.run_id].set(lease_until), model.queued.add(-1)])
                tx.update(self.runs(occ.job_id, occ.run_id), actions=[
                    runs.queueAgent.remove(), runs.queueKey.remove(), runs.admittedAt.set(now_ms),
                    *watch(runs, occ.run_id, lease_until)],
                          condition=(runs.queueKey == waiting.queue_key) & (runs.status == RunStatus.QUEUED.value))
        try:
            dynamo.retry_conflicts(write)
            return True
        except TransactWriteError as exc:
            found = dynamo.reasons(exc)  # [agent, run]: both are updates, in that order
            # Full first: a store may report the run's condition failed too when the agent's did.
            if len(found) == 2 and found[0].code == dynamo.CONDITION_FAILED:
                return None
            if len(found) == 2 and found[1].code == dynamo.CONDITION_FAILED:
                return False  # it left the line (granted by another fill, cancelled): the next one
            raise StoreUnavailable("tables unavailable while starting a waiting run; retry later") from exc

    def leave_line(self, agent_id: str, occ: Occurrence) -> None:
        """A waiting run ended without a slot (cancelled): the agent counts one fewer waiting."""
        self._best_effort(agent_id, [self.model.queued.add(-1)], self.model.queued > 0)

    # --- releasing ----------------------------------------------------------------------------

    def release_actions(self, run_id: str) -> list[Action]:
        """The agent item's part of a final write that frees ``run_id``'s slot."""
        return [self.model.holders[run_id].remove()]

    def release(self, agent_id: str, run_id: str) -> None:
        """Free ``run_id``'s slot outside a final write (a retry's wait, a skip)."""
        self._best_effort(agent_id, self.release_actions(run_id),
                          self.model.holders[run_id].exists())

    def release_anywhere(self, run_id: str) -> list[str]:
        """Free ``run_id``'s slot whichever limited agent holds it, when its job is gone and with it
        the agent's id: one conditional write per slot-limited agent; returns the agents freed."""
        freed = []
        for agent_id, endpoint in self.config.agents.items():
            if endpoint.maxConcurrent is None:
                continue
            try:
                self.model(agent_item_id(agent_id)).update(actions=self.release_actions(run_id),
                                                           condition=self.model.holders[run_id].exists())
                freed.append(agent_id)
            except PynamoDBException:
                pass  # not this agent's (or the write failed: the reconciler frees a gone run's slot)
        return freed

    def extend(self, agent_id: str, run_id: str, lease_until: int) -> None:
        """Keep an accepted attempt's slot until its deadline (its lease was the claim's)."""
        self._best_effort(agent_id, [self.model.holders[run_id].set(lease_until)],
                          self.model.holders[run_id].exists())

    def settle(self, agent_id: str, day: str, delta: Spend) -> None:
        """Replace a finished run's reservation on the agent's budget by what it reported."""
        model = self.model
        self._best_effort(agent_id, [model.usedTokens.add(delta.tokens), model.usedCost.add(delta.cost)],
                          model.usageDay == day)

    def _best_effort(self, agent_id: str, actions: list[Action], condition: Condition) -> None:
        # A lost write here costs at most a slot until its lease passes, or a reservation
        # counted instead of the reported usage: never a run.
        try:
            self.model(agent_item_id(agent_id)).update(actions=actions, condition=condition)
        except PynamoDBException as exc:
            log.info("agent %s: best-effort write not applied: %s", agent_id, type(exc).__name__)


def _budget_terms(model: type[AgentModel], limits: AgentEndpoint, charge: Spend,
                  today: str) -> tuple[list[Action], Condition]:
    budget = limits.budget
    assert budget is not None
    condition: Condition = model.usageDay == today  # a new day is started first (see _learn)
    if budget.maxTokensPerDay is not None:
        condition &= model.usedTokens < budget.maxTokensPerDay
    if budget.maxCostUsdPerDay is not None:
        condition &= model.usedCost < budget.maxCostUsdPerDay
    return [model.usedTokens.add(charge.tokens), model.usedCost.add(charge.cost)], condition


def _over(limits: AgentEndpoint, item: dict[str, Any]) -> bool:
    budget = limits.budget
    assert budget is not None
    over_tokens = budget.maxTokensPerDay is not None and item.get("usedTokens", 0) >= budget.maxTokensPerDay
    over_cost = budget.maxCostUsdPerDay is not None and item.get("usedCost", 0.0) >= budget.maxCostUsdPerDay
    return over_tokens or over_cost
