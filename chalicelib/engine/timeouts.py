"""An accepted attempt's deadline check (a ``check`` message): time the attempt out, or look again
at its new deadline when a heartbeat moved it."""
from __future__ import annotations

from .. import clock, telemetry
from ..clock import iso, now_ms
from ..store.jobs import JobStore
from ..store.models import RunModel, RunStatus
from ..store.runs import Occurrence, RunStore
from ..store.sqs import Kind, Message, OccurrenceQueue
from .deadlines import attempt_deadline
from .endings import Ending, Recorded
from .outcomes import Outcome, Outcomes
from .progress import RunProgress


class Timeouts:
    """Checks accepted attempts at their deadlines."""

    def __init__(self, jobs: JobStore, runs: RunStore, progress: RunProgress, outcomes: Outcomes,
                 queue: OccurrenceQueue) -> None:
        self.jobs, self.runs, self.progress, self.outcomes, self.queue = jobs, runs, progress, outcomes, queue

    def check(self, occ: Occurrence, due: int) -> Outcome:
        """An accepted attempt's deadline: time it out, or look again at its new deadline."""
        clock.sleep_until(due)
        run = self.runs.get(occ.job_id, occ.run_id)
        if run is None or run.status != RunStatus.RUNNING.value or int(run.attempt) != occ.attempt \
                or run.acceptedAt is None:
            return Outcome.CHECKED  # it reported, was taken over, or ended otherwise
        deadline = attempt_deadline(run)
        if now_ms() < deadline:  # a heartbeat moved it
            self.queue.send_one(Message(occ, deadline, Kind.CHECK), now_ms())
            return Outcome.CHECKED
        outcome = self._time_out(occ, run, deadline)
        if outcome is Outcome.DUPLICATE:  # a heartbeat or a report landed meanwhile: look again
            return self.check(occ, now_ms())
        return outcome

    def _time_out(self, occ: Occurrence, run: RunModel, deadline: int) -> Outcome:
        silent = run.heartbeatTimeoutMs and deadline < int(run.timeoutAt)
        error = (f"timed out: no heartbeat for {int(run.heartbeatTimeoutMs)} ms" if silent
                 else f"timed out: no outcome by {iso(int(run.timeoutAt))}")
        # The write holds only if nothing changed since this read (a heartbeat renews heartbeatAt).
        extra = self.runs.model.heartbeatAt == run.heartbeatAt
        job = self.jobs.find(occ.job_id)
        started = int(run.startedAt or deadline)
        telemetry.count("RunsTimedOut")
        if job is None:  # deleted while its agent worked: its agent's slot is freed with it
            finished = self.progress.finish(occ, Ending(RunStatus.FAILED, now_ms(), error), extra)
            if finished.recorded is not Recorded.DONE:
                return Outcome.DUPLICATE
            self.outcomes.release_gone(occ.run_id)
            return Outcome.FAILED
        if run.cancelRequested:
            return self.outcomes.cancelled(job, occ, started, f"cancelled; {error}", extra=extra)
        return self.outcomes.failed(job, occ, started, error, retryable=True, extra=extra)
