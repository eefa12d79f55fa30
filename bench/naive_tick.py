"""The reference tick the engine is measured against: a Scan of the whole jobs table.

Kept in ``bench/`` only. It finds the same due jobs as the engine's sharded ``due``
index query (``nextRunAt`` before the horizon, active), then does exactly the same
sends and conditional advances through :meth:`Dispatcher.dispatch`, so the two ticks
differ only in how they find the due jobs: this one reads every item in the table.
"""
from __future__ import annotations

from collections.abc import Iterator

from chalicelib.engine.dispatch import Dispatcher, DispatchReport
from chalicelib.store.models import JobModel, JobStatus


def scan_due(model: type[JobModel], horizon_ms: int) -> Iterator[JobModel]:
    """Every active job whose ``nextRunAt`` is before ``horizon_ms``, found by a full Scan."""
    condition = (model.nextRunAt < horizon_ms) & (model.status == JobStatus.ACTIVE.value)
    yield from model.scan(condition)


def naive_tick(dispatcher: Dispatcher, now_ms: int) -> DispatchReport:
    """One tick the naive way: Scan, then the engine's own send-then-advance."""
    jobs = scan_due(dispatcher.store.model, now_ms + dispatcher.lookahead_ms)
    return dispatcher.dispatch(jobs, now_ms)
