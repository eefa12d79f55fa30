"""Executor cost: DynamoDB and SQS calls per occurrence on each path, against the design minimum.

Runs inside ``moto.mock_aws`` with a real HTTP test agent. Each path is run on
``REPEAT`` fresh occurrences and the counts divided by ``REPEAT`` (they are exact).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from chalicelib import runtime
from chalicelib.engine.dispatch import scheduled_run_id
from chalicelib.store.models import JobStatus, Trigger
from chalicelib.store.runs import Occurrence
from chalicelib.store.sqs import Message, encode

from . import seed
from .counting import COUNTER

REPEAT = 5
# The least a path can cost: a claim transaction whose ConditionCheck also checks the job,
# then one write of the outcome (which may update run and job together).
DESIGN_MINIMUM = {"success": 2, "retry_scheduled": 2, "retry_then_success": 2, "last_attempt_failed": 2,
                  "skip_deleted": 2, "skip_paused": 2, "duplicate_delivery": 1}


def cost_message(jid: str, attempt: int = 1, scheduled_ms: int | None = None) -> Message:
    """The queue message of attempt ``attempt`` of a job's occurrence, runnable now."""
    at = scheduled_ms or int(time.time() * 1000)
    occ = Occurrence(job_id=jid, run_id=scheduled_run_id(jid, at), scheduled_ms=at,
                     trigger=Trigger.SCHEDULE, generation=1, attempt=attempt)
    return Message(occ, at)


def cost_record(message: Message, n: int) -> dict[str, Any]:
    """A Lambda-style SQS record."""
    return {"messageId": f"m-{n}", "body": encode(message)}


def cost_jobs(tag: int, status: str = JobStatus.ACTIVE.value, count: int = REPEAT) -> list[str]:
    """``count`` fresh jobs (with name claims) and their ids."""
    jobs = [seed.make_job(seed.job_id(tag, i), int(time.time() * 1000) + 3_600_000, 4, status=status)
            for i in range(count)]
    seed.write(jobs)
    return [job.id for job in jobs]


def _count(messages: list[Message]) -> dict[str, Any]:
    """Run each message through ``handle_batch`` alone; counts per message."""
    executor = runtime.executor()
    with COUNTER.measure() as tally:
        failures = [executor.handle_batch([cost_record(m, i)])["batchItemFailures"] for i, m in enumerate(messages)]
    per = {k: round(v / len(messages), 3) for k, v in sorted(tally.calls.items())}
    return {"calls": per, "dynamodb": round(tally.service_calls("dynamodb") / len(messages), 3),
            "sqs": round(tally.service_calls("sqs") / len(messages), 3),
            "batch_item_failures": sum(len(f) for f in failures)}


def _scenarios(agent: Any) -> dict[str, Callable[[], dict[str, Any]]]:
    """Each path: prepare its jobs and agent answers, then count the executor's calls."""
    def answer(status: int) -> None:
        agent.respond_with(status)

    def success() -> dict[str, Any]:
        answer(200)
        return _count([cost_message(j) for j in cost_jobs(0x10)])

    def deleted() -> dict[str, Any]:
        return _count([cost_message(seed.job_id(0x20, i)) for i in range(REPEAT)])

    def paused() -> dict[str, Any]:
        return _count([cost_message(j) for j in cost_jobs(0x21, JobStatus.PAUSED.value)])

    def retry(attempt: int, status: int, tag: int) -> dict[str, Any]:
        jobs, at = cost_jobs(tag), int(time.time() * 1000)
        if attempt > 1:  # the previous attempt ran and gave up: the run item says "retrying"
            answer(503)
            _count([cost_message(j, attempt - 1, at) for j in jobs])
        answer(status)
        return _count([cost_message(j, attempt, at) for j in jobs])

    def duplicate() -> dict[str, Any]:  # SQS delivers a finished occurrence again
        answer(200)
        jobs, at = cost_jobs(0x30), int(time.time() * 1000)
        _count([cost_message(j, 1, at) for j in jobs])
        return _count([cost_message(j, 1, at) for j in jobs])

    return {
        "success": success,
        "retry_scheduled": lambda: retry(1, 503, 0x11),
        "retry_then_success": lambda: retry(2, 200, 0x12),
        "last_attempt_failed": lambda: retry(3, 503, 0x13),
        "skip_deleted": deleted,
        "skip_paused": paused,
        "duplicate_delivery": duplicate,
    }


