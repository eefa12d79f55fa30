"""Seed the jobs table fast: ``Model.batch_write()`` (BatchWriteItem, 25 items a call).

A bench job looks like one the API creates: an item in the jobs table plus its name
claim, active jobs armed in the due index (``dueShard``), paused jobs not. Ids are
deterministic, so the shard spread (and every count that depends on it) is too.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator

from chalicelib.clock import iso
from chalicelib.engine.dispatch import shard_of
from chalicelib.store.listing import list_key
from chalicelib.store.models import JobModel, JobStatus, NameClaim, name_claim_id

from .env import AGENT_ID

HOUR_MS = 3_600_000
PAUSED_EVERY = 20  # one filler job in twenty is paused: it is not in the due index at all
PAYLOAD = json.dumps({"action": "ECHO", "message": "bench", "topics": ["AI", "Blockchain"]})


def job_id(tag: int, i: int) -> str:
    """A deterministic job id: ``tag`` tells loads apart, ``i`` numbers jobs within one."""
    return f"job-{tag:02x}{i:014x}"


def make_job(jid: str, next_ms: int | None, shards: int, interval_ms: int = HOUR_MS,
             status: str = JobStatus.ACTIVE.value, created_ms: int = 0, once: bool = False) -> JobModel:
    """An interval job (or, with ``once``, a single-run job) armed at ``next_ms`` (None: not in
    the due index)."""
    armed = next_ms is not None and status == JobStatus.ACTIVE.value
    schedule = iso(next_ms) if once and next_ms is not None else None
    return JobModel(jid, name=f"bench-{jid}", agentId=AGENT_ID, schedule=schedule,
                    interval=None if once else interval_ms, timezone="UTC", payload=PAYLOAD, status=status,
                    generation=1, anchorAt=None if once else next_ms, nextRunAt=next_ms,
                    dueShard=shard_of(jid, shards) if armed else None, listKey=list_key(AGENT_ID, jid),
                    runCount=0, failureCount=0,
                    createdAt=created_ms, updatedAt=created_ms)


def tick_population(start: int, stop: int, due: int, now_ms: int, horizon_ms: int,
                    shards: int) -> Iterator[JobModel]:
    """Jobs ``start..stop-1`` of the tick bench: the first ``due`` are due before the horizon.

    Due jobs fall in the 50 seconds after ``now_ms + 10 s``; the others are paused (one
    in twenty) or due later in the hour, past the horizon.
    """
    for i in range(start, stop):
        jid = job_id(0, i)
        if i < due:
            yield make_job(jid, now_ms + 10_000 + (i % 50) * 1000, shards, created_ms=now_ms)
        elif i % PAUSED_EVERY == 0:
            yield make_job(jid, None, shards, status=JobStatus.PAUSED.value, created_ms=now_ms)
        else:
            yield make_job(jid, horizon_ms + 60_000 + (i % 3000) * 1000, shards, created_ms=now_ms)


def write(jobs: Iterable[JobModel], claims: bool = True) -> tuple[int, float]:
    """Batch-write ``jobs`` (and their name claims); returns (items written, seconds)."""
    started, count = time.perf_counter(), 0
    written: list[JobModel] = []
    with JobModel.batch_write() as batch:
        for job in jobs:
            batch.save(job)
            written.append(job)
    count += len(written)
    if claims:
        with NameClaim.batch_write() as batch:
            for job in written:
                batch.save(NameClaim(name_claim_id(job.name), jobId=job.id))
        count += len(written)
    return count, time.perf_counter() - started
