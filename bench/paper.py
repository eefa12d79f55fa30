"""The "At AWS scale, on paper" section: capacity and cost from the measured call counts.

Every price is a published us-east-1 on-demand *list* price as we know it; check the
pricing pages before quoting (they change, and free tiers are ignored here).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

PRICE = {  # USD, us-east-1, on-demand list prices: check before quoting
    "ddb_write_per_m": 0.625,  # per million write request units (on-demand, since Nov 2024)
    "ddb_read_per_m": 0.125,  # per million read request units
    "sqs_per_m": 0.40,  # per million standard-queue requests (64 KB chunks)
    "lambda_req_per_m": 0.20,  # per million invocations
    "lambda_gb_s": 0.0000166667,  # per GB-second, x86
    "eventbridge_scheduler_per_m": 1.00,  # per million scheduled invocations
}
JOBS, DUE_PER_MIN, BURST = 1_000_000, 10_000, 100_000
PARTITION_WCU = 1_000  # writes/s one partition key value takes
INDEX_ENTRY_KB = 0.2  # a due-index entry: keys + status, schedule, interval, timezone, generation
LAMBDA_GB = 0.5  # the execute function's lambda_memory_size (512 MB)
# A message arrives 1-2 s before its instant (queue.EARLY_MS and SQS's whole-second delays), a burst's
# 2-3 s (queue.BURST_EARLY_MS), and is held until then: Lambda bills the hold. The agent answers in ~0.2 s.
HOLD_S, BURST_HOLD_S, DELIVERY_S = 1.5, 2.5, 0.2
# Units per successful occurrence, items <= 1 KB: advancing nextRunAt changes the index's sort
# key (1 table write + 2 index writes: delete and put); a transaction bills 2 units per item,
# its ConditionCheck included; the executor's GetItem is strongly consistent (1 read unit).
# The tick advances 25 jobs per TransactWriteItems (scheduler.advanceBatch): 2 units for the
# table write; with advanceBatch = 1 it is a plain UpdateItem, 1 unit.
WRITE_UNITS = {"tick advance (batched TransactWriteItems + due-index delete/put)": 4,
               "claim (TransactWriteItems, up to 10 claims each: Put run + Update job's slot/maxRuns)": 4,
               "outcome (TransactWriteItems: Update run + Update job stats, slot, breaker)": 4}
# An accepted (202) run's extra writes: accept (UpdateItem), hold the slot to the deadline
# (UpdateItem), one per heartbeat; its completion replaces the outcome (same 4 units).
ACCEPTED_EXTRA_WRITES, HEARTBEATS = 2, 3
# Executor DynamoDB requests per occurrence (not billed by on-demand, which bills units; they are
# what a burst queues on): batched, one claim and one read per batch of 10, then the outcome.
REQUESTS = {"batched (batches of 10)": 0.1 + 0.1 + 1, "per message": 3}
ADVANCE_BATCH, ADVANCE_TX_MS = 25, (15, 30)  # jobs per advance call; ms per 25-item transaction on AWS
READ_UNITS = {"executor read of the job at the instant (BatchGetItem of the batch, consistent)": 1.0,
              "tick Query, per occurrence (0.2 KB entry, eventually consistent)": INDEX_ENTRY_KB / 4 * 0.5}


def gb_s_per_occurrence(batch: int, hold_s: float = HOLD_S) -> float:
    """Lambda GB-seconds per occurrence: a batch's claim, hold and parallel deliveries, shared by its records."""
    return LAMBDA_GB * (hold_s + DELIVERY_S + 0.05) / batch


def per_million(results: dict[str, Any], batch: int, hold_s: float = HOLD_S,
                accepted: bool = False) -> dict[str, float]:
    """USD per million successful occurrences, by service, for Lambda batches of ``batch`` held
    ``hold_s``; ``accepted``: every run answers 202 and reports later, with HEARTBEATS heartbeats."""
    tick = results["tick"]
    sqs_requests = tick["sends_per_occurrence"] + 2 / batch  # send; receive + delete batch per Lambda batch
    writes, reads, gb_s = sum(WRITE_UNITS.values()), sum(READ_UNITS.values()), gb_s_per_occurrence(batch, hold_s)
    invocations = 1 / batch
    if accepted:  # + the deadline check: its message (send, receive, delete), its read of the run and job
        writes += ACCEPTED_EXTRA_WRITES + HEARTBEATS
        reads, sqs_requests, invocations = reads + 2, sqs_requests + 3, invocations + 1
        gb_s += LAMBDA_GB * 0.05
    costs = {
        "DynamoDB writes": writes * PRICE["ddb_write_per_m"],
        "DynamoDB reads": reads * PRICE["ddb_read_per_m"],
        "SQS": sqs_requests * PRICE["sqs_per_m"],
        "Lambda (executor)": PRICE["lambda_req_per_m"] * invocations + gb_s * 1e6 * PRICE["lambda_gb_s"],
    }
    costs["total"] = sum(costs.values())
    return {k: round(v, 2) for k, v in costs.items()}