def _batch(tag: int) -> tuple[float, int, int]:
    """Ten fresh occurrences in one ``handle_batch`` (ten threads): (seconds, clients built, failures)."""
    records = [cost_record(cost_message(j), i) for i, j in enumerate(cost_jobs(tag, count=10))]
    before = len(COUNTER._clients)
    started = time.perf_counter()
    failures = runtime.executor().handle_batch(records)["batchItemFailures"]
    return time.perf_counter() - started, len(COUNTER._clients) - before, len(failures)


def cold_batch() -> dict[str, Any]:
    """A batch of ten in a new executor on fresh connections (a new Lambda container), then the
    same warm.

    PynamoDB builds a connection's botocore client lazily and without a lock; the executor now
    builds them once (``warm_clients``) when it is made, before its threads start. The count of
    clients built during the cold batch (executor construction included) tells whether that holds.
    """
    from chalicelib.store import aws, dynamo
    from chalicelib.store.models import JobModel, RunModel

    dynamo.connection.cache_clear()
    aws._session = None  # a new container: a new shared session too
    JobModel._connection = None
    RunModel._connection = None
    runtime.reset()  # a new container builds a new executor (and queue) too
    cold_s, cold_clients, cold_failed = _batch(0x40)
    warm_s, warm_clients, warm_failed = _batch(0x41)
    return {"records": 10, "cold_s": round(cold_s, 3), "cold_clients_built": cold_clients,
            "cold_failed": cold_failed, "warm_s": round(warm_s, 3), "warm_clients_built": warm_clients,
            "warm_failed": warm_failed}


def transaction_ms(tag: int, table_items: int, claims: int = 3) -> dict[str, Any]:
    """Mean ms of one claim (TransactWriteItems) with ``table_items`` items in the tables.

    moto's transactions used to deep-copy every table they touch (O(table)); with
    ``devtools.moto_speed`` installed (``bench.env.tune_moto``) they back up only the items
    they name, so this figure should not grow with the tables.
    """
    jid, at = cost_jobs(tag, count=1)[0], int(time.time() * 1000)
    first = cost_message(jid, 1, at - 1).occurrence
    runtime.run_store().claim(first, at, 60_000, at)  # builds the client
    with COUNTER.measure() as tally:
        for n in range(claims):
            occ = cost_message(jid, 1, at + n).occurrence
            runtime.run_store().claim(occ, at, 60_000, at)
    return {"table_items": table_items, "claims": claims,
            "mean_ms": round(tally.mean_ms("dynamodb.TransactWriteItems"), 1)}


def measure(agent: Any) -> dict[str, Any]:
    """Counts of every path, with the design minimum and the gap to it."""
    paths: dict[str, Any] = {}
    for name, run in _scenarios(agent).items():
        figures = run()
        figures["design_minimum_dynamodb"] = DESIGN_MINIMUM[name]
        figures["over_minimum"] = round(figures["dynamodb"] - DESIGN_MINIMUM[name], 3)
        paths[name] = figures
    agent.respond_with(200)
    from chalicelib.engine import progress
    from chalicelib.store import sqs

    return {"claims_on_arrival": True, "early_ms": sqs.EARLY_MS, "hold_max_ms": progress.HOLD_MAX_MS,
            "repeat": REPEAT, "paths": paths, "calls_success": paths["success"]["dynamodb"],
            "sqs_calls_success": paths["success"]["sqs"], "cold_batch": cold_batch(),
            "transaction_ms": {"small": transaction_ms(0x50, table_items())}}


def table_items() -> int:
    """Items in the jobs and runs tables now (moto's transaction copies both)."""
    from chalicelib.store.models import JobModel, RunModel

    return sum(int(model.describe_table()["ItemCount"]) for model in (JobModel, RunModel))
