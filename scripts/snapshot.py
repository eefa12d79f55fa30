"""State of the local stack across restarts: the tables and queues, saved as one JSON file.

A snapshot holds every item of both tables (DynamoDB JSON, as Scan returns them) and
the body of every message still in the jobs queue and its DLQ. On restore:

- the items are written back (runs past their TTL are dropped, as DynamoDB would);
- a scheduled first attempt still queued is *not* re-sent: its job's ``nextRunAt`` is
  rewound to the earliest such occurrence, so the engine dispatches it again itself.
  That gives the downtime rule (README, Scheduling) for free: an occurrence missed while the stack
  was down runs once (the tick collapses everything missed), later ones run on time,
  and deterministic run ids let the claim drop any that had already started;
- every other message is re-sent as what it is (its ``kind`` kept) with its own
  ``notBefore``: retries, manual runs, and an accepted run's deadline check, a waiting
  run's wake and an admitted run, whatever their occurrence's attempt (a check folded into
  ``nextRunAt`` would be lost, and its run stay ``running`` forever); DLQ messages are
  put back in the DLQ.

Times are chalicelib's clock (the wall clock outside tests), as the executor reads them.

Reading the queues goes through the embedded AWS's own route (``GET /_agentos/queue-bodies``,
``scripts/aws_server.py``, in the child process that runs moto): SQS has no API to look at
messages without receiving them.
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from chalicelib import clock
from chalicelib.engine.dispatch import shard_of
from chalicelib.store.listing import list_key
from chalicelib.store.models import Trigger
from chalicelib.store.sqs import Kind, OccurrenceQueue, decode

log = logging.getLogger("agentos.local.snapshot")

FILE_NAME = "snapshot.json"
FORMAT = 1
BATCH_WRITE = 25  # BatchWriteItem's limit


@dataclass(frozen=True)
class Resources:
    """The provisioned names and URLs (what ``infra.provision.provision`` returns)."""

    jobs_table: str
    runs_table: str
    queue_url: str
    dlq_url: str

    @classmethod
    def from_provision(cls, names: dict[str, str]) -> Resources:
        """Build from provision()'s dict."""
        return cls(names["jobs_table"], names["runs_table"], names["queue_url"], names["dlq_url"])


@dataclass
class Snapshot:
    """Everything the local stack keeps across a restart."""

    saved_at_ms: int
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    queues: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The file's document."""
        return {"format": FORMAT, "savedAt": self.saved_at_ms, "tables": self.tables, "queues": self.queues}

    def summary(self) -> str:
        """``3 jobs, 40 runs, 12 queued, 0 in DLQ`` (name claims are not jobs)."""
        jobs = sum(1 for i in self.tables.get("jobs", []) if i.get("id", {}).get("S", "").startswith("job-"))
        return (f"{jobs} jobs, {len(self.tables.get('runs', []))} runs, "
                f"{len(self.queues.get('queue', []))} queued, {len(self.queues.get('dlq', []))} in DLQ")


# ---------------------------------------------------------------- capture and files

def scan_table(table: str) -> list[dict[str, Any]]:
    """Every item of ``table``, consistently read, in DynamoDB JSON."""
    pages = boto3.client("dynamodb").get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    return [item for page in pages for item in page.get("Items", [])]


def queue_bodies(queue_url: str) -> list[str]:
    """The bodies of every message in the queue, visible, delayed or in flight, untouched."""
    from scripts.local_aws import queue_bodies as peek

    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    return peek(os.environ["AWS_ENDPOINT_URL"], queue_url, region)


def capture(res: Resources) -> Snapshot:
    """Read the whole local state now."""
    return Snapshot(
        saved_at_ms=int(time.time() * 1000),
        tables={"jobs": scan_table(res.jobs_table), "runs": scan_table(res.runs_table)},
        queues={"queue": queue_bodies(res.queue_url), "dlq": queue_bodies(res.dlq_url)},
    )


def write(snapshot: Snapshot, directory: Path) -> Path:
    """Write ``snapshot`` atomically: a crash mid-write leaves the previous file intact."""
    directory.mkdir(parents=True, exist_ok=True)
    target, partial = directory / FILE_NAME, directory / f"{FILE_NAME}.tmp"
    with partial.open("w", encoding="utf-8") as out:
        json.dump(snapshot.to_json(), out, separators=(",", ":"))
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, target)
    return target