def shards_needed(writes: float, window_s: float) -> int:
    """Due-index shards that keep each shard's index writes under PARTITION_WCU/s."""
    return math.ceil(2 * writes / window_s / PARTITION_WCU)


def capacity_rows() -> list[tuple[str, str, str]]:
    """(quantity, steady 10k/min, 100k burst) rows."""
    steady_s = DUE_PER_MIN / 60
    executor_wcu = sum(list(WRITE_UNITS.values())[1:])
    return [
        ("due-index entries read per tick", f"{DUE_PER_MIN:,} ({DUE_PER_MIN * INDEX_ENTRY_KB / 4 * 0.5:,.0f} RRU)",
         f"{BURST:,} ({BURST * INDEX_ENTRY_KB / 4 * 0.5:,.0f} RRU)"),
        ("tick writes (advances, 25 per call)", f"{steady_s:,.0f}/s: {steady_s * 4:,.0f} WRU/s",
         f"{BURST:,} in ≤ 30 s: {BURST * 4 / 30:,.0f} WRU/s"),
        ("index writes per shard, 4 shards", f"{2 * steady_s / 4:,.0f}/s",
         f"{2 * BURST / 30 / 4:,.0f}/s (limit ~1,000)"),
        ("SQS SendMessageBatch", f"{DUE_PER_MIN // 10:,}/min", f"{BURST // 10:,} in the tick"),
        ("executor DynamoDB", f"{steady_s:,.0f} RRU/s + {steady_s * executor_wcu:,.0f} WRU/s",
         f"{BURST:,} RRU + {BURST * executor_wcu:,} WRU within the burst's drain time"),
        ("executor Lambda concurrency (batches of 10)",
         f"~{steady_s / 10 * (HOLD_S + DELIVERY_S + 0.05):,.0f}",
         f"{BURST // 10:,} to start all in one second (account default: 1,000)"),
    ]


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _cost_table(results: dict[str, Any]) -> str:
    """USD per million occurrences by service: batches of 10, a burst's, batches of 1, accepted runs;
    next to EventBridge Scheduler."""
    columns = [per_million(results, 10), per_million(results, 10, BURST_HOLD_S), per_million(results, 1),
               per_million(results, 10, accepted=True)]
    rows = [(name, *(f"${c[name]:.2f}" for c in columns)) for name in columns[0]]
    rows.append(("Lambda GB-s per occurrence (hold included)",
                 *(f"{g:.3f}" for g in (gb_s_per_occurrence(10), gb_s_per_occurrence(10, BURST_HOLD_S),
                                        gb_s_per_occurrence(1), gb_s_per_occurrence(10) + LAMBDA_GB * 0.05))))
    rows.append(("EventBridge Scheduler (trigger only, no run history)",
                 *([f"${PRICE['eventbridge_scheduler_per_m']:.2f}"] * len(columns))))
    return md_table(["per million successful occurrences", f"Lambda batches of 10, held {HOLD_S:g} s",
                   f"a burst's batches of 10, held {BURST_HOLD_S:g} s", "batches of 1 (quiet hours)",
                   f"accepted (202) runs, {HEARTBEATS} heartbeats"], rows)


def _measured_gb_s(results: dict[str, Any]) -> str:
    """The local stack's Lambda GB-seconds per occurrence, load by load (bench.lateness)."""
    late = results.get("lateness", {})
    found = [f"({name}) {b['lambda_gb_s_per_occurrence']:g}" for name, b in late.items()
             if isinstance(b, dict) and "lambda_gb_s_per_occurrence" in b]
    if not found:
        return ""
    return ("Measured on the local stack (section 2: every execute invocation's whole duration at 512 MB, "
            f"per occurrence): {', '.join(found)} GB-s. ")


