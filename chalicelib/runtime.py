"""Wiring: the process-wide services, each built once, lazily, from config and env.

This is the lazy facade the Lambda handlers call. Importing it is cheap: each builder
imports its implementation (pydantic, PynamoDB, croniter, boto3 come with it) on first
use, so every function pays only for what it runs. Nothing talks to AWS until first use.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from . import settings

if TYPE_CHECKING:  # for the annotations only: importing them is what this module defers
    from .api.agents import AgentService
    from .api.idempotency import Idempotency
    from .api.jobs import JobService
    from .api.runs import RunService
    from .config import Config
    from .engine.dispatch import Dispatcher
    from .engine.executor import Executor
    from .engine.lateness import LateWatch
    from .engine.notifications import Notifier
    from .engine.reconcile import Reconciler
    from .store.jobs import JobStore
    from .store.runs import RunStore
    from .store.sqs import OccurrenceQueue

T = TypeVar("T")
_cache: dict[str, Any] = {}
_lock = threading.RLock()


def _once(key: str, build: Callable[[], T]) -> T:
    with _lock:
        if key not in _cache:
            _cache[key] = build()
        built: T = _cache[key]
        return built


def config() -> Config:
    """The validated ``agentos.config.json`` (pydantic is imported on first use)."""
    from .config import get_config

    return get_config()


def job_store() -> JobStore:
    """The jobs table wrapper (each write's history event expires with the config's run history)."""
    from .store.events import EventLog
    from .store.jobs import JobStore

    return _once("jobs", lambda: JobStore(events=EventLog(config().scheduler.runHistoryDays)))


def run_store() -> RunStore:
    """The runs table wrapper (history TTL from config)."""
    from .store import blocks
    from .store.runs import RunStore

    return _once("runs", lambda: RunStore(ttl_days=config().scheduler.runHistoryDays,
                                          agent_marks=blocks.marks(config().agents)))


def queue() -> OccurrenceQueue:
    """The occurrence queue and its DLQ."""
    from .store.sqs import queue_from_env

    return _once("queue", queue_from_env)


def dispatcher() -> Dispatcher:
    """The dispatcher shared by the tick and the API."""
    from .engine.dispatch import Dispatcher

    cfg = config().scheduler

    def build() -> Dispatcher:
        built = Dispatcher(job_store(), queue(), cfg.dueShards, cfg.lookaheadSeconds * 1000, cfg.advanceBatch)
        if config().notifications:  # the tick's endAt completions are told (job.completed)
            from .engine.notifications import Notifier

            built.notifier = Notifier(config().notifications, queue())
        return built
    return _once("dispatcher", build)


def jobs() -> JobService:
    """The job service behind the API routes and the Python job manager."""
    from .api.jobs import JobService

    return _once("service", lambda: JobService(config(), job_store(), run_store(), queue(), dispatcher()))


def agents() -> AgentService:
    """The agents routes' service."""
    from .api.agents import AgentService
    from .store.agents import AgentDirectory

    return _once("agents", lambda: AgentService(config(), AgentDirectory()))


def notifier() -> Notifier:
    """The configured receivers' notifications (chalicelib/engine/notifications.py)."""
    from .api.views import run_view
    from .engine.notifications import Notifier

    def describe(job_id: str, run_id: str) -> dict[str, Any] | None:
        run = run_store().get(job_id, run_id)
        return None if run is None else run_view(run)
    return _once("notifier", lambda: Notifier(config().notifications, queue(), describe))


def late_watch() -> LateWatch | None:
    """The tick's ``job.late`` pass, when a receiver takes that event (else None: no pass)."""
    if not any("job.late" in target.events for target in config().notifications):
        return None
    from .engine.lateness import LateWatch
    from .engine.notifications import Notifier
    from .store.late import LateJobs

    return _once("late_watch", lambda: LateWatch(LateJobs(), Notifier(config().notifications, queue())))


def run_service() -> RunService:
    """The run routes' service: reads, agents' reports and cancels."""
    from .api.runs import RunService
    from .engine.outcomes import Outcomes
    from .engine.progress import RunProgress, claim_lease_ms

    def build() -> RunService:
        runs = run_store()
        progress = RunProgress(runs, claim_lease_ms(config()))
        return RunService(job_store(), runs, progress, Outcomes(config(), job_store(), progress, queue()))
    return _once("runs_service", build)


def idempotency() -> Idempotency:
    """The ``Idempotency-Key`` records of the API's retry-safe routes."""
    from .api.idempotency import Idempotency
    from .store.idempotency import IdempotencyStore

    return _once("idempotency", lambda: Idempotency(IdempotencyStore()))


def executor() -> Executor:
    """The executor behind the SQS handler and the local stack's queue loop.

    ``AGENTOS_EXECUTOR_BATCH=0`` keeps the per-message path (one claim and one read per
    message), the reference the bench and the tests compare the batched path with."""
    from .engine.executor import Executor

    batched = settings.executor_batched()

    def build() -> Executor:
        built = Executor(config(), job_store(), run_store(), queue(), batched=batched)
        if config().notifications:
            built.notifier = notifier()
        return built
    return _once("executor", build)


def reconciler() -> Reconciler:
    """The minute tick's reconciliation pass (chalicelib/engine/reconcile.py)."""
    from .engine.agent_limits import AgentLimits
    from .engine.progress import claim_lease_ms
    from .engine.reconcile import Reconciler

    return _once("reconciler", lambda: Reconciler(AgentLimits(config()), queue(), claim_lease_ms(config())))


def reset() -> None:
    """Drop every cached service and the config (tests, and the local stack's restarts)."""
    from .config import reset_config

    with _lock:
        _cache.clear()
    reset_config()


def stage() -> str:
    """The deployment stage name (``dev`` when unset)."""
    return settings.stage()
