"""Streaks of skips (contract section 13): consecutive occurrences of a job skipped for the same
reason (``overlap``, ``budget``, ``missed``) make **one** run record.

The job item keeps the open streak: ``streakRun`` (its run id), ``streakReason``, ``streakCount``
and ``streakLast`` (the latest skipped instant), and the totals since creation
(``skippedOverlap``, ``skippedBudget``, ``skippedMissed``). A skip learns the open streak from the
job item its lost claim returned (no read), then:

* **same reason**: one UpdateItem of the job (``ADD streakCount 1, skipped<R> 1; SET streakLast``),
  conditional on the streak being that run and reason: the cost of today's skip (one write);
* **otherwise** (no streak, another reason, or the streak was closed): one transaction opens a new
  streak: the new run item (``skippedCount`` 1), the job's pointer (conditional on the streak it
  saw, count included), and the previous streak's run item finalised with the job's count. Once
  per streak. A lost condition returns the job as it is, and the skip tries again with it.

A run that starts closes the streak in its claim's own job update (no extra write):
``streakClosedAt`` becomes that run's scheduled time, if no run closed it before. A skip joins the
streak only if it was scheduled before that time, so the order in which the executor happens to
work a burst does not matter: twenty occurrences missed during an outage are one record even when
an on-time one that follows them is claimed before the last of them is worked; a skip scheduled
after the run opens a new streak. Two closings do not count: a run scheduled before the streak's
first occurrence (one claimed before an outage, a retry), and a claimed occurrence's own claim when
it is then skipped for the streak's reason; the skip that meets either clears it.
Two skips at once both ADD (counts are exact), or both try to open a streak: one transaction wins,
the other learns it and extends it.

A claimed occurrence can still be skipped (``missed`` its catch-up window, or its agent's budget
is spent): :class:`Fold` is that skip's part of the run's final write (engine/progress.py). It
joins the open streak of its reason (its claimed item is deleted and the job's count grows, in the
one transaction that already gives back its slot and reservation), or its item becomes the record
of a new streak.

The open streak's run item holds ``skippedCount`` 1 until the next streak finalises it: its views
take the live count from the job (``view``), which every run view of a streak run reads.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from pynamodb.attributes import NumberAttribute
from pynamodb.exceptions import PynamoDBException, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from . import dynamo, run_attempts, run_index
from .models import JobModel, RunModel, RunStatus
from .occurrences import Occurrence

REASONS = ("overlap", "budget", "missed")
ROUNDS = 4  # a skip that keeps losing to concurrent ones (each round learns the job as it is)


class Streak(NamedTuple):
    """The job's open streak as last seen (``run_id`` None: none)."""

    run_id: str | None = None
    reason: str | None = None
    skips: int = 0  # streakCount
    last: int | None = None
    finalise: bool = True  # False: the previous streak's run item is gone (expired), leave it
    closed_at: int | None = None  # streakClosedAt: a skip scheduled at or after it is past the streak

    @property
    def stale_close(self) -> bool:
        """True if the run that closed it was scheduled before the streak's first occurrence (a run
        that ended after the streak opened, e.g. one in progress through an outage): not between."""
        first = scheduled_of(self.run_id)
        return self.closed_at is not None and first is not None and self.closed_at < first

    def joinable(self, reason: str, scheduled_ms: int, claimed: bool = False) -> bool:
        """True if a skip for ``reason`` of an occurrence at ``scheduled_ms`` joins this streak
        (``claimed``: that occurrence was claimed, its claim closing the streak at its own time)."""
        before_close = self.closed_at is None or scheduled_ms < self.closed_at or self.void_close(scheduled_ms, claimed)
        return self.run_id is not None and self.reason == reason and before_close

    def void_close(self, scheduled_ms: int, claimed: bool) -> bool:
        """True if the streak's closing does not count for a skip at ``scheduled_ms`` (see above)."""
        return self.stale_close or (claimed and self.closed_at == scheduled_ms)

    @classmethod
    def of(cls, raw: dict[str, Any] | None) -> Streak:
        """The streak of a job item as DynamoDB returned it."""
        return cls(dynamo.text(raw, "streakRun"), dynamo.text(raw, "streakReason"),
                   dynamo.number(raw, "streakCount") or 0, dynamo.number(raw, "streakLast"),
                   closed_at=dynamo.number(raw, "streakClosedAt"))

    @classmethod
    def of_job(cls, job: JobModel) -> Streak:
        """The streak of a job model."""
        return cls(job.streakRun, job.streakReason, int(job.streakCount or 0),
                   int(job.streakLast) if job.streakLast is not None else None,
                   closed_at=int(job.streakClosedAt) if job.streakClosedAt is not None else None)


