"""A batch of attempts, worked per batch: one claim transaction and one read of the jobs.

A top-of-the-hour burst brings the executor batches of ten attempts due at the same instant.
Worked one message at a time, each costs a claim (TransactWriteItems), a read of its job at
the instant (GetItem) and its outcome: ~3 DynamoDB calls per occurrence, two of them in the
serial rush around the instant. Worked per batch:

* the batch's attempts are claimed in **one** transaction made of :meth:`RunStore.claim_parts`
  (two items per claim: the run Put and the job's Update). It either admits them all, or its
  cancellation reasons say which claims lost (a duplicate, a lost race, an overlap, a limit):
  those continue one by one from what they lost to (:meth:`RunStore.lost_claim`, no new read),
  exactly as a single claim that lost, and the transaction is made again with the rest;
* at the instant, the claimed attempts' jobs are read with **one** BatchGetItem (strongly
  consistent, so a pause or delete that returned during the hold still stops them);
* from there, each attempt continues on the per-message code path (bounds, delivery, outcome).

DynamoDB forbids two operations on one item in a transaction, so an attempt whose job already
has one in the batch, deadline checks and messages too early to hold go the per-message way.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any

from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.transactions import TransactWrite

from .. import clock
from ..clock import now_ms
from ..errors import StoreUnavailable
from ..store import dynamo
from ..store.dynamo import model_connection
from ..store.models import JobModel
from ..store.runs import Claim, Occurrence, Prior, RunStore, Slot
from ..store.sqs import Kind, Message, decode
from .progress import HOLD_MAX_MS

if TYPE_CHECKING:
    from .executor import Executor, Outcome

log = logging.getLogger("agentos.jobs.executor")

MAX_CLAIMS = 50  # TransactWriteItems takes at most 100 items; a claim is two
Lost = tuple[Claim, Prior | None, Slot | None]
Claimed = tuple[Message, int]  # the message and its run's startedAt


def claim_all(runs: RunStore, messages: Sequence[Message],
              lease_ms: int) -> tuple[list[Claimed], list[tuple[Message, Lost]]]:
    """Claim every message's attempt in one transaction (at most MAX_CLAIMS, one per job).

    Returns the claimed messages (with their ``startedAt``) and the ones that lost, each with
    what it lost to. A cancelled transaction is made again without the losers; one cancelled
    for another reason (throttled, unavailable) raises :class:`StoreUnavailable`.
    """
    pending, lost = list(messages), list[tuple[Message, Lost]]()
    assert len(pending) <= MAX_CLAIMS and len({m.occurrence.job_id for m in pending}) == len(pending)
    while pending:
        at = now_ms()
        try:
            dynamo.retry_conflicts(partial(_claim_once, runs, pending, at, lease_ms))
            return [(m, max(at, m.not_before_ms)) for m in pending], lost
        except TransactWriteError as exc:
            still = _sort_losers(runs, pending, dynamo.reasons(exc), lost, at)
            if still is None:
                raise StoreUnavailable("runs table unavailable while trying to claim a batch; retry later") from exc
            pending = still
    return [], lost


def _claim_once(runs: RunStore, messages: Sequence[Message], at: int, lease_ms: int) -> None:
    # Every run's write, then every job's: the reasons are [runs..., jobs...].
    parts = [(m.occurrence, runs.claim_parts(m.occurrence, at, lease_ms, max(at, m.not_before_ms))) for m in messages]
    with TransactWrite(connection=model_connection(runs.model)) as tx:
        for occ, (run, _, _) in parts:
            # a charging claim never takes a crashed attempt over: that one loses, and takes
            # it over uncharged on the per-message path (RunStore.claim's charge)
            runs.claim_write(tx, run, occ, at, takeover=False)
        for occ, (_, actions, condition) in parts:
            tx.update(runs.jobs(occ.job_id), actions=actions, condition=condition, return_values="ALL_OLD")


def _sort_losers(runs: RunStore, pending: list[Message], found: list[dynamo.Reason],
                 lost: list[tuple[Message, Lost]], at: int) -> list[Message] | None:
    """Move the claims whose condition failed to ``lost``; the rest, or None if none failed."""
    count = len(pending)
    if len(found) != 2 * count or dynamo.CONDITION_FAILED not in {r.code for r in found}:
        return None
    still: list[Message] = []
    for i, message in enumerate(pending):
        result = runs.lost_claim(message.occurrence, found[i], found[count + i], at)
        if result is None:
            still.append(message)
        else:
            lost.append((message, result))
    return still


def read_jobs(model: type[JobModel], job_ids: Sequence[str]) -> dict[str, JobModel | None]:
    """The jobs ``job_ids`` in one strongly consistent BatchGetItem (None: deleted)."""
    wanted = {job_id for job_id in job_ids if job_id.startswith("job-")}  # name claims are never jobs
    found = {job.id: job for job in model.batch_get(wanted, consistent_read=True)} if wanted else {}
    return {job_id: found.get(job_id) for job_id in job_ids}


def batchable(messages: Sequence[Message | None], now: int) -> list[int]:
    """The indexes of the messages to work per batch: attempts within the hold, first per job."""
    seen: set[str] = set()
    chosen: list[int] = []
    for i, message in enumerate(messages):
        if message is None or message.kind is not Kind.ATTEMPT or message.not_before_ms - now > HOLD_MAX_MS:
            continue
        if message.occurrence.job_id in seen or len(chosen) == MAX_CLAIMS:
            continue  # one operation per item in a transaction: this one claims on its own
        seen.add(message.occurrence.job_id)
        chosen.append(i)
    return chosen


class BatchRun:
    """One SQS batch through the executor, per batch where it can be."""

    def __init__(self, executor: Executor, records: list[dict[str, Any]]) -> None:
        self.executor = executor
        self.records = records
        self.messages = [_decoded(r) for r in records]
        self.results: dict[int, Future[bool]] = {}

    def handle(self) -> dict[str, Any]:
        """Claim, hold, read and deliver the batch; the records to retry (partial batch response)."""
        chosen = batchable(self.messages, now_ms())
        later = self._later_of_a_job(chosen)
        with ThreadPoolExecutor(max_workers=len(self.records)) as pool:
            for i, record in enumerate(self.records):
                if i not in chosen and i not in later:
                    self.results[i] = pool.submit(self.executor.record_ok, record)
            if chosen:
                self._claimed_then_held(pool, chosen)
            for i, first in later.items():
                self.results[i] = pool.submit(self._after, self.results[first], self.records[i])
        return {"batchItemFailures": [{"itemIdentifier": r.get("messageId")} for i, r in enumerate(self.records)
                                      if not self.results[i].result()]}

    def _later_of_a_job(self, chosen: list[int]) -> dict[int, int]:
        """The attempts left out because their job is in the transaction, each with the one that
        is: they run after it, in order, as the per-message path mostly happened to run them."""
        first = {self._message(i).occurrence.job_id: i for i in chosen}
        return {i: first[m.occurrence.job_id] for i, m in enumerate(self.messages)
                if i not in chosen and m is not None and m.kind is Kind.ATTEMPT and m.occurrence.job_id in first}

    def _after(self, first: Future[bool], record: dict[str, Any]) -> bool:
        first.result()
        return self.executor.record_ok(record)

    def _claimed_then_held(self, pool: ThreadPoolExecutor, chosen: list[int]) -> None:
        index = {id(self.messages[i]): i for i in chosen}
        try:
            claimed, lost = claim_all(self.executor.runs, [self._message(i) for i in chosen], self.executor.lease_ms)
        except Exception as exc:  # as a single claim that failed: every record stays queued
            log.warning("batch claim of %s not done: %s: %s", len(chosen), type(exc).__name__, exc)
            for i in chosen:
                self.results[i] = _done(False)
            return
        for message, result in lost:
            self.results[index[id(message)]] = pool.submit(
                self._safely, message, partial(self.executor.claim_and_run, message, result))
        for instant in sorted({m.not_before_ms for m, _ in claimed}):
            due = [(m, started) for m, started in claimed if m.not_before_ms == instant]
            # Each attempt's thread is started now and waits for the read: started at the instant,
            # behind a burst's hundreds of busy threads, they began seconds late (bench.lateness, (c)).
            reading: Future[dict[str, JobModel | None] | None] = Future()
            for message, started in due:
                self.results[index[id(message)]] = pool.submit(
                    self._safely, message, partial(self._when_read, reading, message, started))
            clock.sleep_until(instant)
            self._read_at_instant(reading, [m.occurrence for m, _ in due])

    def _when_read(self, reading: Future[dict[str, JobModel | None] | None], message: Message,
                   started: int) -> Outcome:
        """Run a held attempt once the batch has read the jobs at the instant."""
        try:
            jobs = reading.result()
        except Exception as exc:  # as a single read that failed: the record stays queued
            raise StoreUnavailable(f"jobs not read at the instant: {type(exc).__name__}") from exc
        return self.executor.hold_and_run(message, started, jobs)

    def _read_at_instant(self, reading: Future[dict[str, JobModel | None] | None], due: list[Occurrence]) -> None:
        # None: each attempt reads its own job (GetItem), as on the per-message path.
        try:
            reading.set_result(read_jobs(self.executor.runs.jobs, [occ.job_id for occ in due]))
        except PynamoDBException as exc:
            log.warning("batch read of %s jobs not done, read one by one: %s", len(due), exc)
            reading.set_result(None)
        except BaseException as exc:  # handed to every attempt waiting for it, which never waits forever
            log.warning("batch read of %s jobs not done: %s: %s", len(due), type(exc).__name__, exc)
            reading.set_exception(exc)
            if not isinstance(exc, Exception):
                raise

    def _message(self, i: int) -> Message:
        message = self.messages[i]
        assert message is not None
        return message

    @staticmethod
    def _safely(message: Message, work: Callable[[], Outcome]) -> bool:
        try:
            work()
            return True
        except Exception as exc:  # the message stays queued; SQS retries it, then the DLQ takes it
            log.warning("run %s not done: %s: %s", message.occurrence.run_id, type(exc).__name__, exc)
            return False


def _decoded(record: dict[str, Any]) -> Message | None:
    try:
        return decode(record["body"])
    except (KeyError, ValueError, TypeError):
        return None  # the per-message path reports it


def _done(value: bool) -> Future[bool]:
    future: Future[bool] = Future()
    future.set_result(value)
    return future
