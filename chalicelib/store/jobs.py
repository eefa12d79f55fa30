"""The jobs table: jobs, their unique names, and the sparse due index.

:class:`JobStore` is given its model classes; every DynamoDB error is translated
here into a :mod:`chalicelib.errors` exception, so callers never see botocore.
"""
from __future__ import annotations

import builtins
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple, cast

from pynamodb.exceptions import (
    DoesNotExist,
    GetError,
    QueryError,
    TransactWriteError,
    UpdateError,
)
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from .. import clock
from ..errors import ConcurrentUpdate, DuplicateName, JobNotFound, StoreUnavailable
from . import dynamo
from .events import Event, EventLog
from .listing import AgentScope, JobLister, ListPage, list_key
from .models import AgentModel, JobModel, JobStatus, NameClaim, name_claim_id
from .quotas import Tally, add_tallies, refusal

ADVANCE_TRIES = 3  # a batch whose jobs keep colliding with other writes is left to the next tick
# A create, rename or delete cancelled by TransactionConflict (another transaction held one of
# its items) wrote nothing, so it is written again after a short jittered pause; botocore does
# not retry it. After this many tries the caller gets a 409 to retry, not a 503.
TRANSACTION_TRIES = 4
CONFLICT_BACKOFF_MS = 20  # the first pause is up to this, doubling each try
# The highest due-shard count any tick or API process armed jobs with is recorded in one item of
# the due index (partition -1, its count as the sort key), so that a tick configured with fewer
# shards still queries every shard a job may sit in. Nothing recorded: the config's default.
END_ENTRY_OFFSET_MS = 0.5  # an end entry's nextRunAt past endAt: a fraction no occurrence has

class Advance(NamedTuple):
    """One job's move past the occurrences a tick has sent: to ``next_ms`` in due shard
    ``shard``, or out of the due index (both None) when nothing is left to run; a ``next_ms``
    with a fraction is the job's end entry (:func:`end_entry`)."""

    job: JobModel
    next_ms: float | None
    shard: int | None


def _busy() -> ConcurrentUpdate:
    return ConcurrentUpdate("the job is being changed by another request; retry it")