def total(jobs: type[JobModel], reason: str) -> NumberAttribute:
    """The job's total of skips for ``reason``."""
    attribute: NumberAttribute = {"overlap": jobs.skippedOverlap, "budget": jobs.skippedBudget,
                                  "missed": jobs.skippedMissed}[reason]
    return attribute


def skipped_view(job: JobModel, ahead: int = 0) -> dict[str, int]:
    """The API's ``skipped``: totals since creation (``ahead``: budget skips a parked job counted
    whose time has not come, store/parks.py)."""
    return {"overlap": int(job.skippedOverlap or 0), "budget": int(job.skippedBudget or 0) - ahead,
            "missed": int(job.skippedMissed or 0)}


def view(run: RunModel, job: JobModel | None) -> dict[str, Any]:
    """The run's ``skippedCount`` and ``lastSkippedAt`` (epoch ms): the job's live count for its open
    streak, else what the run item holds; null for a run that was not skipped."""
    if run.status != RunStatus.SKIPPED.value:
        return {"skippedCount": None, "lastSkippedAt": None}
    if job is not None and job.streakRun == run.id:
        return {"skippedCount": int(job.streakCount or 1), "lastSkippedAt": job.streakLast}
    return {"skippedCount": int(run.skippedCount or 1), "lastSkippedAt": run.lastSkippedAt or run.scheduledAt}


def _covers(seen: Streak, occ: Occurrence) -> bool:
    """True if the streak ``seen`` already counts ``occ`` (this occurrence opened it)."""
    return seen.run_id == occ.run_id


OPENED, JOINED = "opened", "joined"  # what a skip did to its job's streak


def scheduled_of(run_id: str | None) -> int | None:
    """The scheduled time in a scheduled run's id (``run-<ms>-<job>``), or None."""
    head = (run_id or "")[4:17]
    return int(head) if run_id and run_id.startswith("run-") and head.isdigit() else None


def closing(jobs: type[JobModel], occ: Occurrence) -> Action:
    """The job action of a claim that closes the open streak at its run's time (kept if a run closed
    it already: the first to start is, all but always, the earliest)."""
    action: Action = jobs.streakClosedAt.set(jobs.streakClosedAt | occ.scheduled_ms)
    return action


def joining(jobs: type[JobModel], seen: Streak, reason: str, occ: Occurrence,
            claimed: bool = False) -> tuple[list[Action], Condition]:
    """The job's actions and condition for a skip of ``occ`` joining the streak ``seen``: the job's
    streak is still that one, for ``reason``, and no run closed it before ``occ``'s time. Skips are
    worked in any order: ``streakLast`` moves only forward (set on the condition that it is earlier)."""
    at = occ.scheduled_ms
    actions: list[Action] = [jobs.streakCount.add(1), total(jobs, reason).add(1)]
    condition: Condition = (jobs.streakRun == seen.run_id) & (jobs.streakReason == reason)
    if seen.void_close(at, claimed):  # cleared, so that the next run to start closes the streak
        actions.append(jobs.streakClosedAt.remove())
        condition &= jobs.streakClosedAt == seen.closed_at
    else:
        condition &= jobs.streakClosedAt.does_not_exist() | (jobs.streakClosedAt > at)
    if seen.last is None or at > seen.last:
        actions.append(jobs.streakLast.set(at))
        condition &= jobs.streakLast.does_not_exist() | (jobs.streakLast < at)
    return actions, condition


