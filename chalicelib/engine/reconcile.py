"""The reconciler: every minute, repair what a lost message, a crash or a restart left behind.

Message chains give the precision (a timeout noticed within 5 s, a freed slot filled within a
second); this pass is the second way home for everything that lives between messages, and it
depends on no message of its own:

* **runs in progress** carry ``recAt`` (when to look at them: a claim's lease, an accepted
  attempt's deadline, a retry's time, a queued run's expected start) in the runs table's sparse,
  sharded ``overdue`` index. The pass reads only the entries past their time (O(overdue)), and
  for each sends again the message its chain would have sent: the deadline check of an accepted
  attempt, the attempt of a crashed claimant or of a retry, the start of a waiting run. Each
  handler is idempotent (the claim admits an attempt once), so a message sent twice does no
  harm. It then looks again later only if the run did not move;
* **agent slots**: for each agent with ``maxConcurrent``, a slot whose holder ended, is gone, or
  whose lease passed is freed, the count of waiting runs is corrected to the line's length, and
  the line is filled (O(limited agents + their slots)).

Budget reservations need no pass of their own: each run settles its reservation in its final
write, and every run reaches one (above). ``endAt`` is completed by the tick (the due index).
"""
from __future__ import annotations

import logging
from typing import Any, NamedTuple

from pynamodb.exceptions import PynamoDBException, QueryError

from ..clock import now_ms
from ..errors import JobsError
from ..store import dynamo
from ..store.models import ENDED, RunModel, RunStatus, Trigger
from ..store.runs import RECONCILE_SHARDS, Occurrence, job_of_run, unwatch, watch
from ..store.sqs import Kind, Message, OccurrenceQueue
from .agent_limits import AgentLimits

log = logging.getLogger("agentos.jobs.reconcile")
GRACE_MS = 30_000  # a run is repaired once this overdue: its own chain has the first go
RECHECK_MS = 300_000  # a repaired run that did not move is looked at again this much later
PAGE = 100  # runs repaired per shard per pass at most (the next minute takes the rest)


class Pass(NamedTuple):
    """What one reconciliation pass found and did."""

    overdue: int = 0  # runs past their time, read from the index
    repaired: int = 0  # messages sent for them
    slots_freed: int = 0
    lines_corrected: int = 0
    started: int = 0  # waiting runs granted a slot
    items_read: int = 0


class Reconciler:
    """Finds overdue runs and leaked agent slots, and sends what puts them back on their way."""

    def __init__(self, limits: AgentLimits, queue: OccurrenceQueue, lease_ms: int,
                 model: type[RunModel] = RunModel) -> None:
        self.limits = limits
        self.queue = queue
        self.lease_ms = lease_ms
        self.model = model

    def run(self, now: int | None = None) -> Pass:
        """One pass over the overdue runs and the limited agents' slots."""
        at = now_ms() if now is None else now
        runs = self._runs(at)
        agents = self._agents(at)
        done = Pass(runs.overdue, runs.repaired, agents.slots_freed, agents.lines_corrected, agents.started,
                    runs.items_read + agents.items_read)
        if done.repaired or done.slots_freed or done.lines_corrected:
            log.warning("reconciler: %s overdue runs, %s repaired, %s slots freed, %s lines corrected",
                        done.overdue, done.repaired, done.slots_freed, done.lines_corrected)
        return done

    # --- runs --------------------------------------------------------------------------------

    def _runs(self, at: int) -> Pass:
        overdue = repaired = 0
        for shard in range(RECONCILE_SHARDS):
            try:
                found = list(self.model.overdue.query(shard, self.model.recAt < at - GRACE_MS, limit=PAGE))
            except QueryError as exc:
                log.warning("reconciler: shard %s unreadable (%s); the next pass reads it", shard, exc)
                continue
            overdue += len(found)
            repaired += sum(1 for run in found if self._repair(run, at))
        return Pass(overdue=overdue, repaired=repaired, items_read=overdue)

    def _repair(self, run: RunModel, at: int) -> bool:
        """Send the message that moves ``run`` on, then look again later if it does not move."""
        message = self.message_for(run, at)
        try:
            if message is not None:
                self.queue.send_one(message, at)
            self._recheck(run, at + RECHECK_MS if message is not None else None)
        except (JobsError, PynamoDBException) as exc:
            log.warning("reconciler: run %s not repaired now (%s); the next pass tries again", run.id, exc)
            return False
        return message is not None

    def message_for(self, run: RunModel, at: int) -> Message | None:
        """The message a run's own chain would have sent by now (None: nothing to send)."""
        occ = Occurrence(run.jobId, run.id, int(run.scheduledAt), Trigger(run.trigger), int(run.generation or 1),
                         int(run.attempt or 0))
        if run.status == RunStatus.RUNNING.value and run.acceptedAt is not None:
            deadline = min(int(d) for d in (run.timeoutAt, run.hbDeadline) if d is not None) \
                if run.timeoutAt is not None else at
            return Message(occ, max(at, deadline), Kind.CHECK)  # the check times it out at its deadline
        if run.status == RunStatus.RUNNING.value:  # its claimant died: the attempt is taken over
            return Message(occ, at)
        following = occ._replace(attempt=occ.attempt + 1)
        if run.status == RunStatus.RETRYING.value:
            return Message(following, max(at, int(run.retryAt or at)))
        if run.status == RunStatus.QUEUED.value and run.queueAgent is not None:
            return Message(following, at, Kind.WAKE)
        if run.status == RunStatus.QUEUED.value:  # granted a slot, or waiting for the job's, or manual
            return Message(following, at, Kind.ADMITTED if run.admittedAt is not None else Kind.ATTEMPT)
        return None

    def _recheck(self, run: RunModel, again: int | None) -> None:
        # Conditional on the entry read: a run that moved meanwhile rewrote (or removed) it.
        model = self.model
        actions = watch(model, run.id, again) if again is not None else unwatch(model)
        model(run.jobId, run.id).update(actions=actions, condition=model.recAt == run.recAt)

    # --- agent slots ------------------------------------------------------------------------

    def _agents(self, at: int) -> Pass:
        freed = corrected = started = read = 0
        for agent_id, endpoint in self.limits.config.agents.items():
            if endpoint.maxConcurrent is None:
                continue
            try:
                state = self.limits.state(agent_id)
                holders = state.get("holders") or {}
                read += 1 + len(holders)
                freed += self._free_ended(agent_id, holders, at)
                corrected += self.limits.correct_queued(agent_id, int(state.get("queued") or 0))
                for occ in self.limits.fill(agent_id, at, self.lease_ms):
                    self.queue.send_one(Message(occ, at, Kind.ADMITTED), at)
                    started += 1
            except JobsError as exc:
                log.warning("reconciler: agent %s not reconciled now (%s)", agent_id, exc)
        return Pass(slots_freed=freed, lines_corrected=corrected, started=started, items_read=read)

    def _free_ended(self, agent_id: str, holders: dict[str, Any], at: int) -> int:
        """Free the slots whose holder ended, is gone, waits for a retry, or whose lease passed."""
        keys = [(job, run_id) for run_id in holders if (job := job_of_run(run_id)) is not None]
        try:
            found = {run.id: run for run in self.model.batch_get(keys)} if keys else {}
        except PynamoDBException as exc:
            raise dynamo.unavailable("runs", "read an agent's slot holders") from exc
        freed = 0
        for run_id, lease in holders.items():
            run = found.get(run_id)
            over = run is None or run.status in ENDED or run.status == RunStatus.RETRYING.value or int(lease) < at
            if over and self.limits.free(agent_id, run_id, int(lease)):
                freed += 1
        return freed
