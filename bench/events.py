"""What a job's history costs the writes it records (contract section 13, issue 27): each API write
with its event (in its own transaction) against the same write without one.

Requests go through the API's routes (Chalice's in-process test client) against in-process moto:
create, PATCH (a schedule), PATCH (pause), run now, DELETE, ``REQUESTS`` times each, first with the
events on, then with them off (chalicelib/api/events.py's makers patched to return None: the
store then writes exactly what it wrote before events existed: a PATCH is one UpdateItem, a run
now's record one PutItem). Counted per request with bench/counting.py: DynamoDB calls, and write
units by DynamoDB's published rule applied to the stored items' sizes (a standard write: 1 unit
per KB of the item; a transactional write: 2 per KB of each item in it), since moto reports none.
The wall time per request is moto's, in process: it shows the CPU the events add, not AWS latency.

``python -m bench.events`` measures it alone, prints JSON and merges it into bench/results.json;
``make bench`` runs it as a part (``--part``) and keeps it under ``events``; docs/benchmarks.md
section 1i (bench/operator_sections.py).
"""
from __future__ import annotations

import json
import math
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .harness import part_main

REQUESTS = 20
AGENT = "550e8400-e29b-41d4-a716-446655440000"
KB = 1024


def item_size(item: dict[str, Any]) -> int:
    """The size DynamoDB bills for an item (DynamoDB JSON): names plus values (numbers ~ 1 byte per
    two digits + 1, booleans and nulls 1 byte, strings their UTF-8 length)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        (kind, raw), = value.items()
        if kind == "S":
            size += len(raw.encode())
        elif kind == "N":
            size += math.ceil(len(raw.lstrip("-").replace(".", "")) / 2) + 1
        elif kind == "M":
            size += 3 + item_size(raw)
        else:
            size += 1
    return size


def _units(size: int) -> int:
    return max(1, math.ceil(size / KB))


class Sizes:
    """Reads stored items back (outside the counted requests) to price the writes."""

    def __init__(self) -> None:
        import boto3

        from chalicelib import settings

        self.client = boto3.client("dynamodb", region_name=settings.region(),
                                   endpoint_url=settings.dynamodb_endpoint())
        self.jobs, self.runs = settings.tables()[:2]

    def job(self, job_id: str) -> int:
        return item_size(self.client.get_item(TableName=self.jobs, Key={"id": {"S": job_id}})["Item"])

    def claim(self, name: str) -> int:
        return item_size(self.client.get_item(TableName=self.jobs, Key={"id": {"S": f"name#{name}"}})["Item"])

    def run(self, job_id: str, run_id: str) -> int:
        key = {"jobId": {"S": job_id}, "id": {"S": run_id}}
        return item_size(self.client.get_item(TableName=self.runs, Key=key)["Item"])

    def newest_event(self, job_id: str) -> int:
        answer = self.client.query(TableName=self.runs, KeyConditionExpression="jobId = :k", Limit=1,
                                   ExpressionAttributeValues={":k": {"S": f"event#{job_id}"}}, ScanIndexForward=False)
        return item_size(answer["Items"][0]) if answer["Items"] else 0


@contextmanager
def _events_off() -> Iterator[None]:
    """The API as before events: no event is made, so none is written (and no write becomes a transaction)."""
    from chalicelib.api import events

    names = ("created", "updated", "deleted", "run_requested", "replayed")
    kept = {name: getattr(events, name) for name in names}
    for name in names:
        setattr(events, name, lambda *args, **kwargs: None)
    try:
        yield
    finally:
        for name, maker in kept.items():
            setattr(events, name, maker)


def _request(client: Any, method: str, path: str, body: Any, status: int) -> tuple[Counter, float, Any]:
    from .counting import COUNTER

    raw = json.dumps(body).encode() if body is not None else b""
    started = time.perf_counter()
    with COUNTER.measure() as tally:
        answer = client.http.request(method, path, body=raw, headers={"Content-Type": "application/json"})
    seconds = time.perf_counter() - started
    if answer.status_code != status:
        raise AssertionError(f"{method} {path}: {answer.status_code} {answer.body[:300]!r}")
    return Counter(tally.calls), seconds, json.loads(answer.body) if answer.body else None


Sample = tuple[Counter, float, int, int]  # calls, wall seconds, write units, the event's bytes (0: none)


def _priced(calls: Counter, wall: float, units: int, event: int) -> Sample:
    """A request's sample: its item writes' units, plus its event's (transactional) if it wrote one."""
    return calls, wall, units + (2 * _units(event) if event else 0), event