def opening(jobs: type[JobModel], occ: Occurrence, reason: str) -> list[Action]:
    """The job actions that open a streak at ``occ``."""
    return [jobs.streakRun.set(occ.run_id), jobs.streakReason.set(reason), jobs.streakCount.set(1),
            jobs.streakLast.set(occ.scheduled_ms), total(jobs, reason).add(1), jobs.streakClosedAt.remove()]


def finalising(model: type[RunModel], occ: Occurrence, seen: Streak) -> tuple[RunModel, list[Action]] | None:
    """The previous streak's run item and the actions that write its final count, when a streak
    opens at ``occ`` (None: there is none, or it expired)."""
    if seen.run_id is None or seen.run_id == occ.run_id or not seen.finalise:
        return None
    return model(occ.job_id, seen.run_id), [model.skippedCount.set(seen.skips),
                                             model.lastSkippedAt.set(seen.last or occ.scheduled_ms)]


class Fold:
    """A claimed skip's part of its run's final write (engine/progress.py): join the job's streak
    (the claimed item is deleted) or open one (the item is its record). Relearnt on each try."""

    def __init__(self, occ: Occurrence, reason: str, seen: Streak) -> None:
        self.occ, self.reason, self.seen = occ, reason, seen

    def joins(self) -> bool:
        """True if this skip joins the streak as last seen (its claimed item then goes)."""
        return self.seen.run_id != self.occ.run_id and self.seen.joinable(self.reason, self.occ.scheduled_ms, True)

    def job_write(self, jobs: type[JobModel]) -> tuple[list[Action], Condition]:
        """The job's actions, and the condition that the streak is as seen."""
        seen, reason = self.seen, self.reason
        if self.joins():
            return joining(jobs, seen, reason, self.occ, claimed=True)
        same = jobs.streakRun.does_not_exist() if seen.run_id is None else \
            (jobs.streakRun == seen.run_id) & (jobs.streakCount == seen.skips)
        return opening(jobs, self.occ, reason), same

    def run_actions(self, model: type[RunModel]) -> list[Action]:
        """The opening record's own fields (nothing when it joins: the item is deleted)."""
        return [] if self.joins() else [model.skippedCount.set(1), model.lastSkippedAt.set(self.occ.scheduled_ms),
                                        model.skipReason.set(self.reason)]

    def finalising(self, model: type[RunModel]) -> tuple[RunModel, list[Action]] | None:
        """The previous streak's final count, written when this skip opens a streak."""
        return None if self.joins() else finalising(model, self.occ, self.seen)

    def learn(self, item: dict[str, Any] | None) -> None:
        """The job condition failed: the streak is as the job item shows it."""
        if item:
            self.seen = Streak.of(item)

    def expired(self) -> None:
        """The previous streak's run item is gone: open without finalising it."""
        self.seen = self.seen._replace(finalise=False)


