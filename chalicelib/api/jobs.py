"""The job service: what each API route (and the Python job manager) does.

Every method validates fully before its single write, so a failed request changes
nothing; after a write that moves the next occurrence close, it enqueues that
occurrence through the tick's own :class:`~chalicelib.engine.dispatch.Dispatcher`.
"""
from __future__ import annotations

import builtins
import json
import logging
import secrets
from typing import TYPE_CHECKING, Any

from ..clock import from_ms, to_ms
from ..clock import now_ms as clock_now_ms
from ..config import Config
from ..engine import parking
from ..engine.bounds import BOUND_FIELDS, Bounds, first_within, parse_bounds
from ..engine.continuity import state_text
from ..engine.dispatch import Dispatcher, shard_of
from ..errors import (
    ConcurrentUpdate,
    DuplicateName,
    JobNotFound,
    JobsError,
    NameOfAnotherAgent,
    PayloadTooLarge,
    ValidationFailed,
)
from ..schedules import IntervalSchedule, Schedule, parse_schedule, validate_timezone
from ..store import parks
from ..store.budgets import budget_attributes
from ..store.jobs import JobStore
from ..store.late import arm_changes
from ..store.listing import AgentScope, list_key
from ..store.models import JobModel, JobStatus, Origin, Trigger
from ..store.run_payloads import RunPayload
from ..store.runs import RunStore
from ..store.sqs import OccurrenceQueue
from . import events, on_demand
from .actors import internal_actor
from .admission import Admission
from .bodies import read_new_job
from .declare import changes as declared_changes
from .declare import declared_body
from .on_demand import run_now_payload
from .views import job_view, run_view
from .web import json_text

if TYPE_CHECKING:
    from ..store.events import Actor, Event
    from .auth import Scope
    from .schemas import JobPatch

log = logging.getLogger("agentos.jobs")
# A list page stops before this many bytes of JSON: Lambda answers at most 6 MB (a page of 100
# jobs with 64 KB payloads is ~6.5 MB), and headers and the API Gateway envelope need room.
LIST_PAGE_BYTES = 5 * 1024 * 1024


def new_job_id() -> str:
    """A fresh job id: ``job-`` and 16 hex digits."""
    return f"job-{secrets.token_hex(8)}"


