"""The run routes: read a run, and what an agent (or an operator) says about one in progress.

``heartbeat`` and ``complete`` come from an agent that accepted its attempt with 202, holding
the attempt's callback token (or from anyone with an API token); ``cancel`` from an operator.
Each report is one conditional write on the attempt it names, so a report for an attempt
that already ended (timed out, reported, cancelled, taken over) answers 409 and changes nothing.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from ..clock import now_ms
from ..defaults import OUTPUT_MAX_BYTES
from ..engine.continuity import STATE_KEY, Saved, state_text, without_state
from ..engine.outcomes import Outcome, Outcomes, output_text
from ..engine.progress import RunProgress
from ..errors import PayloadTooLarge, RunConflict, RunNotFound, ValidationFailed
from ..store.events import Actor
from ..store.jobs import JobStore
from ..store.models import ENDED, RunModel, RunStatus, Trigger
from ..store.run_payloads import RunPayload
from ..store.runs import Occurrence, RunStore, job_of_run
from . import events, on_demand
from .actors import internal_actor
from .schemas import CompleteBody, HeartbeatBody, validate
from .views import run_view

PROGRESS_MAX_BYTES = 4 * 1024
WAITING = (RunStatus.QUEUED.value, RunStatus.RETRYING.value)


def _json_bytes(value: Any, field: str) -> tuple[str, int]:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    try:
        return text, len(text.encode())
    except UnicodeEncodeError as exc:  # a lone surrogate ("\ud800") is not text: it cannot be stored
        raise ValidationFailed(field, "contains a lone UTF-16 surrogate, which is not valid Unicode text") from exc


def _saved(report: CompleteBody) -> tuple[Any, Saved | None]:
    """A report's output and the state it saves: a ``state`` sent with ``succeeded`` (413 past
    16 KiB; null clears it), lifted out of the output as well (kits send it in both, as returned).
    A failed or cancelled report's state is checked, then ignored: only a success saves state."""
    if STATE_KEY not in report.model_fields_set:
        return report.output, None
    saved = Saved(state_text(report.state))
    if report.status != RunStatus.SUCCEEDED.value:
        return report.output, None
    return without_state(report.output), saved