def _one_job(client: Any, sizes: Sizes, n: int, noted: bool) -> dict[str, Sample]:
    """One job through create, PATCH, pause, run now and DELETE: each request's sample."""
    name = f"{'noted' if noted else 'plain'}-{n}"
    body = {"name": name, "agentId": AGENT, "schedule": "0 0 1 1 *", "payload": {"action": "X", "n": n}}
    calls, wall, job = _request(client, "POST", "/api/jobs", body, 201)

    def event() -> int:
        return sizes.newest_event(job["id"]) if noted else 0
    seen = {"create": _priced(calls, wall, 2 * (_units(sizes.claim(name)) + _units(sizes.job(job["id"]))), event())}
    path = f"/api/jobs/{job['id']}"
    for case, change in (("patch", {"schedule": "0 0 2 1 *"}), ("pause", {"status": "paused"})):
        calls, wall, _ = _request(client, "PATCH", path, change, 200)
        # without an event a PATCH is one UpdateItem (standard); with one, a transaction of the two
        seen[case] = _priced(calls, wall, (2 if noted else 1) * _units(sizes.job(job["id"])), event())
    calls, wall, run = _request(client, "POST", f"{path}/run", None, 202)
    seen["run_now"] = _priced(calls, wall, (2 if noted else 1) * _units(sizes.run(job["id"], run["id"])), event())
    units = 2 * (_units(sizes.job(job["id"])) + _units(sizes.claim(name)))
    calls, wall, _ = _request(client, "DELETE", path, None, 204)
    seen["delete"] = _priced(calls, wall, units, event())
    return seen


def _summary(samples: list[Sample]) -> dict[str, Any]:
    first = samples[0][0]
    return {"calls": dict(sorted(first.items())),
            "dynamodb_calls": sum(v for k, v in first.items() if k.startswith("dynamodb.")),
            "write_units": statistics.median(s[2] for s in samples),
            "event_bytes": statistics.median(s[3] for s in samples),
            "median_ms_moto": round(statistics.median(s[1] for s in samples) * 1000, 2),
            "same_every_time": all(s[0] == first for s in samples), "requests": len(samples)}


def measure(requests: int = REQUESTS) -> dict[str, Any]:
    """Every case, with and without events, ``requests`` jobs each (interleaved, so load hits both alike)."""
    from chalice.test import Client

    from app import app

    sizes = Sizes()
    runs: dict[bool, list[dict[str, Sample]]] = {True: [], False: []}
    with Client(app) as client:
        _one_job(client, sizes, -1, True)  # clients, queue URL, imports: once per process
        for n in range(requests):
            runs[True].append(_one_job(client, sizes, n, True))
            with _events_off():
                runs[False].append(_one_job(client, sizes, n, False))
    cases: dict[str, Any] = {}
    for case in runs[True][0]:
        after, before = _summary([r[case] for r in runs[True]]), _summary([r[case] for r in runs[False]])
        cases[case] = {"before": before, "after": after,
                       "extra_dynamodb_calls": after["dynamodb_calls"] - before["dynamodb_calls"],
                       "extra_write_units": after["write_units"] - before["write_units"]}
    return {"cases": cases, "requests": requests}


def main() -> int:
    """``python -m bench.events [--part] [--quick]``: JSON on stdout; alone (no ``--part``), also
    merged into bench/results.json (key ``events``) and docs/benchmarks.md re-rendered."""
    count = 5 if "--quick" in sys.argv else REQUESTS
    return part_main("events", lambda: measure(count))


if __name__ == "__main__":
    raise SystemExit(main())