class JobService:
    """Create, read, change, delete and trigger jobs."""

    def __init__(self, config: Config, store: JobStore, runs: RunStore, queue: OccurrenceQueue,
                 dispatcher: Dispatcher) -> None:
        self.config = config
        self.store = store
        self.runs = runs
        self.queue = queue
        self.dispatcher = dispatcher
        self.admission = Admission(config, store)
        self.history = events.History(store.events, store)

    def _payload_text(self, payload: dict[str, Any]) -> str:
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        limit = self.config.limits.maxPayloadBytes
        try:
            text.encode()
        except UnicodeEncodeError:  # "\ud800" escapes decode to lone surrogates: not storable text
            raise ValidationFailed("payload", "contains an unpaired UTF-16 surrogate (\\ud800-\\udfff)") from None
        if len(text.encode()) > limit:
            raise PayloadTooLarge(f"payload: {len(text.encode())} bytes is over the limit of {limit} bytes", "payload")
        return text

    def _schedule(self, schedule: str | None, interval: int | None, tz: str, now: int) -> Schedule:
        validate_timezone(tz)
        return parse_schedule(schedule, interval, tz, from_ms(now), self.config.limits.minIntervalMs)

    def create(self, body: object, callback: str | None = None, origin: Origin | None = None,
               actor: Actor | None = None) -> dict[str, Any]:
        """Validate and store a new job; returns its API view. ``origin``: who makes it
        (default: a plain API request, depth 0); ``actor``: who, in its history (default: in-process)."""
        spec = read_new_job(body)
        now = clock_now_ms()
        schedule = self._schedule(spec.schedule, spec.interval, spec.timezone, now)
        bounds = parse_bounds({k: getattr(spec, k) for k in BOUND_FIELDS if k in spec.given}, Bounds(),
                              spec.timezone, now)
        first = first_within(schedule, from_ms(now), bounds)
        if first is None and bounds.end_ms is not None:
            raise ValidationFailed("endAt", "the schedule has no occurrence between now (or startAt) and endAt")
        job = JobModel(
            new_job_id(), name=spec.name, description=spec.description, agentId=spec.agentId,
            schedule=spec.schedule, interval=spec.interval, timezone=spec.timezone,
            payload=self._payload_text(spec.payload), callback=callback,
            retryPolicy=spec.retry_policy_text(),
            status=JobStatus.ACTIVE.value, generation=1, runCount=0, failureCount=0,
            timeoutMs=spec.timeoutMs, heartbeatTimeoutMs=spec.heartbeatTimeoutMs, overlap=spec.overlap,
            maxConsecutiveFailures=spec.maxConsecutiveFailures, startAt=bounds.start_ms, endAt=bounds.end_ms,
            maxRuns=bounds.max_runs, catchupWindowMs=bounds.catchup_ms, **budget_attributes(spec.budget),
            origin=(origin or Origin()).text(), createdAt=now, updatedAt=now)
        for key, value in arm_changes(job.id, spec.expectSuccessWithinMs, now).items():
            setattr(job, key, value)  # job.late's watch, counted from now
        job.expectSuccessWithinMs = spec.expectSuccessWithinMs
        self._arm(job, schedule, first)
        view = job_view(job, now)
        noted = events.created(view, actor or internal_actor())
        self.admission.create(job, schedule, bounds, now, noted)  # the quota's checks, then the write
        self._enqueue_if_close(job, now)
        return view

    def _arm(self, job: JobModel, schedule: Schedule, first: Any) -> None:
        # Puts the job in the due index at its first occurrence (or takes it out).
        job.nextRunAt = to_ms(first) if first is not None else None
        job.anchorAt = job.nextRunAt if isinstance(schedule, IntervalSchedule) else None
        active = job.status == JobStatus.ACTIVE.value and job.nextRunAt is not None
        if active:
            self.dispatcher.record_span()  # a tick with a lower count must still look in this shard
        job.dueShard = shard_of(job.id, self.dispatcher.shards) if active else None

    def _enqueue_if_close(self, job: JobModel, now: int) -> None:
        if not self.dispatcher.needs_immediate(job, now):
            return
        try:
            self.dispatcher.dispatch([job], now)
        except JobsError:
            # The job is stored and armed: the next tick dispatches it (late, not lost).
            log.warning("immediate enqueue of %s failed; the tick will send it", job.id)

    def get(self, job_id: str) -> dict[str, Any]:
        """The API view of one job."""
        return job_view(self.store.get(job_id), clock_now_ms())

    def get_by_name(self, name: str) -> dict[str, Any]:
        """The API view of the job named ``name``; JobNotFound when none has it."""
        job = self.store.find_by_name(name)
        if job is None:
            raise JobNotFound(name)
        return job_view(job, clock_now_ms())

    def list(self, status: str | None, agent_id: str | None, limit: int, cursor: str | None,
             scope: AgentScope = None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of job views and the next page's cursor; ``scope``: a token's agents (None: all)."""
        page = self.store.list(status, agent_id, limit, cursor, scope)
        now, size = clock_now_ms(), 2  # the brackets of the JSON array
        views: builtins.list[dict[str, Any]] = []
        for job in page.jobs:
            view = job_view(job, now)
            size += len(json_text(view).encode()) + 1
            if views and size > LIST_PAGE_BYTES:  # the rest comes on the next page
                return views, page.resume[len(views) - 1]
            views.append(view)
        return views, page.following

    def update(self, job_id: str, body: object, actor: Actor | None = None) -> dict[str, Any]:
        """Apply a PATCH; a schedule change or a resume re-arms the job from now. ``actor``: who,
        in the job's history (default: in-process)."""
        from .schemas import JobPatch, validate

        patch = validate(JobPatch, body)
        job = self.store.get(job_id)
        stamp, old_name, now = int(job.updatedAt), job.name, clock_now_ms()
        changes = self._field_changes(patch)
        changes.update(self._schedule_changes(job, patch, now))
        if changes.get("status") == JobStatus.ACTIVE.value and job.status != JobStatus.ACTIVE.value:
            changes.update(consecutiveFailures=None, pausedReason=None)  # resuming resets the breaker
        changes.update(_lateness_changes(job, patch, changes, now))
        changes["updatedAt"] = max(now, stamp + 1)  # the optimistic lock needs a new stamp
        if "agentId" in changes:
            changes["listKey"] = list_key(changes["agentId"], job.id)
        before, after = job_view(job, now), {}
        ahead = _unpark(job, changes, now)

        def note(changed: JobModel) -> Event:
            if ahead:  # the write takes them out of the counts (ADD): so does the view it returns
                changed.streakCount = int(changed.streakCount or 0) - ahead
                changed.skippedBudget = int(changed.skippedBudget or 0) - ahead
            after.update(job_view(changed, now))
            return events.updated(before, after, actor or internal_actor(), patch.model_fields_set)
        self.admission.update(job, changes, stamp, old_name, now, note,  # the quota's checks, then the write
                              parks.uncounted(JobModel, ahead))
        self._enqueue_if_close(job, now)
        return after

    def _field_changes(self, patch: JobPatch) -> dict[str, Any]:
        given = patch.model_fields_set
        plain = ("name", "description", "agentId", "timeoutMs", "heartbeatTimeoutMs", "overlap",
                 "maxConsecutiveFailures")
        changes: dict[str, Any] = {k: getattr(patch, k) for k in plain if k in given}
        if "overlap" in given and patch.overlap is None:
            raise ValidationFailed("overlap", "must be one of skip, queue, allow")
        if "payload" in given:
            changes["payload"] = self._payload_text(patch.payload)
        if "state" in given:  # null removes it: the next run starts over
            changes["state"] = state_text(patch.state)
        if "budget" in given:  # raising (or lowering) a budget applies from the next claim on
            changes.update(budget_attributes(patch.budget))
        if "retryPolicy" in given:
            changes["retryPolicy"] = patch.retryPolicy.model_dump_json() if patch.retryPolicy else None
        if "timezone" in given:
            validate_timezone(patch.timezone)
            changes["timezone"] = patch.timezone
        return changes

    def _schedule_changes(self, job: JobModel, patch: JobPatch, now: int) -> dict[str, Any]:
        given = patch.model_fields_set
        schedule, interval = _new_timing(job, patch, given)
        tz = patch.timezone if "timezone" in given else job.timezone
        old_interval = int(job.interval) if job.interval is not None else None
        moved = (schedule, interval) != (job.schedule, old_interval) or (tz != job.timezone and interval is None)
        old_bounds = Bounds.of(job)
        bounds = parse_bounds({k: getattr(patch, k) for k in BOUND_FIELDS if k in given}, old_bounds, tz, now)
        limits = {k: v for k, v in bounds.attributes().items() if k in given}
        moved = moved or (bounds.start_ms, bounds.end_ms) != (old_bounds.start_ms, old_bounds.end_ms)
        return {**limits, **self._timing_changes(job, patch, now, (schedule, interval, tz), moved, bounds)}

    def _timing_changes(self, job: JobModel, patch: JobPatch, now: int, timing_of: tuple[Any, Any, str],
                        moved: bool, bounds: Bounds) -> dict[str, Any]:
        given = patch.model_fields_set
        schedule, interval, tz = timing_of
        status = _new_status(job, patch.status if "status" in given else None, moved)
        if not moved and not (status == JobStatus.ACTIVE.value and job.status != status):
            paused = status == JobStatus.PAUSED.value
            return {"status": status, "dueShard": None} if paused and job.status != status else {}
        timing = self._schedule(schedule, interval, tz, now)
        first = first_within(timing, from_ms(now), bounds)
        if first is None and status == JobStatus.ACTIVE.value:
            field = "endAt" if bounds.end_ms is not None else "status"
            raise ValidationFailed(field, "the job has no future occurrence; give it a new schedule")
        probe = JobModel(job.id, status=status)
        self._arm(probe, timing, first)
        return {"schedule": schedule, "interval": interval, "status": status,
                "generation": int(job.generation) + 1, "nextRunAt": probe.nextRunAt,
                "anchorAt": probe.anchorAt, "dueShard": probe.dueShard}

    def declare(self, name: str, body: object, origin: Origin | None = None,
                actor: Actor | None = None) -> tuple[dict[str, Any], bool]:
        """Make the job named ``name`` match ``body`` (contract section 10's PUT): the job's view
        and True if it was created. Nothing is written when nothing differs."""
        create, status = declared_body(name, body)
        for _ in range(2):  # a concurrent declaration of a new name creates it first: look again
            job = self.store.find_by_name(name)
            if job is None:
                try:
                    return self._declare_new(create, status, origin, actor), True
                except DuplicateName:
                    continue
            return self._redeclare(job, create, status, actor), False
        raise ConcurrentUpdate("the job was created and deleted while this request ran; retry it")

    def _declare_new(self, create: dict[str, Any], status: str | None, origin: Origin | None,
                     actor: Actor | None) -> dict[str, Any]:
        view = self.create(create, origin=origin, actor=actor)
        if status == JobStatus.PAUSED.value:  # a create body has no status: paused right after
            view = self.update(view["id"], {"status": status}, actor)
        return view

    def _redeclare(self, job: JobModel, create: dict[str, Any], status: str | None,
                   actor: Actor | None) -> dict[str, Any]:
        spec = read_new_job(create)  # the same 400s as a create
        if spec.agentId != job.agentId:
            raise NameOfAnotherAgent(job.name)
        self._payload_text(spec.payload)  # the same 413 as a create
        patch = declared_changes(job, spec, create, status)
        return self.update(job.id, patch, actor) if patch else job_view(job, clock_now_ms())

    def delete(self, job_id: str, actor: Actor | None = None) -> None:
        """Delete a job: no occurrence starts after this returns (its history stays 30 days)."""
        self.admission.delete(self.store.get(job_id), events.deleted(actor or internal_actor()))

    def run_now(self, job_id: str, body: object = None, actor: Actor | None = None) -> dict[str, Any]:
        """Start a manual run outside the schedule; returns the queued run. ``body``: None, or
        ``{"payload": {...}}``, delivered to this run instead of the job's (the job is unchanged).
        A busy ``skip`` job answers 409 naming the run in progress. ``actor``: who, in the job's history."""
        payload = run_now_payload(body)
        kept = RunPayload(self._payload_text(payload)) if payload is not None else None  # 413 like a create
        job = self.store.get(job_id)
        who = actor or internal_actor()
        return run_view(on_demand.start(self.runs, self.queue, job, Trigger.MANUAL, kept,
                                        lambda run_id: events.run_requested(run_id, who)))

    def events(self, job_id: str, scope: Scope, limit: int,
               cursor: str | None) -> tuple[builtins.list[dict[str, Any]], str | None]:
        """One page of a job's history (newest first) and the next page's cursor; readable 30 days
        after a delete; ``scope``: a token's agents (None: all)."""
        return self.history.page(job_id, scope, limit, cursor)

    def runs_of(self, job_id: str, limit: int,
                cursor: str | None) -> tuple[builtins.list[dict[str, Any]], str | None]:
        """One page of a job's runs (newest first) and the next page's cursor."""
        job = self.store.get(job_id)
        runs, following = self.runs.list(job_id, limit, cursor)
        return [run_view(r, job) for r in runs], following


def _unpark(job: JobModel, changes: dict[str, Any], now: int) -> int:
    """A change to a job parked by its spent budget unparks it (store/parks.py): it is armed again
    at its first parked occurrence not yet come (unless the change re-arms it anyway), the park is
    forgotten, and the occurrences counted ahead that have not come leave the counts (returned: the
    write ADDs them back out, so skips recorded meanwhile are kept)."""
    if not parks.parked(job, now):
        return 0
    if "nextRunAt" not in changes and changes.get("status", job.status) == JobStatus.ACTIVE.value:
        changes["nextRunAt"] = parking.resume_at(job, now)
    changes.update(parks.UNPARKED)
    return parking.ahead(job, now)


def _lateness_changes(job: JobModel, patch: JobPatch, changes: dict[str, Any], now: int) -> dict[str, Any]:
    """job.late's watch armed anew, counted from now, when the expectation is set or the job resumes
    (a paused job is told nothing; null takes the expectation and the watch away)."""
    given = "expectSuccessWithinMs" in patch.model_fields_set
    resumed = changes.get("status") == JobStatus.ACTIVE.value and job.status != JobStatus.ACTIVE.value
    if not given and not (resumed and job.expectSuccessWithinMs is not None):
        return {}
    expect = patch.expectSuccessWithinMs if given else int(job.expectSuccessWithinMs)
    return {"expectSuccessWithinMs": expect, **arm_changes(job.id, expect, now)}


def _new_timing(job: JobModel, patch: JobPatch, given: set[str]) -> tuple[str | None, int | None]:
    # Setting schedule clears interval and the reverse; both at once is refused later.
    schedule: str | None = job.schedule
    interval: int | None = int(job.interval) if job.interval is not None else None
    if "schedule" in given:
        schedule = patch.schedule
        interval = None if patch.schedule is not None and "interval" not in given else interval
    if "interval" in given:
        interval = patch.interval
        schedule = None if patch.interval is not None and "schedule" not in given else schedule
    return schedule, interval


def _new_status(job: JobModel, asked: str | None, moved: bool) -> str:
    if asked == JobStatus.PAUSED.value and job.status not in (JobStatus.ACTIVE.value, JobStatus.PAUSED.value):
        raise ValidationFailed("status", f"a {job.status} job cannot be paused")
    if asked is not None:
        return asked
    finished = job.status in (JobStatus.COMPLETED.value, JobStatus.FAILED.value)
    return JobStatus.ACTIVE.value if moved and finished else job.status