def section(results: dict[str, Any]) -> str:
    """The markdown of the section."""
    units = md_table(["step", "write units"], [(k, v) for k, v in WRITE_UNITS.items()])
    reads = md_table(["step", "read units"], [(k, f"{v:g}") for k, v in READ_UNITS.items()])
    burst30, burst60 = shards_needed(BURST, 30), shards_needed(BURST, 60)
    # The tick's send + advance time on AWS: SendMessageBatch of 10 at 15-20 ms, advance transactions of
    # ADVANCE_BATCH jobs at ADVANCE_TX_MS, 8 threads.
    steady_lo = DUE_PER_MIN / 10 / 8 * 0.015
    steady_hi = DUE_PER_MIN / 10 / 8 * 0.02 + DUE_PER_MIN / ADVANCE_BATCH / 8 * ADVANCE_TX_MS[1] / 1000
    burst_lo = BURST / 10 / 8 * 0.015 + BURST / ADVANCE_BATCH / 8 * ADVANCE_TX_MS[0] / 1000
    burst_hi = BURST / 10 / 8 * 0.02 + BURST / ADVANCE_BATCH / 8 * ADVANCE_TX_MS[1] / 1000
    ten = per_million(results, 10)
    monthly = DUE_PER_MIN * 60 * 24 * 30
    return f"""## At AWS scale, on paper

{JOBS:,} jobs; {DUE_PER_MIN:,} occurrences due every minute ({DUE_PER_MIN / 60:,.0f}/s, {monthly / 1e6:,.0f} M a
month); and a burst of {BURST:,} jobs at the top of the hour. The call counts are the measured ones
above; the units per call follow DynamoDB's billing rules for items of at most 1 KB (a job with a
large payload costs ⌈size / 1 KB⌉ units per write of the job item instead of 1).
Prices are **us-east-1 on-demand list prices as published when this was written: check them**
(free tiers ignored).

{units}

{reads}

Capacity:

{md_table(["", f"steady: {DUE_PER_MIN:,} due per minute", f"burst: {BURST:,} at hh:00"], capacity_rows())}

**Due-index shards.** Each advance writes the index twice (its sort key `nextRunAt` moves), all on
the job's shard: one partition key value, ~{PARTITION_WCU:,} writes/s. The steady load needs one shard.
The burst is advanced by the tick that sees it (lookahead 90 s, so 30–90 s before hh:00): advancing
{BURST:,} jobs in 60 s needs ≥ {burst60} shards, in 30 s ≥ {burst30}. The default of 4 is at its limit
for a 60-s advance and throttles in a 30-s one (and index throttling back-pressures the table's own
writes). **Use `scheduler.dueShards = 16`** for a 100k burst (≈ {2 * BURST / 30 / 16:,.0f} index
writes/s per shard at 30 s, headroom for API writes and hash skew). The tick queries the shards in
parallel, then sends and advances on 8 threads each, {ADVANCE_BATCH} jobs per advance call: at ~10–20 ms
per SendMessageBatch and ~{ADVANCE_TX_MS[0]}–{ADVANCE_TX_MS[1]} ms per {ADVANCE_BATCH}-job transaction on AWS,
the steady 10,000 a minute take ≈ {steady_lo:.0f}–{steady_hi:.0f} s, and the 100k burst ≈
{burst_lo:.0f}–{burst_hi:.0f} s,
inside the tick function's 60-s timeout (one UpdateItem per job, `advanceBatch = 1`, would take
≈ 100–120 s for the burst); see finding 9.

**Lambda.** The steady load keeps ~{DUE_PER_MIN / 60 / 10 * (HOLD_S + DELIVERY_S + 0.05):,.0f} executor
invocations busy (batches of 10, each held 1–2 s before its instant, a burst's 2–3 s). A same-second burst of
{BURST:,} would need {BURST // 10:,} concurrent invocations to start every occurrence within its second;
the account default is 1,000 and Lambda's SQS event source scales up gradually (AWS documents up to
300 more concurrent invocations per minute for standard queues: check), so such a burst drains
over tens of seconds unless concurrency is reserved ahead or the burst is spread over the minute.
DynamoDB on-demand absorbs up to twice a table's previous peak at once; a burst of
{BURST * 8:,} write units within ~15 s is far above a 10k/min table's peak, so pre-warm the
tables (warm throughput) or provision capacity for the hour mark.

**Executor requests.** On-demand DynamoDB bills units, not requests; the requests are what a burst
queues on. Per occurrence: {', '.join(f"{k} {v:g}" for k, v in REQUESTS.items())} (section 2 measures them).
Batching the claim and the read changes no unit: a transaction bills 2 units per item however many
items it carries, and a BatchGetItem bills each item it reads.

**Cost per million successful occurrences**, version-2 features on (overlap slot and maxRuns in the
claim; outcome, overlap hand-over and circuit breaker in the outcome write; accepted runs with
heartbeats and their deadline check in the last column). Executor at 512 MB, held until the instant
({HOLD_S:g} s on average, a burst's {BURST_HOLD_S:g} s) + {DELIVERY_S:g} s agent time per batch; SQS: the tick's sends,
one receive and one delete batch per Lambda batch; the tick function adds ≈ $0.02 per million (a
10–20-s run at 512 MB per 10,000 occurrences, finding 9). {_measured_gb_s(results)}Per-job budgets
and agent concurrency limits are not in this model.

{_cost_table(results)}

At {monthly / 1e6:,.0f} M occurrences a month that is ≈ ${ten['total'] * monthly / 1e6:,.0f} against
≈ ${PRICE['eventbridge_scheduler_per_m'] * monthly / 1e6:,.0f} for EventBridge Scheduler's invocations
alone (which would still need a function to deliver, and keep no run history). Most of our price
is DynamoDB writes, {sum(WRITE_UNITS.values())} units per occurrence, 10 of them in transactions (2 units
per item). Levers, cheapest first: a 128-MB executor (the hold is idle time: most of the Lambda line);
`scheduler.advanceBatch = 1` (one unit less per occurrence, for ~25× the tick's calls); a claim
written as one conditional write of the run (1 unit) with the job's liveness taken from the
GetItem the executor already makes, and the outcome as two plain writes (2 units): with both,
6 units, ≈ ${6 * PRICE['ddb_write_per_m']:.2f} of writes per million; keeping per-job run statistics off the job item
(derive them from the runs table) saves one more.
"""
