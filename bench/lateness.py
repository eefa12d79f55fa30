"""Dispatch lateness on the local stack: when does an agent see each occurrence start?

``python -m bench.lateness [--quick] [--merge]`` prints one JSON document on stdout
(``--merge``: and merges it into bench/results.json, re-rendering docs/benchmarks.md).

The stack is the one ``make run`` builds, assembled from its own parts
(:mod:`scripts.local_aws`, :mod:`scripts.local_workers`): moto's threaded server in its
own process on 127.0.0.1 with sharpened SQS long polls, the app's ``tick`` function every 60 s (first
one at once), and SQS pollers calling the app's ``execute`` function. Jobs are seeded
straight into the jobs table, armed a few seconds ahead, so that the *tick* (not the
API's immediate enqueue) dispatches them. Lateness is the test agent's receive time
minus the ``scheduledAt`` in the body it received.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from . import env
from .stats import summary

POLLERS = 8
TICK_PERIOD_S = 60.0
QUIET_LOGGERS = ("werkzeug", "botocore", "urllib3", "pynamodb", "moto", "agentos")
SETTLE_S = 1.0  # no DynamoDB call for this long: the executor has written every outcome


@dataclass(frozen=True)
class Load:
    """``per_second`` occurrences due at each of ``seconds`` consecutive whole seconds, run by
    the batched executor, or by the per-message reference path (``batched=False``); the agent
    answers after ``agent_delay_s``."""

    name: str
    tag: int
    per_second: int
    seconds: int
    description: str
    batched: bool = True
    agent_delay_s: float = 0.0

    @property
    def occurrences(self) -> int:
        """How many occurrences the load has."""
        return self.per_second * self.seconds

    def times(self, start_ms: int) -> list[int]:
        """The scheduled instants, from the whole second ``start_ms`` on."""
        return [start_ms + k * 1000 for k in range(self.seconds) for _ in range(self.per_second)]


def loads(quick: bool, only: str | None = None) -> list[Load]:
    """Loads (a) to (d) of the issues (the full run holds load (b) for longer), each burst also
    through the per-message reference path (``<name>_ref``); ``only``: a comma-separated subset."""
    steady = 10 if quick else 30
    every = [
            Load("a", 0xA1, 50, 1, "50 jobs due in the same second"),
            Load("b", 0xB1, 20, steady, f"a steady 20 occurrences/s for {steady} s"),
            Load("c", 0xC1, 500, 1, "500 jobs due in the same second"),
            Load("d", 0xD1, 1000, 1, "1,000 jobs due in the same second"),
            Load("b_ref", 0xB2, 20, steady, "(b), per message (reference)", batched=False),
            Load("c_ref", 0xC2, 500, 1, "(c), per message (reference)", batched=False),
            Load("d_ref", 0xD2, 1000, 1, "(d), per message (reference)", batched=False),
            # the outcome writes of an agent answering at once share the interpreter with the
            # burst's deliveries; held 2 s, what is left is the read at the instant and the sending
            Load("c_slow", 0xC3, 500, 1, "(c), the agent answering after 2 s", agent_delay_s=2.0)]
    wanted = set(only.split(",")) if only else None
    return [load for load in every if wanted is None or load.name in wanted]


def iso_ms(text: str) -> float:
    """Epoch ms of an ISO-8601 ``...Z`` instant."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000


def wait_until(predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step_s)
    return True


class ClaimLog(logging.Handler):
    """Collects the executor's ``… job=<id> … late_ms=<n>`` lines: how late each attempt started,
    after its claim and its read of the job and before the HTTP call (so lateness splits into
    DynamoDB and delivery)."""

    PATTERN = re.compile(r"\bjob=(\S+) .*\blate_ms=(\d+)")

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.late_ms: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        found = self.PATTERN.search(record.getMessage())
        if found:
            self.late_ms[found.group(1)] = float(found.group(2))