class JobStore:
    """Reads and writes job items and their name claims."""

    def __init__(self, model: type[JobModel] = JobModel, claim: type[NameClaim] = NameClaim,
                 agents: type[AgentModel] = AgentModel, events: EventLog | None = None) -> None:
        self.model = model
        self.claim = claim
        self.agents = agents
        self.events = events or EventLog()  # each write's event goes in the write's own transaction

    def _transact(self, write: Callable[[TransactWrite], None], tallies: Sequence[Tally] = ()) -> None:
        """Run ``write`` in one transaction, again after a TransactionConflict (up to
        TRANSACTION_TRIES); a quota's refusal (``tallies``: the counters it carries) is raised as
        QuotaExceeded, any other last TransactWriteError for the caller to classify."""
        for attempt in range(TRANSACTION_TRIES):
            try:
                with TransactWrite(connection=dynamo.model_connection(self.model)) as tx:
                    write(tx)
                return
            except TransactWriteError as exc:
                refused = refusal(tallies, dynamo.reasons(exc)) if tallies else None
                if refused is not None:
                    raise refused from exc
                if not dynamo.is_conflict(exc) or attempt == TRANSACTION_TRIES - 1:
                    raise
            # Jittered so that two requests that collided do not collide again in step.
            clock.sleep_until(clock.now_ms() + random.randint(1, CONFLICT_BACKOFF_MS << attempt))

    def create(self, job: JobModel, tallies: Sequence[Tally] = (), event: Event | None = None) -> None:
        """Store a new job and claim its name in one transaction (409 if the name is taken);
        ``tallies``: its agent's quota counters, in the same transaction (403 past a quota);
        ``event``: its history's first entry, in it too."""
        job.listKey = list_key(job.agentId, job.id)

        def write(tx: TransactWrite) -> None:
            tx.save(self.claim(name_claim_id(job.name), jobId=job.id), condition=self.claim.id.does_not_exist())
            tx.save(job, condition=self.model.id.does_not_exist())
            self.events.add(tx, job.id, job.agentId, event, int(job.createdAt))
            add_tallies(tx, self.agents, tallies)  # last: refusal() reads their reasons from the end
        try:
            self._transact(write, tallies)
        except TransactWriteError as exc:
            if dynamo.codes(exc)[:1] == ["ConditionalCheckFailed"]:
                raise DuplicateName(job.name) from exc
            raise (_busy() if dynamo.is_conflict(exc) else dynamo.unavailable("jobs", "create a job")) from exc

    def get(self, job_id: str, consistent: bool = True) -> JobModel:
        """The job ``job_id`` (404 if absent; name-claim keys are never jobs)."""
        if not job_id.startswith("job-"):
            raise JobNotFound(job_id)
        try:
            return self.model.get(job_id, consistent_read=consistent)
        except DoesNotExist as exc:
            raise JobNotFound(job_id) from exc
        except GetError as exc:
            raise dynamo.unavailable("jobs", "read a job") from exc

    def find(self, job_id: str) -> JobModel | None:
        """The job ``job_id``, or None if it does not exist."""
        try:
            return self.get(job_id)
        except JobNotFound:
            return None

    def find_by_name(self, name: str) -> JobModel | None:
        """The job named ``name`` (its name claim read with one GetItem, then the job), or None."""
        try:
            claim = self.claim.get(name_claim_id(name), consistent_read=True)
        except DoesNotExist:
            return None
        except GetError as exc:
            raise dynamo.unavailable("jobs", "read a name claim") from exc
        # A delete removes the claim and its job in one transaction: a claim without its job
        # is one being deleted right now, as good as absent.
        return self.find(claim.jobId)

    def update(self, job: JobModel, actions: list[Action], stamp: int, old_name: str | None = None,
               tallies: Sequence[Tally] = (), event: Event | None = None) -> None:
        """Apply ``actions`` if nobody changed the job since it was read (optimistic lock).

        A rename moves the name claim in the same transaction, so two renames to
        one name cannot both succeed; ``tallies`` (quota counters) and ``event`` (the change's
        entry in the job's history) go in it too. Nothing of these: one UpdateItem.
        """
        guard = self.model.updatedAt == stamp
        try:
            if not tallies and event is None and (old_name is None or old_name == job.name):
                job.update(actions=actions, condition=guard)
                return
            self._rename(job, actions, guard, old_name or job.name, tallies, event)
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise self._conflict(job.id) from exc
            raise dynamo.unavailable("jobs", "update a job") from exc

    def _rename(self, job: JobModel, actions: list[Action], guard: Condition, old_name: str,
                tallies: Sequence[Tally], event: Event | None = None) -> None:
        renamed = old_name != job.name

        def write(tx: TransactWrite) -> None:
            if renamed:
                tx.save(self.claim(name_claim_id(job.name), jobId=job.id), condition=self.claim.id.does_not_exist())
                tx.delete(self.claim(name_claim_id(old_name)), condition=self.claim.jobId == job.id)
            tx.update(job, actions=actions, condition=guard)
            self.events.add(tx, job.id, job.agentId, event, int(job.updatedAt))
            add_tallies(tx, self.agents, tallies)
        try:
            self._transact(write, tallies)
        except TransactWriteError as exc:
            reasons = dynamo.codes(exc)  # PynamoDB sends deletes, then puts, then updates
            if renamed and reasons[1:2] == ["ConditionalCheckFailed"]:
                raise DuplicateName(job.name) from exc
            if "ConditionalCheckFailed" in reasons:
                raise self._conflict(job.id) from exc
            raise (_busy() if dynamo.is_conflict(exc) else dynamo.unavailable("jobs", "rename a job")) from exc
        if renamed:
            job.refresh(consistent_read=True)

    def _conflict(self, job_id: str) -> Exception:
        if self.find(job_id) is None:
            return JobNotFound(job_id)
        return ConcurrentUpdate("the job changed while this request ran; retry it")

    def delete(self, job: JobModel, tallies: Sequence[Tally] = (), event: Event | None = None) -> None:
        """Remove the job and free its name in one transaction (409 if it was renamed meanwhile);
        ``tallies``: its agent's quota counters given back; ``event``: the delete in its history."""
        def write(tx: TransactWrite) -> None:
            tx.delete(job, condition=self.model.id.exists())
            tx.delete(self.claim(name_claim_id(job.name)), condition=self.claim.jobId == job.id)
            self.events.add(tx, job.id, job.agentId, event, clock.now_ms())
            add_tallies(tx, self.agents, tallies)
        try:
            self._transact(write, tallies)
        except TransactWriteError as exc:
            if "ConditionalCheckFailed" in dynamo.codes(exc):
                # The job is gone (404), or a rename moved its name claim after it was read:
                # it still exists, so the caller is told to retry, never that it is absent.
                raise self._conflict(job.id) from exc
            raise (_busy() if dynamo.is_conflict(exc) else dynamo.unavailable("jobs", "delete a job")) from exc

    def list(self, status: str | None, agent_id: str | None, limit: int, cursor: str | None,
             scope: AgentScope = None) -> ListPage:
        """One page of jobs matching the filters (within ``scope``'s agents), read through the list
        index (O(page))."""
        return JobLister(self.model).page(status, agent_id, limit, cursor, scope)

    def due(self, shard: int, before_ms: int) -> Iterator[JobModel]:
        """Jobs of ``shard`` whose next undispatched occurrence is before ``before_ms``.

        Reads the due index only: its projection carries what planning needs.
        """
        try:
            yield from self.model.due.query(shard, self.model.nextRunAt < before_ms)
        except QueryError as exc:
            raise dynamo.unavailable("jobs", "query due jobs") from exc

    def advance(self, moves: Sequence[Advance]) -> builtins.list[bool]:
        """Move each job's ``nextRunAt`` past its dispatched occurrences, all in one write;
        per move, False if that job changed meanwhile (it is left as the change made it).

        The conditions make concurrent ticks safe: only the one that read the same
        ``nextRunAt`` and ``generation`` wins, and a paused job is never re-armed. Up to
        100 moves go in one TransactWriteItems; a move whose condition fails is dropped
        and the others are written again. One move is a plain UpdateItem (half the cost).
        A move past the job's ``endAt`` fails its condition too, and goes to the job's end
        entry instead (:func:`end_entry`): the tick completes it there.
        """
        if len(moves) <= 1:
            return [self._advance_one(move) for move in moves]
        moves, won, pending = builtins.list(moves), [True] * len(moves), builtins.list(range(len(moves)))
        for _ in range(ADVANCE_TRIES):
            try:
                with TransactWrite(connection=dynamo.model_connection(self.model)) as tx:
                    for i in pending:
                        tx.update(moves[i].job, actions=self._advance_actions(moves[i]),
                                  condition=self._advanced_from(moves[i]), return_values="ALL_OLD")
                return won
            except TransactWriteError as exc:
                found = dynamo.reasons(exc)
                codes = [reason.code for reason in found]
                if len(codes) != len(pending) or not set(codes) & {"ConditionalCheckFailed", "TransactionConflict"}:
                    raise dynamo.unavailable("jobs", "advance jobs") from exc
                for i, reason in zip(pending, found, strict=True):
                    ending = _to_end(moves[i], reason.item) if reason.code == "ConditionalCheckFailed" else None
                    moves[i] = ending or moves[i]
                    won[i] = won[i] and (reason.code != "ConditionalCheckFailed" or ending is not None)
                pending = [i for i in pending if won[i]]
                if not pending:
                    return won
        raise StoreUnavailable("jobs table busy while advancing jobs; the next tick re-sends them")

    def _advance_actions(self, move: Advance) -> builtins.list[Action]:
        if move.next_ms is None:
            return [self.model.nextRunAt.remove(), self.model.dueShard.remove()]
        assert move.shard is not None, "a move to a next occurrence names its shard"
        return [self.model.nextRunAt.set(move.next_ms), self.model.dueShard.set(move.shard)]

    def _advanced_from(self, move: Advance) -> Condition:
        job = move.job
        condition = (self.model.nextRunAt == job.nextRunAt) & (self.model.generation == job.generation) \
            & (self.model.status == JobStatus.ACTIVE.value)
        if move.next_ms is not None and not is_end_entry(move.next_ms):
            # Never armed past endAt (the due index does not show it to the tick): this fails
            # instead, and the item the failure returns says where the job ends (_to_end).
            condition &= self.model.endAt.does_not_exist() | (self.model.endAt >= move.next_ms)
        return cast(Condition, condition)

    def _advance_one(self, move: Advance) -> bool:
        try:
            move.job.update(actions=self._advance_actions(move), condition=self._advanced_from(move))
            return True
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise dynamo.unavailable("jobs", "advance a job") from exc
        # A plain UpdateItem returns nothing on a failed condition: one read tells a lost race
        # from a move past endAt (a transaction's failure carries the item: advance()).
        ending = None if is_end_entry(move.next_ms) else _to_end(move, self._raw(move.job.id, _ADVANCE_READ))
        return ending is not None and self._advance_one(ending)

    def _raw(self, job_id: str, attributes: builtins.list[str]) -> dict[str, Any] | None:
        """``attributes`` of the job item ``job_id`` as DynamoDB JSON (consistent), or None."""
        try:
            answer = dynamo.model_connection(self.model).get_item(
                self.model.Meta.table_name, job_id, consistent_read=True, attributes_to_get=attributes)
        except GetError as exc:
            raise dynamo.unavailable("jobs", "read a job") from exc
        return cast("dict[str, Any] | None", answer.get("Item"))

    def disarm(self, job: JobModel) -> None:
        """Drop a non-active job from the due index (an operator edited it in the console)."""
        # id.exists(): on a missing item "status <> active" is true, so without it an
        # UpdateItem racing a DELETE would recreate the deleted job as a bare {id} item.
        try:
            job.update(actions=[self.model.dueShard.remove()],
                       condition=self.model.id.exists() & (self.model.status != JobStatus.ACTIVE.value))
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise dynamo.unavailable("jobs", "disarm a job") from exc

    def complete(self, job_id: str, generation: int, event: Event | None = None) -> bool:
        """Mark an active job ``completed`` (its bounds are used up) and drop it from the due index.
        False if it changed meanwhile (paused, rescheduled, deleted): that change stands.
        ``event``: the completion in the job's history, in the same write."""
        guard = (self.model.status == JobStatus.ACTIVE.value) & (self.model.generation == generation)
        return self._complete(job_id, guard, [], event)

    def complete_at_end(self, job: JobModel, now_ms: int, event: Event | None = None) -> bool:
        """Complete ``job``, read at its end entry after its endAt passed; False if it changed
        since (moved, paused, deleted) or a run of it is still in progress (a run, or a retry
        waiting, holds its overlap slot): that run finishes first, a later tick completes it."""
        guard = (self.model.status == JobStatus.ACTIVE.value) & (self.model.generation == job.generation) \
            & (self.model.nextRunAt == job.nextRunAt) \
            & (self.model.activeRun.does_not_exist() | (self.model.activeUntil < now_ms))
        return self._complete(job.id, guard, [self.model.nextRunAt.remove()], event)

    def _complete(self, job_id: str, guard: Condition, more: builtins.list[Action], event: Event | None) -> bool:
        # status == active in every guard: on a deleted job it is false, so nothing is recreated.
        actions = [self.model.status.set(JobStatus.COMPLETED.value), self.model.dueShard.remove(), *more]
        if event is not None:
            return self._complete_noted(job_id, guard, actions, event)
        try:
            self.model(job_id).update(actions=actions, condition=guard)
            return True
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise dynamo.unavailable("jobs", "complete a job") from exc

    def _complete_noted(self, job_id: str, guard: Condition, actions: builtins.list[Action], event: Event) -> bool:
        """The completion and its event in one transaction: both, or (a condition failed) neither."""
        def write() -> None:
            with TransactWrite(connection=dynamo.model_connection(self.model)) as tx:
                tx.update(self.model(job_id), actions=actions, condition=guard)
                self.events.add(tx, job_id, None, event, clock.now_ms())
        return dynamo.committed(write, lambda: dynamo.unavailable("jobs", "complete a job"))


