"""Wiring: the process-wide services, each built once, lazily, from config and env.

Lambda cold starts import this cheaply; nothing talks to AWS until first use.
"""
from __future__ import annotations

import os
import threading
from typing import Any, Callable, TypeVar

from .config import get_config, reset_config
from .dispatch import Dispatcher
from .history import RunStore
from .jobs import JobService
from .queue import OccurrenceQueue, queue_from_env
from .store import JobStore

T = TypeVar("T")
_cache: dict[str, Any] = {}
_lock = threading.RLock()


def _once(key: str, build: Callable[[], T]) -> T:
    with _lock:
        if key not in _cache:
            _cache[key] = build()
        return _cache[key]


def job_store() -> JobStore:
    """The jobs table wrapper."""
    return _once("jobs", JobStore)


def run_store() -> RunStore:
    """The runs table wrapper (history TTL from config)."""
    return _once("runs", lambda: RunStore(ttl_days=get_config().scheduler.runHistoryDays))


def queue() -> OccurrenceQueue:
    """The occurrence queue and its DLQ."""
    return _once("queue", queue_from_env)


def dispatcher() -> Dispatcher:
    """The dispatcher shared by the tick and the API."""
    cfg = get_config().scheduler
    return _once("dispatcher", lambda: Dispatcher(job_store(), queue(), cfg.dueShards, cfg.lookaheadSeconds * 1000))


def jobs() -> JobService:
    """The job service behind the API routes and the Python job manager."""
    return _once("service", lambda: JobService(get_config(), job_store(), run_store(), queue(), dispatcher()))


def executor() -> Any:
    """The executor behind the SQS handler and the local stack's queue loop."""
    from .executor import Executor  # imported lazily: the API Lambda never needs it

    return _once("executor", lambda: Executor(get_config(), job_store(), run_store(), queue()))


def reset() -> None:
    """Drop every cached service and the config (tests, and the local stack's restarts)."""
    with _lock:
        _cache.clear()
    reset_config()


def stage() -> str:
    """The deployment stage name (``dev`` when unset)."""
    return os.environ.get("AGENTOS_STAGE", "dev")
