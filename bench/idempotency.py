"""What an ``Idempotency-Key`` costs (contract section 10): AWS calls per create, with and without.

Creates go through the API's own route (``POST /api/jobs``, Chalice's in-process test client, so
the key's wrapper in chalicelib/api/routes.py runs as deployed) against in-process moto, each with
a fresh name and a cron far from now (no immediate enqueue: the create's own calls only). Counted
with bench/counting.py per request, ``CREATES`` times each:

* a plain create;
* a create with a fresh key (take the key: conditional PutItem; keep the answer: UpdateItem);
* the same request again (the answer from the key's record: one GetItem after the failed Put);
* run now plain, run now with a payload (its own item: one PutItem more), a replay.

``python -m bench.idempotency`` measures it alone and merges it into bench/results.json (key
``idempotency``); ``make bench`` runs it as a part of its own (``--part``: JSON on stdout only).
Its subsection of docs/benchmarks.md (1f) is written by bench/report.py (``idempotency_section``).
"""
from __future__ import annotations

import json
from collections import Counter
from typing import Any

from .harness import part_main

CREATES = 20
AGENT = "550e8400-e29b-41d4-a716-446655440000"


def _body(name: str) -> str:
    return json.dumps({"name": name, "agentId": AGENT, "schedule": "0 0 1 1 *", "payload": {"action": "X"}})


def _counted(client: Any, path: str, body: str | None, key: str | None, status: int) -> Counter:
    """One request's AWS calls (``service.Operation`` -> count); asserts its status."""
    from .counting import COUNTER

    headers = {"Content-Type": "application/json", **({"Idempotency-Key": key} if key else {})}
    with COUNTER.measure() as tally:
        answer = client.http.post(path, body=body or b"", headers=headers)
    if answer.status_code != status:
        raise AssertionError(f"{path}: {answer.status_code} {answer.body[:300]!r}")
    return Counter(tally.calls)


def _per_request(tallies: list[Counter]) -> dict[str, Any]:
    """The calls of one request (every request of a case counted the same, or this says so)."""
    first = tallies[0]
    return {"calls": dict(sorted(first.items())), "dynamodb_calls": sum(v for k, v in first.items()
                                                                      if k.startswith("dynamodb.")),
            "sqs_calls": sum(v for k, v in first.items() if k.startswith("sqs.")),
            "same_every_time": all(t == first for t in tallies), "requests": len(tallies)}


def measure(creates: int = CREATES) -> dict[str, Any]:
    """Every case, ``creates`` requests each."""
    from chalice.test import Client

    from app import app

    with Client(app) as client:
        _counted(client, "/api/jobs", _body("warm-up"), None, 201)  # clients and queue URL: once per process
        plain = [_counted(client, "/api/jobs", _body(f"plain-{i}"), None, 201) for i in range(creates)]
        keyed = [_counted(client, "/api/jobs", _body(f"keyed-{i}"), f"key-{i}", 201) for i in range(creates)]
        again = [_counted(client, "/api/jobs", _body(f"keyed-{i}"), f"key-{i}", 201) for i in range(creates)]
        job = json.loads(client.http.post("/api/jobs", body=_body("runs").encode(),
                                          headers={"Content-Type": "application/json"}).body)
        run_path = f"/api/jobs/{job['id']}/run"
        client.http.post(run_path, body=b"", headers={})  # the queue's URL: once per process
        manual = [_counted(client, run_path, None, None, 202) for _ in range(creates)]
        payload = [_counted(client, run_path, json.dumps({"payload": {"n": i}}), None, 202) for i in range(creates)]
        original = json.loads(client.http.post(run_path, body=b"", headers={}).body)["id"]
        replays = [_counted(client, f"/api/runs/{original}/replay", None, None, 202) for _ in range(creates)]
    cases = {"create": _per_request(plain), "create_with_key": _per_request(keyed),
             "create_repeated_with_key": _per_request(again), "run_now": _per_request(manual),
             "run_now_with_payload": _per_request(payload), "replay": _per_request(replays)}
    extra = {k: cases["create_with_key"]["calls"].get(k, 0) - cases["create"]["calls"].get(k, 0)
             for k in set(cases["create_with_key"]["calls"]) | set(cases["create"]["calls"])}
    return {"cases": cases, "key_extra_calls": {k: v for k, v in sorted(extra.items()) if v},
            "key_extra_dynamodb_calls": cases["create_with_key"]["dynamodb_calls"] - cases["create"]["dynamodb_calls"]}


def main() -> int:
    """``python -m bench.idempotency [--part]``: JSON on stdout; alone, also merged into bench/results.json."""
    return part_main("idempotency", measure)


if __name__ == "__main__":
    raise SystemExit(main())