def report_digest(body: CompleteBody) -> str:
    """A fingerprint of a completion report: the same report repeated is recognised."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class RunService:
    """Reads runs and takes agents' reports and operators' cancels."""

    def __init__(self, jobs: JobStore, runs: RunStore, progress: RunProgress, outcomes: Outcomes) -> None:
        self.jobs = jobs
        self.runs = runs
        self.progress = progress
        self.outcomes = outcomes

    def _run(self, run_id: str) -> RunModel:
        run = self.runs.find(run_id)
        if run is None:
            raise RunNotFound(run_id)
        return run

    def get(self, run_id: str) -> dict[str, Any]:
        """The API view of one run."""
        run = self._run(run_id)  # a streak of skips shows its job's live count (store/streaks.py)
        return run_view(run, self.jobs.find(run.jobId) if run.skipReason else None)

    def _attempt(self, run: RunModel, attempt: int | None) -> Occurrence:
        # ``attempt`` is the callback token's; an API token speaks for the current attempt.
        occ = Occurrence.of_run(run)
        if run.status != RunStatus.RUNNING.value or (attempt is not None and attempt != occ.attempt):
            which = f"attempt {attempt if attempt is not None else occ.attempt}"
            raise RunConflict(f"{which} of run {run.id} is no longer running (the run is {run.status}, "
                              f"at attempt {occ.attempt})", "attempt")
        return occ

    def heartbeat(self, run_id: str, body: object, attempt: int | None) -> dict[str, Any]:
        """Renew an attempt's heartbeat deadline, keep its progress; the answer shows cancelRequested."""
        report = validate(HeartbeatBody, body if body is not None else {})
        progress = None
        if "progress" in report.model_fields_set:
            progress, size = _json_bytes(report.progress, "progress")
            if size > PROGRESS_MAX_BYTES:
                raise PayloadTooLarge(f"progress: {size} bytes is over the limit of {PROGRESS_MAX_BYTES}", "progress")
        job_id = job_of_run(run_id)
        if attempt is not None and job_id is not None:  # a callback token names its attempt: one write
            run = self.progress.heartbeat(job_id, run_id, attempt, now_ms(), progress)
            if run is not None:
                return run_view(run)
        occ = self._attempt(self._run(run_id), attempt)  # 404 or 409, or the current attempt
        run = self.progress.heartbeat(occ.job_id, run_id, occ.attempt, now_ms(), progress)
        if run is None:
            raise RunConflict(f"attempt {occ.attempt} of run {run_id} ended meanwhile", "attempt")
        return run_view(run)

    def complete(self, run_id: str, body: object, attempt: int | None) -> dict[str, Any]:
        """Record the outcome an agent reports for its attempt (retried by the policy if failed)."""
        report = validate(CompleteBody, body)
        reported, saved = _saved(report)
        output = None
        if reported is not None:
            output, size = _json_bytes(reported, "output")
            if size > OUTPUT_MAX_BYTES:
                raise PayloadTooLarge(f"output: {size} bytes is over the limit of {OUTPUT_MAX_BYTES}", "output")
        run, digest = self._run(run_id), report_digest(report)
        if run.reportDigest == digest and (attempt is None or attempt == int(run.attempt)):
            return run_view(run)  # the same report again: 200, nothing changes
        occ = self._attempt(run, attempt)
        outcome = self._record(run, occ, report, output, digest, saved)
        if outcome is Outcome.DUPLICATE:
            raise RunConflict(f"attempt {occ.attempt} of run {run.id} ended before this report", "attempt")
        return run_view(self._run(run_id))

    def _record(self, run: RunModel, occ: Occurrence, report: CompleteBody, output: str | None,
                digest: str, saved: Saved | None = None) -> Outcome:
        job = self.jobs.find(occ.job_id)
        usage = report.usage.model_dump_json(exclude_none=True) if report.usage else None
        started = int(run.startedAt or now_ms())
        outcomes = self.outcomes.with_digest(digest)
        open_now = self.progress.open_at(now_ms())  # after its deadline only the timeout ends an attempt
        if job is None:  # deleted while the agent worked: the run still gets its outcome
            return outcomes.orphan(occ, report.status, report.error, output_text(report.output), usage, open_now)
        if report.status == RunStatus.SUCCEEDED.value:
            return outcomes.succeeded(job, occ, started, output=output, usage=usage, extra=open_now, saved=saved)
        if report.status == RunStatus.CANCELLED.value:
            return outcomes.cancelled(job, occ, started, report.error, output=output, usage=usage, extra=open_now)
        return outcomes.failed(job, occ, started, report.error or "the agent reported a failure", report.retryable,
                               output=output, usage=usage, extra=open_now)

    def replay(self, run_id: str, actor: Actor | None = None) -> dict[str, Any]:
        """Start a new run of ``run_id``'s job (trigger ``replay``), delivered the payload that run was
        delivered (its job's current one for a run recorded before runs kept theirs); the queued run.
        ``actor``: who, in the job's history (default: in-process)."""
        run = self._run(run_id)
        job = self.jobs.get(run.jobId)
        kept = RunPayload(run.payload or job.payload, replay_of=run.id)
        who = actor or internal_actor()
        return run_view(on_demand.start(self.runs, self.outcomes.queue, job, Trigger.REPLAY, kept,
                                        lambda new_id: events.replayed(new_id, run.id, who)))

    def cancel(self, run_id: str) -> dict[str, Any]:
        """Stop a run: a queued or waiting one ends ``cancelled`` now, a running one when it reports."""
        for _ in range(3):  # the run may move between the read and the write: look again
            run = self._run(run_id)
            if run.status in ENDED:
                raise RunConflict(f"run {run_id} already ended ({run.status})", "status")
            occ = Occurrence.of_run(run)
            if run.status in WAITING and self.outcomes.cancel_waiting(self.jobs.find(run.jobId), run, WAITING):
                return run_view(self._run(run_id))
            if run.status == RunStatus.RUNNING.value and self.progress.request_cancel(occ):
                return run_view(self._run(run_id))
        raise RunConflict(f"run {run_id} kept changing; retry the cancel", "status")

