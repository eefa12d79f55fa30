"""Dispatch: find due occurrences and hand them to SQS, each on time and at least once.

The minute tick and the API's immediate enqueue call the same :func:`Dispatcher.dispatch`.
Order of effects, chosen so that dying at any line loses nothing: (1) send the
occurrences, (2) advance ``nextRunAt`` with a conditional write. A crash between
them re-sends the same occurrences next time; their deterministic run ids make the
executor's claim start each only once.
"""
from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, TypeVar

from ..clock import from_ms, to_ms
from ..errors import StoreUnavailable
from ..schedules import IntervalSchedule, OnceSchedule, Schedule, load_schedule
from ..store.jobs import Advance, JobStore, end_entry, ended, is_end_entry
from ..store.models import JobModel, JobStatus, Trigger
from ..store.runs import Occurrence
from ..store.shard_span import UNRECORDED_SHARD_SPAN, ShardSpans
from ..store.sqs import Message, OccurrenceQueue
from . import job_history
from .bounds import after_end

if TYPE_CHECKING:  # the tick's notifier (set by runtime when receivers are configured)
    from .notifications import Notifier

log = logging.getLogger("agentos.jobs.dispatch")
T = TypeVar("T")
R = TypeVar("R")

MAX_PER_JOB = 1_000  # occurrences of one job sent by one dispatch


def scheduled_run_id(job_id: str, scheduled_ms: int) -> str:
    """The deterministic id of a scheduled occurrence: the same for every tick that sees it."""
    return f"run-{scheduled_ms:013d}-{job_id.removeprefix('job-')}"


def manual_run_id(job_id: str, now_ms: int) -> str:
    """A fresh id for a manual run."""
    return f"run-{now_ms:013d}-{job_id.removeprefix('job-')}-m{secrets.token_hex(4)}"


def shard_of(job_id: str, shards: int) -> int:
    """The due-index shard of a job: a stable hash, so writes spread over ``shards`` keys."""
    return int.from_bytes(hashlib.blake2b(job_id.encode(), digest_size=4).digest(), "big") % shards


@lru_cache(maxsize=4096)
def stored_schedule(schedule: str | None, interval: int | None, tz: str) -> Schedule:
    """The schedule of a stored job (already validated when it was written)."""
    return load_schedule(schedule, interval, tz)


def schedule_of(job: JobModel) -> Schedule:
    """The parsed schedule of ``job``."""
    interval = int(job.interval) if job.interval is not None else None
    return stored_schedule(job.schedule, interval, job.timezone or "UTC")


def next_ms(schedule: Schedule, after_ms: int) -> int | None:
    """The occurrence after the one at ``after_ms`` (epoch ms), or None."""
    if isinstance(schedule, IntervalSchedule):
        return after_ms + schedule.interval_ms
    following = schedule.next_after(from_ms(after_ms))
    return None if following is None else to_ms(following)


def first_on_time(schedule: Schedule, missed_ms: int, cutoff_ms: int) -> int | None:
    """The first occurrence at or after ``cutoff_ms``, keeping an interval job's cadence from the
    occurrence at ``missed_ms``."""
    if isinstance(schedule, IntervalSchedule):
        steps = (cutoff_ms - missed_ms) // schedule.interval_ms + 1
        return missed_ms + steps * schedule.interval_ms
    if isinstance(schedule, OnceSchedule):
        return None
    return next_ms(schedule, cutoff_ms - 1)


def plan(job: JobModel, now_ms: int, horizon_ms: int) -> tuple[list[int], int | None]:
    """Occurrences of ``job`` to send now, and the job's new ``nextRunAt``.

    Everything missed during downtime collapses into one occurrence (the first one
    missed: deterministic, so concurrent ticks agree on its run id).
    """
    schedule = schedule_of(job)
    due: list[int] = []
    first = int(job.nextRunAt)
    upcoming: int | None = first
    if first < now_ms:  # already past when the tick finds it: missed (downtime)
        due.append(first)
        upcoming = first_on_time(schedule, first, now_ms)
    while upcoming is not None and upcoming < horizon_ms and len(due) < MAX_PER_JOB:
        due.append(upcoming)
        upcoming = next_ms(schedule, upcoming)
    return due, upcoming


PARALLEL_CALLS = 8  # concurrent SQS sends / DynamoDB advances in one dispatch
# Jobs advanced per DynamoDB call (config ``scheduler.advanceBatch``): one transaction for
# 25 jobs instead of 25 UpdateItems, at twice the write units per job (transactional).
ADVANCE_BATCH = 25