class Stack:
    """Embedded AWS (a child process, as in `make run`), test agent (a child process, as a user's
    agent is a service of its own) and executor pollers (this process)."""

    def __init__(self, workdir: Path, pollers: int) -> None:
        from devtools.agent_process import AgentProcess
        from scripts.local_aws import EmbeddedAws, free_port

        self.aws = EmbeddedAws("127.0.0.1", free_port())
        self.aws.start()
        self.agent = AgentProcess().__enter__()
        self._parsed, self._by_job, self.torn = 0, dict[str, list[Any]](), 0
        config = env.write_config(workdir / "agentos.config.json", self.agent.url, workdir / "logs")
        env.prepare(endpoint=self.aws.endpoint, config_path=config)
        from .counting import COUNTER

        self.counter = COUNTER.install()
        self.claims = ClaimLog()
        executor_log = logging.getLogger("agentos.jobs.executor")
        executor_log.addHandler(self.claims)
        executor_log.setLevel(logging.INFO)
        executor_log.propagate = False
        self.stop = threading.Event()
        self.tick_seconds: list[float] = []
        self._start_pollers(pollers)

    @property
    def tick_dynamodb_calls(self) -> int:
        """The tick's DynamoDB calls so far (its thread and its pools carry the ``tick`` tag)."""
        return int(self.counter.tagged["tick dynamodb"])

    def _start_pollers(self, count: int) -> None:
        """Provision the stage, then start ``count`` SQS pollers on the app's execute function."""
        from chalicelib import handlers as events
        from infra.provision import provision
        from infra.resources import QUEUE_VISIBILITY_S
        from scripts.local_workers import CONCURRENCY, Gate, QueuePoller

        self.resources = provision("dev")
        self.events = events
        self._warm_clients()
        self.arrivals: dict[str, float] = {}  # job id -> ms between the message's arrival and its instant
        self.invocations: list[tuple[int, float]] = []  # (records, ms) of each execute invocation

        def execute(event: dict[str, Any], context: Any) -> Any:
            now = time.time() * 1000
            for record in event.get("Records", []):
                body = json.loads(record["body"])
                self.arrivals[body["jobId"]] = now - body["notBefore"]
            try:
                return events.execute(event, context)
            finally:  # what Lambda would bill: the invocation's whole duration, its hold included
                self.invocations.append((len(event.get("Records", [])), time.time() * 1000 - now))

        slots, gate = threading.Semaphore(CONCURRENCY), Gate()
        for i in range(count):
            QueuePoller(f"executor-{i + 1}", execute, self.resources["queue_url"], QUEUE_VISIBILITY_S,
                        gate, self.stop, slots).start()

    def _warm_clients(self) -> None:
        """Build the executor before the loads, as a warm Lambda container has it (building it
        builds its AWS clients, ``chalicelib.engine.executor.warm_clients``); the cold batch is measured
        separately by ``bench.executor_cost.cold_batch``."""
        from chalicelib import runtime

        runtime.executor()

    def start_ticker(self) -> threading.Event:
        """The tick function now and every 60 s until the returned event is set."""
        from scripts.local_workers import Ticker

        from .counting import TAG

        _tag_tick_pools()

        def timed_tick(event: Any, context: Any) -> Any:
            started = time.perf_counter()
            TAG.name = "tick"  # and in the tick's own pools (_tag_tick_pools): its calls are not the executor's
            try:
                return self.events.tick(event, context)
            finally:
                self.tick_seconds.append(time.perf_counter() - started)

        stop = threading.Event()
        Ticker(timed_tick, TICK_PERIOD_S, "us-east-1", stop).start()
        return stop

    def received(self, job_ids: set[str]) -> list[Any]:
        """The agent's requests for ``job_ids`` so far (each request's body is parsed once: the
        wait polls this every 50 ms in the process that plays the Lambdas)."""
        everything = self.agent.requests
        for request in everything[self._parsed:]:
            try:
                job_id = request.json().get("jobId")
            except ValueError:  # a delivery cut short by its timeout's watchdog: the agent got no body
                self.torn += 1
                continue
            self._by_job.setdefault(job_id, []).append(request)
        self._parsed = len(everything)
        return [r for job_id in job_ids for r in self._by_job.get(job_id, [])]

    def settle(self) -> None:
        """Wait until no DynamoDB call has been in flight or answered for SETTLE_S (every outcome
        written)."""
        last, quiet_since = -1, time.monotonic()
        while time.monotonic() - quiet_since < SETTLE_S:
            now = self.counter.snapshot().service_calls("dynamodb")
            if now != last or self.counter.in_flight["dynamodb"] > 0:
                last, quiet_since = now, time.monotonic()
            time.sleep(0.1)

    def close(self) -> None:
        """Stop the pollers (they die with the process), the agent and the server."""
        logging.disable(logging.CRITICAL)  # pollers in a long poll would log the server's going
        self.stop.set()
        self.agent.stop()
        self.aws.stop()