def read(directory: Path) -> Snapshot | None:
    """The saved snapshot, or None; an unreadable one is set aside (never silently reused)."""
    path = directory / FILE_NAME
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") != FORMAT:
            raise ValueError(f"unknown format {doc.get('format')!r}")
        return Snapshot(int(doc["savedAt"]), doc["tables"], doc["queues"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        aside = path.with_name(f"{FILE_NAME}.unreadable-{int(time.time())}")
        os.replace(path, aside)
        log.warning("snapshot %s is unreadable (%s); moved to %s, starting empty", path, exc, aside)
        return None


# ---------------------------------------------------------------- restore

def _num(item: dict[str, Any], name: str) -> int | None:
    value = item.get(name, {}).get("N")
    # float first: a job's end entry (chalicelib.store.jobs.end_entry) is nextRunAt with a fraction
    return int(float(value)) if value is not None else None


def first_queued_occurrences(bodies: Iterable[str]) -> tuple[dict[tuple[str, int], int], list[str]]:
    """Split queue bodies into the earliest scheduled first attempt per (job, generation),
    and the bodies to re-send as they are (retries, manual runs, checks, wakes, admitted
    runs, anything unknown)."""
    earliest: dict[tuple[str, int], int] = {}
    resend: list[str] = []
    for body in bodies:
        try:
            message = decode(body)
        except (ValueError, KeyError, TypeError):
            resend.append(body)  # not ours to judge: the executor reports it as it would on AWS
            continue
        occ = message.occurrence
        # only an attempt is "undelivered": a check, wake or admitted message of attempt 1
        # belongs to a run that already started or waits, and only its own message moves it on
        if message.kind is Kind.ATTEMPT and occ.trigger is Trigger.SCHEDULE and occ.attempt == 1:
            key = (occ.job_id, occ.generation)
            earliest[key] = min(earliest.get(key, occ.scheduled_ms), occ.scheduled_ms)
        else:
            resend.append(body)
    return earliest, resend


def rewind_jobs(items: list[dict[str, Any]], earliest: dict[tuple[str, int], int], shards: int) -> int:
    """Move each active job's ``nextRunAt`` back to its earliest undelivered occurrence
    (and back into the due index); returns how many jobs moved. Mutates ``items``."""
    moved = 0
    for item in items:
        job_id = item.get("id", {}).get("S", "")
        if not job_id.startswith("job-") or item.get("status", {}).get("S") != "active":
            continue
        first = earliest.get((job_id, _num(item, "generation") or 0))
        current = _num(item, "nextRunAt")
        if first is None or (current is not None and current <= first):
            continue
        item["nextRunAt"] = {"N": str(first)}
        item["dueShard"] = {"N": str(shard_of(job_id, shards))}
        moved += 1
    return moved


def with_list_keys(items: list[dict[str, Any]]) -> int:
    """Give jobs saved before the list index existed their ``listKey`` (else no list shows
    them); returns how many needed one. Mutates ``items``."""
    missing = [i for i in items if i.get("id", {}).get("S", "").startswith("job-") and "agentId" in i
               and "listKey" not in i]
    for item in missing:
        item["listKey"] = {"S": list_key(item["agentId"]["S"], item["id"]["S"])}
    return len(missing)


def unexpired(items: list[dict[str, Any]], now_s: int) -> list[dict[str, Any]]:
    """Items whose TTL (``expiresAt``) has not passed: moto never expires them itself."""
    return [i for i in items if (_num(i, "expiresAt") or now_s + 1) > now_s]


def put_items(table: str, items: list[dict[str, Any]]) -> None:
    """Write ``items`` with BatchWriteItem, retrying what DynamoDB leaves unprocessed."""
    client = boto3.client("dynamodb")
    for start in range(0, len(items), BATCH_WRITE):
        pending = {table: [{"PutRequest": {"Item": i}} for i in items[start:start + BATCH_WRITE]]}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def restore(snapshot: Snapshot, res: Resources, queue: OccurrenceQueue, shards: int) -> str:
    """Put ``snapshot`` back into the (empty) tables and queues; returns a one-line summary."""
    earliest, resend = first_queued_occurrences(snapshot.queues.get("queue", []))
    jobs = snapshot.tables.get("jobs", [])
    moved = rewind_jobs(jobs, earliest, shards)
    with_list_keys(jobs)
    put_items(res.jobs_table, jobs)
    now = clock.now_ms()  # the executor's clock, which the delays below are counted against
    put_items(res.runs_table, unexpired(snapshot.tables.get("runs", []), now // 1000))
    sqs = boto3.client("sqs")
    for body in resend:
        try:
            queue.send_one(decode(body), now)  # its delay is recomputed from notBefore
        except (ValueError, KeyError, TypeError):
            sqs.send_message(QueueUrl=res.queue_url, MessageBody=body)
    for body in snapshot.queues.get("dlq", []):
        sqs.send_message(QueueUrl=res.dlq_url, MessageBody=body)
    return f"{snapshot.summary()}; {moved} jobs re-armed at their first undelivered occurrence"