def _in_parallel(work: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``work`` over ``items`` on a small thread pool (I/O bound: a burst must fit one tick)."""
    if len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(PARALLEL_CALLS, len(items))) as pool:
        return list(pool.map(work, items))


@dataclass
class DispatchReport:
    """What one dispatch did (logged by the tick, counted by the benchmarks)."""

    jobs_seen: int = 0
    occurrences: int = 0
    advanced: int = 0
    lost_races: int = 0
    send_failures: int = 0
    disarmed: int = 0
    completed: int = 0  # jobs found at their end entry after endAt, and completed
    errors: list[str] = field(default_factory=list)

    def count(self, outcome: str) -> None:
        """Count one job's advance outcome ("advanced", "lost_races" or an error text)."""
        if outcome in ("advanced", "lost_races"):
            setattr(self, outcome, getattr(self, outcome) + 1)
        else:
            self.errors.append(outcome)

    def add(self, other: DispatchReport) -> None:
        """Fold another report into this one."""
        for name in ("jobs_seen", "occurrences", "advanced", "lost_races", "send_failures", "disarmed", "completed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)


class Dispatcher:
    """Plans, sends and advances due jobs."""

    def __init__(self, store: JobStore, queue: OccurrenceQueue, shards: int, lookahead_ms: int,
                 advance_batch: int = ADVANCE_BATCH) -> None:
        self.store = store
        self.queue = queue
        self.shards = shards
        self.lookahead_ms = lookahead_ms
        self.advance_batch = advance_batch
        self.spans = ShardSpans(store.model)  # the recorded due-shard count
        self.notifier: Notifier | None = None  # set by the tick's composition (runtime.dispatcher)
        self._span_seen = max(shards, UNRECORDED_SHARD_SPAN)  # shards this process knows may hold jobs
        self._span_recorded = shards <= UNRECORDED_SHARD_SPAN  # nothing to record at the default or below

    def record_span(self) -> None:
        """Make sure the store records that jobs may sit in ``self.shards`` shards (before a
        job is armed in one of them: a later, lower count must still query it). One
        conditional write per process, only when the count is above the default."""
        if not self._span_recorded:
            self.spans.record(self.shards)
            self._span_recorded = True

    def _span(self, report: DispatchReport) -> int:
        """The due shards to query: every shard any count in use or recorded may have armed.

        Jobs in shards past ``self.shards`` (the count was lowered) are found here and moved
        into ``self.shards`` by their next advance (:meth:`_move`); once they all have, the
        record comes down (:meth:`_lower_span`)."""
        try:
            self.record_span()
            self._span_seen = max(self.shards, self.spans.span())
        except StoreUnavailable:  # query what this process last read; the next tick reads it again
            report.errors.append("due-shard count: store unavailable")
        return self._span_seen

    def _lower_span(self, span: int, found: list[tuple[list[JobModel], str | None]], now_ms: int) -> None:
        """Bring the recorded count down to ``self.shards`` once the shards above it are empty.

        Only when the count was lowered (otherwise nothing is read): the tick's queries show
        which of those shards had due jobs; any that had none is asked whether it holds any
        job at all (one Query of one item each), since a job due later sits there too."""
        target = max(self.shards, UNRECORDED_SHARD_SPAN)  # below the default nothing is recorded
        above = range(target, span)
        if not above or any(jobs or error for jobs, error in found[target:span]):
            return
        try:
            if all(self.spans.is_empty(shard) for shard in above) \
                    and self.spans.lower(span, target, now_ms):
                log.info("tick: the recorded due-shard count went down from %s to %s", span, target)
                self._span_seen = target
        except StoreUnavailable:  # the next tick looks again
            log.warning("tick: could not lower the due-shard count from %s", span)

    def needs_immediate(self, job: JobModel, now_ms: int) -> bool:
        """True if the next tick might see ``job``'s next occurrence too late."""
        return job.dueShard is not None and job.nextRunAt is not None \
            and int(job.nextRunAt) < now_ms + self.lookahead_ms

    def dispatch(self, jobs: Iterable[JobModel], now_ms: int) -> DispatchReport:
        """Send every occurrence of ``jobs`` due before the horizon, then advance them."""
        report = DispatchReport()
        planned: list[tuple[JobModel, list[Message], int | None]] = []
        ending: list[JobModel] = []
        for job in jobs:
            report.jobs_seen += 1
            if job.status != JobStatus.ACTIVE.value:
                self.store.disarm(job)  # e.g. paused in the console without removing dueShard
                report.disarmed += 1
                continue
            if is_end_entry(job.nextRunAt):  # no occurrence left before endAt: nothing to send
                if ended(job.nextRunAt, now_ms):
                    ending.append(job)
                continue
            try:
                times, upcoming = plan(job, now_ms, now_ms + self.lookahead_ms)
            except Exception as exc:  # one unreadable item (a console edit) must not stop the others
                log.exception("dispatch: cannot plan %s", job.id)
                report.errors.append(f"plan {job.id}: {type(exc).__name__}")
                continue
            planned.append((job, [self._message(job, t) for t in times], upcoming))
        failed = self._send([m for _, msgs, _ in planned for m in msgs], now_ms, report)
        # Not advanced when a message was refused: the next tick sends them again.
        ready = [self._move(job, upcoming) for job, msgs, upcoming in planned
                 if not any(m.occurrence.run_id in failed for m in msgs)]
        batches = [ready[i:i + self.advance_batch] for i in range(0, len(ready), self.advance_batch)]
        for outcomes in _in_parallel(self._advance, batches):
            for outcome in outcomes:
                report.count(outcome)
        report.completed += sum(_in_parallel(lambda job: self._complete_at_end(job, now_ms), ending))
        return report

    def _complete_at_end(self, job: JobModel, now_ms: int) -> bool:
        done = self.store.complete_at_end(job, now_ms, job_history.end_at_passed())
        if done and self.notifier is not None:
            self.notifier.emit("job.completed", job, None, "endAt passed")
        return done

    def _message(self, job: JobModel, scheduled_ms: int) -> Message:
        occ = Occurrence(job_id=job.id, run_id=scheduled_run_id(job.id, scheduled_ms), scheduled_ms=scheduled_ms,
                         trigger=Trigger.SCHEDULE, generation=int(job.generation), attempt=1)
        return Message(occ, scheduled_ms)

    def _send(self, messages: Sequence[Message], now_ms: int, report: DispatchReport) -> set[str]:
        failed = self.queue.send(messages, now_ms)
        report.occurrences += len(messages) - len(failed)
        report.send_failures += len(failed)
        return {m.occurrence.run_id for m in failed}

    def _move(self, job: JobModel, upcoming: int | None) -> Advance:
        if upcoming is not None and job.endAt is not None and after_end(job, upcoming):
            # A job read whole (an API write's enqueue) shows its endAt; one read from the due
            # index does not, and the store's advance finds the end itself.
            return Advance(job, end_entry(int(job.endAt)), shard_of(job.id, self.shards))
        return Advance(job, upcoming, shard_of(job.id, self.shards) if upcoming is not None else None)

    def _advance(self, moves: list[Advance]) -> list[str]:
        try:
            won = self.store.advance(moves)
        except StoreUnavailable:  # sent but not advanced: the next tick re-sends, run ids dedupe
            return [f"advance {move.job.id}: store unavailable" for move in moves]
        # A lost race: another tick, or an API change, got there first.
        return ["advanced" if ok else "lost_races" for ok in won]

    def tick(self, now_ms: int) -> DispatchReport:
        """One minute tick: query every due shard in parallel, then dispatch what they found
        together (so SendMessageBatch fills up across shards)."""
        spanned = DispatchReport()
        span = self._span(spanned)
        with ThreadPoolExecutor(max_workers=min(span, 8)) as pool:
            found = list(pool.map(lambda s: self._due_in_shard(s, now_ms), range(span)))
        try:
            report = self.dispatch([job for jobs, _ in found for job in jobs], now_ms)
        except Exception as exc:  # whatever was sent but not advanced is re-sent next minute
            log.exception("tick: dispatch failed")
            report = DispatchReport(errors=[f"dispatch: {type(exc).__name__}"])
        report.errors.extend(spanned.errors + [error for _, error in found if error])
        if not report.errors:
            self._lower_span(span, found, now_ms)
        return report

    def _due_in_shard(self, shard: int, now_ms: int) -> tuple[list[JobModel], str | None]:
        try:
            return list(self.store.due(shard, now_ms + self.lookahead_ms)), None
        except Exception as exc:  # one shard's failure must not stop the others
            log.exception("tick: shard %s failed", shard)
            return [], f"shard {shard}: {type(exc).__name__}"