def _tag_tick_pools() -> None:
    """The tick's thread pools carry its call tag into their threads."""
    import chalicelib.engine.dispatch as dispatch

    from .counting import TAG

    class TaggedPool(ThreadPoolExecutor):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            tag = getattr(TAG, "name", None)

            def carry() -> None:
                TAG.name = tag

            super().__init__(*args, initializer=carry, **kwargs)

    setattr(dispatch, "ThreadPoolExecutor", TaggedPool)  # noqa: B010 (a module attribute, replaced on purpose)


def _hammer(call: Callable[[int, int], Any], seconds: float, threads: int) -> float:
    """Calls per second that ``threads`` threads get through ``call(thread, n)`` in ``seconds``."""
    done, stop = [0] * threads, time.monotonic() + seconds

    def loop(slot: int) -> None:
        while time.monotonic() < stop:
            call(slot, done[slot])
            done[slot] += 1

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return round(sum(done) / seconds, 1)


def calibrate(seconds: float = 2.0, threads: int = 8) -> dict[str, float]:
    """What the stack answers per second now: GetItem, claims (TransactWriteItems), and the
    batched executor's read at the instant (``BatchGetItem10``: one BatchGetItem of ten jobs)."""
    from chalicelib import runtime
    from chalicelib.engine.batch import read_jobs
    from chalicelib.store.models import Trigger
    from chalicelib.store.runs import Occurrence

    from . import seed

    store, runs = runtime.job_store(), runtime.run_store()
    jid, now = seed.job_id(0xCA, int(time.time())), int(time.time() * 1000)
    ten = [seed.job_id(0xCB, int(time.time()) * 10 + i) for i in range(10)]
    seed.write([seed.make_job(j, now + 3_600_000, 4) for j in [jid, *ten]])
    store.find(jid)  # clients and connections first

    def claim(slot: int, n: int) -> None:
        runs.claim(Occurrence(jid, f"run-cal-{now}-{slot}-{n}", now, Trigger.SCHEDULE, 1, 1), now, 60_000, now)

    return {"GetItem": _hammer(lambda slot, n: store.find(jid), seconds, threads),
            "TransactWriteItems": _hammer(claim, seconds, threads),
            "BatchGetItem10": _hammer(lambda slot, n: read_jobs(runs.jobs, ten), seconds, threads)}


def _seed_load(load: Load, lead_ms: int) -> tuple[list[int], set[str]]:
    """Single-run jobs at the load's instants, ``lead_ms`` ahead (rounded up to a whole second)."""
    from chalicelib import runtime

    from . import seed

    now = int(time.time() * 1000)
    start = math.ceil((now + lead_ms) / 1000) * 1000
    times = load.times(start)
    shards = runtime.dispatcher().shards
    jobs = [seed.make_job(seed.job_id(load.tag, i), t, shards, created_ms=now, once=True)
            for i, t in enumerate(times)]
    seed.write(jobs)
    return times, {job.id for job in jobs}