# What a failed advance needs to know of the job (advance's transaction gets it all, ALL_OLD).
_ADVANCE_READ = ["nextRunAt", "generation", "status", "endAt"]


def _to_end(move: Advance, item: dict[str, Any] | None) -> Advance | None:
    """The move of ``move``'s job to its end entry, if ``move`` failed only because its next
    occurrence falls after the job's endAt (``item``: the job as the failed write found it)."""
    end, job = dynamo.number(item, "endAt"), move.job
    if end is None or move.next_ms is None or move.next_ms <= end or is_end_entry(move.next_ms):
        return None
    armed = (item or {}).get("nextRunAt", {}).get("N")
    unchanged = armed is not None and float(armed) == float(job.nextRunAt) \
        and dynamo.number(item, "generation") == int(job.generation) \
        and dynamo.text(item, "status") == JobStatus.ACTIVE.value
    return Advance(job, end_entry(end), move.shard) if unchanged else None


def end_entry(end_ms: int) -> float:
    """The ``nextRunAt`` of a job whose next occurrence falls after ``end_ms`` (its endAt)."""
    return end_ms + END_ENTRY_OFFSET_MS


def is_end_entry(next_run_at: float | None) -> bool:
    """True if ``next_run_at`` is an end entry (see :mod:`chalicelib.engine.bounds`), not an occurrence."""
    return next_run_at is not None and next_run_at != int(next_run_at)


def ended(next_run_at: float, now_ms: int) -> bool:
    """True once the endAt of an end entry at ``next_run_at`` has passed at ``now_ms``."""
    return now_ms > next_run_at - END_ENTRY_OFFSET_MS
