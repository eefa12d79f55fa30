"""A platform the model runs on: AWS (figures from :mod:`.assumptions` and the cold-start bench),
or the local stack (figures measured by ``make bench`` in the same run).

What differs between them is where an executor's calls wait: on AWS every call runs in parallel
(latency only) and DynamoDB caps the table's throughput; locally every Lambda shares one
interpreter (:class:`.resources.Interpreter`, its GIL) and moto serializes its
DynamoDB and SQS calls.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from typing import Any

from .assumptions import A

# Local SQS calls, moto server, measured on this machine (MEASURED.md): a receive ~60 ms, a send
# ~12 ms. Receives, deletes and visibility changes run one at a time (devtools.moto_patches).
LOCAL_RECEIVE_MS, LOCAL_DELETE_MS, LOCAL_SEND_MS = 60.0, 38.0, 12.0
LOCAL_POLLERS, LOCAL_SLOTS, LOCAL_SHARDS = 8, 128, 4  # bench.lateness POLLERS; scripts.local_workers.CONCURRENCY
LOCAL_DELIVERY_CPU_MS = 2.0  # assumed: an http.client POST on loopback, ~1-2 ms of Python
LOCAL_AGENT_CPU_MS = 2.0  # assumed: the test agent's http.server reading one request
LOCAL_HTTP_MS = 1.0
LOCAL_QUERY_MS = 460.0  # moto's due-index Query scans the table (MEASURED.md: 10,000 items)
LOCAL_ENTRY_APART_MS = 0.1  # moto writes a batch's entries in turn  # loopback to the agent process


@dataclass(frozen=True)
class Latency:
    """A lognormal latency given by its median and p99 (ms)."""

    median_ms: float
    p99_ms: float

    def sample(self, rng: random.Random) -> float:
        """One draw."""
        if self.p99_ms <= self.median_ms:
            return self.median_ms
        sigma = math.log(self.p99_ms / self.median_ms) / 2.326
        return self.median_ms * math.exp(sigma * rng.gauss(0.0, 1.0))


FIXED_ZERO = Latency(0.0, 0.0)


@dataclass(frozen=True)
class Source:
    """The SQS event source: ``mode`` standard, provisioned or fixed (the local pollers)."""

    mode: str
    initial: int  # concurrent batches when messages appear
    per_min: float  # added per minute while messages wait
    most: int  # concurrent batches at most (the mapping's, before the account limit)
    min_pollers: int = 0  # provisioned mode
    max_pollers: int = 0


@dataclass(frozen=True)
class Profile:
    """Everything the simulation needs to know about a platform."""

    name: str
    source: Source
    concurrency_limit: int  # invocations at once (account limit minus other functions)
    receive: Latency  # visible message to invocation (AWS) / a ReceiveMessage (local, serialized)
    claim: Latency  # TransactWriteItems of a batch's claims
    read: Latency  # BatchGetItem at the instant
    outcome: Latency  # TransactWriteItems of one outcome
    delete: Latency  # DeleteMessageBatch (the event source's)
    send: Latency  # the tick's SendMessageBatch
    query_page: Latency  # one due-index Query page
    delivery: Latency  # executor to agent: request received
    answer: Latency  # agent's answer after receiving
    sqs_jitter_ms: float
    cold_ms: float  # a cold start (0: none)
    warm: int  # warm environments at the start
    wcu_per_s: float  # table write capacity (0: unlimited)
    rcu_per_s: float
    throttle_retry_ms: float = 0.0
    shared_cpu: bool = False  # local: one interpreter
    cpu_ms: dict[str, float] | None = None  # local: interpreter ms per call kind
    server_ms: dict[str, float] | None = None  # local: moto's serialized ms per call kind
    shards: int = 4
    lookahead_ms: int = 90_000
    send_threads: int = 0  # the tick's parallel sends (0: PARALLEL_SENDS); moto answers one at a time
    delay_at_send: bool = True  # DelaySeconds computed when each batch is sent (the engine since b85bd10)
    entry_apart_ms: float = 0.0  # between the messages of one send turning visible (moto: one by one)

    def with_source(self, source: Source, name: str) -> Profile:
        """The same platform with another event source configuration."""
        return replace(self, source=source, name=name)


def standard() -> Source:
    """Lambda's standard-mode SQS event source."""
    return Source("standard", int(A["std_initial_batches"]), A["std_per_min"], int(A["std_max_batches"]))


def provisioned(min_pollers: int, max_pollers: int | None = None) -> Source:
    """Provisioned mode with ``min_pollers`` (capped at the documented highest minimum)."""
    low = max(2, min(int(A["min_pollers_cap"]), min_pollers))
    high = int(max_pollers or A["max_pollers_cap"])
    per = int(A["poller_invokes"])
    return Source("provisioned", low * per, A["prov_per_min"], high * per, low, high)