def run_load(stack: Stack, load: Load) -> dict[str, Any]:
    """Seed, tick, wait for every delivery and outcome; lateness and call counts."""
    lead_ms = 3000 + 30 * load.occurrences  # the tick must be done (sent and advanced) before the first instant
    from chalicelib import runtime

    runtime.executor().batched = load.batched
    stack.agent.answer_after(load.agent_delay_s)
    times, ids = _seed_load(load, lead_ms)
    ticks_before, tick_calls_before = len(stack.tick_seconds), stack.tick_dynamodb_calls
    invocations_before, torn_before = len(stack.invocations), stack.torn
    with stack.counter.measure() as tally:
        started = time.perf_counter()
        ticker = stack.start_ticker()
        try:
            timeout = (times[-1] - time.time() * 1000) / 1000 + 30 + load.occurrences * 0.05
            wait_until(lambda: len(stack.received(ids)) >= len(ids), timeout)
            # every message handled (its invocation returned), then no DynamoDB call for a while
            wait_until(lambda: sum(n for n, _ in stack.invocations[invocations_before:]) >= len(ids),
                       timeout + load.agent_delay_s)
            stack.settle()
        finally:  # the ticker's thread would keep a failed run's process alive
            ticker.set()
        busy_s = time.perf_counter() - started
    late = [r.received_at * 1000 - iso_ms(r.json()["scheduledAt"]) for r in stack.received(ids)]
    figures = _load_figures(load, tally, late, busy_s, stack.tick_seconds[ticks_before:], lead_ms)
    executor_calls = tally.service_calls("dynamodb") - (stack.tick_dynamodb_calls - tick_calls_before)
    figures["executor_dynamodb_calls_per_occurrence"] = round(executor_calls / max(load.occurrences, 1), 2)
    figures["batched"] = load.batched
    figures["torn_deliveries"] = stack.torn - torn_before  # bodies the agent never got whole (timed out)
    figures.update(_invocation_figures(stack.invocations[invocations_before:], load.occurrences))
    figures["claimed_late_ms"] = summary([v for k, v in stack.claims.late_ms.items() if k in ids])
    figures["arrived_ms"] = summary([v for k, v in stack.arrivals.items() if k in ids])  # < 0: early
    return figures


def _invocation_figures(invocations: list[tuple[int, float]], occurrences: int) -> dict[str, Any]:
    """Lambda's bill for the load: invocations, records per invocation, GB-seconds per occurrence
    at the execute function's 512 MB (each invocation's whole duration, its hold included)."""
    records = sum(n for n, _ in invocations)
    seconds = sum(ms for _, ms in invocations) / 1000
    return {"invocations": len(invocations), "records_per_invocation": round(records / max(len(invocations), 1), 2),
            "invocation_ms": summary([ms for _, ms in invocations]),
            "lambda_gb_s_per_occurrence": round(0.5 * seconds / max(occurrences, 1), 4)}


def _load_figures(load: Load, tally: Any, late: list[float], busy_s: float, ticks: list[float],
                  lead_ms: int) -> dict[str, Any]:
    """The JSON block of one load."""
    n = max(load.occurrences, 1)
    return {
        "description": load.description,
        "occurrences": load.occurrences, "delivered": len(late),
        "lateness_ms": summary(late), "over_1s": sum(1 for v in late if v >= 1000),
        "lateness_ms_sorted": sorted(round(v, 1) for v in late),
        "tick_s": [round(t, 2) for t in ticks], "lead_ms": lead_ms, "window_s": round(busy_s, 1),
        "calls": dict(sorted(tally.calls.items())), "mean_ms": tally.as_dict()["mean_ms"],
        "dynamodb_calls_per_occurrence": round(tally.service_calls("dynamodb") / n, 2),
        "sqs_calls_per_occurrence": round(tally.service_calls("sqs") / n, 2), "retries": tally.retries,
    }


def run(quick: bool, workdir: Path) -> dict[str, Any]:
    """Every load, one after the other, on one stack."""
    stack = Stack(workdir, POLLERS)
    try:
        capacity = calibrate()
        results = {load.name: run_load(stack, load) for load in loads(quick, os.environ.get("BENCH_LOADS"))}
        capacity_after = calibrate()
    finally:
        stack.close()
    return {"pollers": POLLERS, "tick_period_s": TICK_PERIOD_S, "loads": results,
            "capacity_per_s": {"before": capacity, "after": capacity_after}}


def merge(result: dict[str, Any]) -> None:
    """Put every load of ``result`` into bench/results.json (the last full run) and re-render the docs."""
    from .alone import merge_results
    from .assemble import lateness_blocks

    headline, loads = lateness_blocks(result)
    merge_results("lateness", loads)
    merge_results("lateness_ms", headline)


def main() -> int:
    """Entry point: JSON on stdout, logs on stderr (``--merge``: into bench/results.json and the
    docs too, as the sections measured alone are)."""
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="agentos-bench-") as tmp:
        result = run(env.quick(), Path(tmp))
    if "--merge" in sys.argv[1:]:
        merge(result)
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