class Streaks:
    """Records skips as streaks."""

    def __init__(self, model: type[RunModel], jobs: type[JobModel], ttl_days: int) -> None:
        self.model, self.jobs, self.ttl_days = model, jobs, ttl_days

    def skip(self, occ: Occurrence, reason: str, error: str, now_ms: int, seen: Streak) -> tuple[str, str] | None:
        """Record ``occ`` skipped for ``reason``: (``OPENED`` when it began a streak (a block begins:
        ``job.blocked``) or ``JOINED`` when it joined one (or was recorded already), the streak's run
        id); None if it could not (the caller records it alone)."""
        for _ in range(ROUNDS):
            if seen.joinable(reason, occ.scheduled_ms):
                if _covers(seen, occ) or self._extend(occ, reason, seen):
                    return JOINED, seen.run_id or occ.run_id
                seen = self._read(occ.job_id)
                continue
            opened, learnt = self._open(occ, reason, error, now_ms, seen)
            if learnt is None:
                return (OPENED if opened else JOINED), occ.run_id
            seen = learnt
        return None

    def _extend(self, occ: Occurrence, reason: str, seen: Streak) -> bool:
        actions, condition = joining(self.jobs, seen, reason, occ)
        # Concurrent skips (a catch-up burst) each ADD: the count is exact. A copy of the message that
        # opened the streak is recognised (_covers); a copy of a later one whose first answer was lost
        # counts again (docs/history.md: the one known excess; no per-occurrence record is kept).
        try:
            self.jobs(occ.job_id).update(actions=actions, condition=condition)
            return True
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise dynamo.unavailable("jobs", "record a skip") from exc

    def _read(self, job_id: str) -> Streak:
        try:
            return Streak.of_job(self.jobs.get(job_id, consistent_read=True))
        except self.jobs.DoesNotExist:
            return Streak()
        except PynamoDBException as exc:
            raise dynamo.unavailable("jobs", "read a job") from exc

    def _new_run(self, occ: Occurrence, reason: str, error: str, now_ms: int) -> RunModel:
        run = self.model(occ.job_id, occ.run_id, trigger=occ.trigger.value, scheduledAt=occ.scheduled_ms,
                         status=RunStatus.SKIPPED.value, attempt=occ.attempt - 1, generation=occ.generation,
                         finishedAt=now_ms, error=error, expiresAt=now_ms // 1000 + self.ttl_days * 86_400,
                         skippedCount=1, lastSkippedAt=occ.scheduled_ms, skipReason=reason)
        return run_index.stamp(run)

    def _open(self, occ: Occurrence, reason: str, error: str, now_ms: int,
              seen: Streak) -> tuple[bool, Streak | None]:
        """Open a streak at ``occ``: (whether this write opened it, None when done, else the job's
        streak as it is: try again)."""
        jobs, model = self.jobs, self.model
        run = self._new_run(occ, reason, error, now_ms)
        fresh = model.id.does_not_exist() | (model.status.is_in(RunStatus.QUEUED.value, RunStatus.RETRYING.value)
                                             & (model.attempt == occ.attempt - 1))
        pointer = opening(jobs, occ, reason)
        same = jobs.streakRun.does_not_exist() if seen.run_id is None else \
            (jobs.streakRun == seen.run_id) & (jobs.streakCount == seen.skips)
        try:
            with TransactWrite(connection=dynamo.model_connection(model)) as tx:
                tx.update(model(occ.job_id, occ.run_id), actions=run_attempts.put_actions(run), condition=fresh)
                tx.update(jobs(occ.job_id), actions=pointer, condition=jobs.id.exists() & same,
                          return_values="ALL_OLD")
                finalised = finalising(model, occ, seen)
                if finalised is not None:
                    tx.update(finalised[0], actions=finalised[1], condition=model.id.exists())
            return True, None
        except TransactWriteError as exc:
            return False, self._lost(exc, seen)

    def _lost(self, exc: TransactWriteError, seen: Streak) -> Streak | None:
        found = dynamo.reasons(exc)
        if len(found) < 2 or dynamo.CONDITION_FAILED not in {r.code for r in found}:
            raise dynamo.unavailable("runs", "record a skip") from exc
        if found[0].code == dynamo.CONDITION_FAILED:
            return None  # the run item is there already (a copy of this message recorded it)
        if found[1].code == dynamo.CONDITION_FAILED:
            return Streak.of(found[1].item) if found[1].item else None  # None: the job is gone, nothing to record
        return seen._replace(finalise=False)  # the previous streak's run expired: open without it