def cold_start_ms(results: dict[str, Any]) -> float:
    """A cold start at the executor's memory: the cold-start bench's ``import app`` + first
    invocation (one full core), scaled by the CPU share Lambda gives 512 MB, plus the sandbox."""
    first = results.get("cold_start", {}).get("first_invocation_s", {}).get("execute", 0.446)
    share = min(1.0, A["memory_mb"] / A["vcpu_mb"])
    return 1000 * first / share + A["sandbox_ms"]


def aws(results: dict[str, Any], source: Source | None = None, name: str = "standard",
        previous_peak_wcu: float | None = None) -> Profile:
    """AWS us-east-1 after a quiet hour; the table took ``previous_peak_wcu`` before (default: a
    table that served the same burst an hour ago, so on-demand allows up to its quota)."""
    peak = A["table_wcu_quota"] if previous_peak_wcu is None else previous_peak_wcu
    wcu = min(A["table_wcu_quota"], max(A["new_table_wcu"], A["peak_factor"] * peak))
    sqs = Latency(A["sqs_call_median_ms"], A["sqs_call_p99_ms"])
    return Profile(
        name=name, source=source or standard(),
        concurrency_limit=int(A["account_concurrency"] - A["other_concurrency"]),
        receive=Latency(A["esm_invoke_median_ms"], A["esm_invoke_p99_ms"]),
        claim=Latency(A["ddb_txn_median_ms"], A["ddb_txn_p99_ms"]),
        read=Latency(A["ddb_read_median_ms"], A["ddb_read_p99_ms"]),
        outcome=Latency(A["ddb_txn_median_ms"], A["ddb_txn_p99_ms"]),
        delete=sqs, send=sqs, query_page=Latency(A["ddb_query_page_ms"], 3 * A["ddb_query_page_ms"]),
        delivery=Latency(A["delivery_median_ms"], A["delivery_p99_ms"]),
        answer=Latency(A["agent_answer_median_ms"], A["agent_answer_p99_ms"]),
        sqs_jitter_ms=A["sqs_delay_jitter_ms"], cold_ms=cold_start_ms(results),
        warm=int(A["warm_after_quiet_hour"]), wcu_per_s=wcu, rcu_per_s=A["table_rcu_quota"],
        throttle_retry_ms=A["throttle_retry_ms"], shards=16)


def local(lateness: dict[str, Any], load: str, agent_delay_ms: float = 0.0) -> Profile:
    """The local stack of bench.lateness running ``load``: 8 pollers, 128 slots, one interpreter,
    moto (figures of the same run).

    The stack's capacity (``capacity_per_s``, before and after the loads, 8 threads for 2 s)
    prices each DynamoDB call: the hammer keeps both the client's interpreter and moto's server
    busy, so each is taken to spend 1 / rate on a call. A call is a per-call part (about a
    GetItem) plus a part per item: a batch claim of n costs get + n x (twi - get). The tick's
    Query and SendMessageBatch take what the load measured: the shard count's query, then the
    shards' queries one after the other on moto, and its sends 8 at a time.
    """
    cap = lateness["capacity_per_s"]
    rate = {k: (cap["before"][k] + cap["after"][k]) / 2 for k in cap["before"]}
    twi, get, bgi = 1000 / rate["TransactWriteItems"], 1000 / rate["GetItem"], 1000 / rate["BatchGetItem10"]
    server = {"claim": max(twi - get, 0.0), "claim_call": get, "read": bgi, "outcome": twi, "get": get,
              "receive": LOCAL_RECEIVE_MS, "delete": LOCAL_DELETE_MS}
    cpu = {k: server[k] for k in ("claim", "claim_call", "read", "outcome", "get")}
    cpu.update({"delivery": LOCAL_DELIVERY_CPU_MS, "agent": LOCAL_AGENT_CPU_MS})
    means = lateness.get(load, {}).get("mean_ms", {})
    # The tick reads the shard count (a Query) first, then queries the shards at once, which moto
    # answers one at a time: latencies s, then s, 2s, ... ks; the phase ends after (k + 1) s.
    k = LOCAL_SHARDS
    one = means.get("dynamodb.Query", LOCAL_QUERY_MS) * (k + 1) / (1 + k * (k + 1) / 2)
    query = (k + 1) * one
    send = means.get("sqs.SendMessageBatch", 8 * LOCAL_SEND_MS) / 8
    zero, agent = FIXED_ZERO, Latency(max(agent_delay_ms, 1.0), max(agent_delay_ms, 1.0))
    return Profile(
        name="local", source=Source("fixed", LOCAL_SLOTS, 0.0, LOCAL_SLOTS), concurrency_limit=LOCAL_SLOTS,
        receive=zero, claim=zero, read=zero, outcome=zero, delete=zero, send=Latency(send, send),
        query_page=Latency(query, query), delivery=Latency(LOCAL_HTTP_MS, LOCAL_HTTP_MS), answer=agent,
        sqs_jitter_ms=10.0, cold_ms=0.0, warm=LOCAL_SLOTS, wcu_per_s=0.0, rcu_per_s=0.0,
        shared_cpu=True, cpu_ms=cpu, server_ms=server, shards=LOCAL_SHARDS,
        entry_apart_ms=LOCAL_ENTRY_APART_MS, send_threads=1)
