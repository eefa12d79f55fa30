"""docs/benchmarks.md's sections on what the guard rails and the agents' features cost: guard rails (1c),
long runs (1d), the reconciler (1e), quotas (1f), Idempotency-Key (1g). Rendering only: no measuring
module is imported (bench/report.py calls these; the figures come from bench/results.json)."""
from __future__ import annotations

from typing import Any

from .paper import md_table


def guard_rails_section(results: dict[str, Any]) -> str:
    """Section 1d: the cost of a guard rail (measured by bench/guard_rails.py)."""
    rails = results.get("guard_rails")
    if not rails:
        return ""
    base = rails["no limits (reference)"]["dynamodb_per_occurrence"]
    rows = "\n".join(f"| {name} | {v['runs_succeeded']}/{v['repeat']} | {v['dynamodb_per_occurrence']} | "
                     f"{round(v['dynamodb_per_occurrence'] - base, 2):+} | {v['sqs_per_occurrence']} |"
                     for name, v in rails.items())
    note = results.get("guard_rails_meta")
    measured = f"\n\nMeasured {note['at']} on commit {note['commit']}: {note['how']}." if note else ""
    return f"""## 1d. The cost of a guard rail: executor calls per occurrence, limits off and on

Each row delivers {rails['no limits (reference)']['repeat']} occurrences (agent answering 200 at once),
one SQS record per batch, counted side by side in one run, after one uncounted occurrence per
job (the first claim of a budget day costs one more read, write and claim: once a day per job).
A job budget costs no call: its check and its reservation are part of the claim's own
transaction, and its settlement part of the final write. An agent's limits cost its gate (one
conditional UpdateItem when the run starts); with `maxConcurrent`, one read of the agent's item
after the final write (which frees the slot as a third item of its own transaction) to see
whether a run waits (a Query of the waiting line only when one does); with an agent budget, one
UpdateItem replacing the run's reservation by its usage. With no limit configured the executor
makes exactly the calls it made before guard rails existed.

| limits | runs succeeded | DynamoDB calls / occurrence | vs reference | SQS calls / occurrence |
| --- | --- | --- | --- | --- |
{rows}{measured}
"""


def long_runs_section(results: dict[str, Any]) -> str:
    """Calls per accepted run and the deadline check's cost against the runs in progress."""
    long = results.get("long_runs")
    if not long:
        return ""
    life = long["accepted_run"]
    rows = [(name.replace("_", " "), p["dynamodb"], p["sqs"]) for name, p in life["phases"].items()]
    checks = [(f"{c['runs_in_progress']:,}", c["due"], c["timed_out"], c["items_read_per_due_check"],
               c["dynamodb_calls_per_due_check"], c["sqs_calls_per_due_check"]) for c in long["deadline_checks"]]
    return f"""## 1c. Long runs: calls per accepted run, and the deadline check

An accepted (202) run with {life['heartbeats']} heartbeats, counted per run over {life['repeat']} runs:
**{life['dynamodb_per_run']} DynamoDB calls** ({life['dynamodb_per_run_formula']}).

{md_table(["phase", "DynamoDB calls / run", "SQS calls / run"], rows)}

Deadlines are watched by a check message per accepted attempt (delayed to its deadline, re-sent
past SQS's 15-minute limit and after a heartbeat moved it), not by polling a table: the cost is
one read per check that comes due, whatever the number of runs in progress, and nothing at all
while no deadline is due.

{md_table(["runs in progress", "due", "timed out", "items read / due check", "DynamoDB calls / due check",
         "SQS calls / due check"], checks)}{_long_note(results)}
"""


def _long_note(results: dict[str, Any]) -> str:
    note = results.get("long_runs_meta")
    return f"\n\nMeasured {note['at']} on commit {note['commit']}: {note['how']}." if note else ""


def _reconcile_operations(calls: dict[str, int], service: str) -> str:
    """``Query 4, UpdateItem 100``: one service's calls by operation."""
    return ", ".join(f"{k.split('.', 1)[1]} {v}" for k, v in calls.items() if k.startswith(service + ".")) or "none"


def _reconcile_busiest(cases: list[dict[str, Any]]) -> str:
    """What the pass did in the case with the most overdue runs."""
    c = max(cases, key=lambda c: (c["overdue"], c["runs_in_progress"]))
    return (f"with {c['overdue']} overdue among {c['runs_in_progress']:,}, {c['items_read']} index entries read, "
            f"{c['messages_sent']} messages sent ({_reconcile_operations(c['calls'], 'sqs')}: one message each) and "
            f"{c['calls'].get('dynamodb.UpdateItem', 0)} UpdateItems")


def reconcile_section(results: dict[str, Any]) -> str:
    """Section 1e: the reconciler's cost (measured by bench/reconcile.py)."""
    rec = results.get("reconcile")
    if not rec:
        return ""
    cases = rec["cases"]
    rows = [(f"{c['runs_in_progress']:,}", c["overdue"], c["items_read"], f"{c['items_read_per_day']:,}",
             f"{c['dynamodb_calls']} ({_reconcile_operations(c['calls'], 'dynamodb')})", c["messages_sent"],
             f"{c['rechecked']}/{c['overdue']}", f"{c['wall_s']:.3f}", f"{c['scan_items_read']:,}") for c in cases]
    table = md_table(["runs in progress", "overdue", "items read / minute", "items read / day at that rate",
                    "DynamoDB calls",
                    "messages sent", "rechecked", "wall s (moto)", "items read by a Scan (reference)"], rows)
    seeding = ", ".join(f"{s['items']:,} items in {s['seconds']} s" for s in rec["seeding"])
    flat = all(c["items_read"] == c["overdue"] for c in cases)
    verdict = ("**Items read = overdue runs in every case**, whatever the runs in progress: O(overdue)."
               if flat else "**Items read differ from the overdue runs in some case** (see the table).")
    note = results.get("reconcile_meta")
    measured = f"\n\nMeasured {note['at']} on commit {note['commit']}: {note['how']}." if note else ""
    return f"""## 1e. Reconciler: items read per minute, O(overdue)

One reconciler pass, as the minute tick runs it (`runtime.reconciler().run()`,
`chalicelib/engine/reconcile.py`), on runs in progress written straight into the runs table as the engine
writes them ({', '.join(rec['kinds'])}: accepted runs with a future deadline, runs waiting for a
retry, runs waiting to start), of which 0 or 100 are overdue (their `recAt` more than
{rec['grace_ms'] / 1000:g} s past, the three kinds alike). The pass queries the {rec['shards']} shards of the
sparse `overdue` index for `recAt < now - {rec['grace_ms'] / 1000:g} s` (at most {rec['page']} a shard a
pass), re-sends each overdue run's message and moves its `recAt` on (one conditional UpdateItem
each). One pass a minute: items read per pass are the items read per minute. Counted in one run,
on one table that grows from the first size to the second; {rec['repeat']} passes per case (each
overdue case re-marks its runs overdue first), every pass counted the same; wall time is their
median. The bench's agent has no `maxConcurrent`: each slot-limited agent would add one GetItem
of its item and one BatchGetItem of its slot holders (O(limited agents + their slots)).

{table}

{verdict}
With nothing overdue a pass costs its {rec['shards']} empty Queries; {_reconcile_busiest(cases)}.
"Rechecked" counts the overdue runs whose `recAt` the pass moved {rec['recheck_ms'] / 60_000:g} minutes on.
The last column is what a Scan of the runs table for the same overdue runs reads (every run in
progress, once a minute), measured on the same table. Wall time grows with the runs in progress only
because moto answers a GSI Query by scanning the whole table (MEASURED.md); DynamoDB reads (and
bills) the index entries past their time. Seeding through `RunModel.batch_write()`
(BatchWriteItem, 25 per call) into in-process moto: {seeding}.{measured}
"""


def admission_section(results: dict[str, Any]) -> str:
    """Section 1f: what a quota check costs (measured by bench/admission.py)."""
    adm = results.get("admission")
    if not adm:
        return ""
    rows = [(c["case"], f"{c['dynamodb_calls']} ({_reconcile_operations(c['calls'], 'dynamodb')})",
             c["items_read"], c["items_written"], f"{c['wall_ms']:.2f}") for c in adm["cases"]]
    table = md_table(["request", "DynamoDB calls", "items read", "items written", "wall ms (moto, median)"], rows)
    views = "; ".join(f"{label}: runsPerDay {v['runsPerDay']:,}, {v['us_per_view']} µs a view, {v['calls']} calls"
                      for label, v in adm["views"].items())
    note = results.get("admission_meta")
    measured = f"\n\nMeasured {note['at']} on commit {note['commit']}: {note['how']}." if note else ""
    return f"""## 1f. Admission: what a quota check costs

`JobService` creates, changes (a new interval) and deletes {adm['repeat']} jobs of an agent without a quota,
then of one with every quota ({', '.join(f'`{k}` {v:,}' for k, v in adm['quota'].items())}), each request
counted call by call (every request of a case counted the same; wall time is their median). An agent
with `maxJobs` or `maxRunsPerDay` keeps counters on its `agent#<id>` item, moved in the job's own
TransactWriteItems with a condition that keeps them within the quota: no extra call and no read, one
more item written (a PATCH becomes a transaction). `minIntervalMs` and `maxDepth` are decided in
memory. The last row is the first create of an agent whose {adm['existing']} jobs were made before its
counters: the transaction fails its condition, the counters are started (one Query of the `list`
index per status, one BatchGetItem per 100 jobs, one UpdateItem) and the create is written again, once.

{table}

The projection on every job view reads nothing ({adm['view_count']} views timed per schedule): {views}.
An interval's starts are counted arithmetically; a cron's field by field over the dates of the window
(each matching date's matching hours, the matching minutes by bisection), cached per minute,
expression and zone; only a window with a clock change (a DST day) is walked start by start.{measured}
"""


def idempotency_section(results: dict[str, Any]) -> str:
    """Section 1g: what an Idempotency-Key costs a request (measured by bench/idempotency.py)."""
    idem = results.get("idempotency")
    if not idem:
        return ""
    labels = {"create": "POST /api/jobs", "create_with_key": "POST /api/jobs with a new Idempotency-Key",
              "create_repeated_with_key": "the same request again (answered from the key)",
              "run_now": "POST /api/jobs/{id}/run", "run_now_with_payload": "... with {\"payload\": {...}}",
              "replay": "POST /api/runs/{runId}/replay"}
    rows = [(labels.get(name, name), f"{c['dynamodb_calls']} ({_reconcile_operations(c['calls'], 'dynamodb')})",
             f"{c['sqs_calls']} ({_reconcile_operations(c['calls'], 'sqs')})",
             "yes" if c["same_every_time"] else "no") for name, c in idem["cases"].items()]
    table = md_table(["request", "DynamoDB calls", "SQS calls", f"same for all {idem['cases']['create']['requests']}"],
                   rows)
    extra = ", ".join(f"{k.split('.', 1)[1]} {v}" for k, v in idem["key_extra_calls"].items())
    note = results.get("idempotency_meta")
    measured = f"\n\nMeasured {note['at']} on commit {note['commit']}: {note['how']}." if note else ""
    return f"""## 1g. Requests safe to retry: what an Idempotency-Key costs

Each request through the API's route (Chalice's in-process client, in-process moto), counted per request
(`bench/idempotency.py`); creates with a fresh name and a far cron (no immediate enqueue), run-now and
replay on one job. A key adds **{idem['key_extra_dynamodb_calls']} DynamoDB calls** to a create ({extra}:
the conditional Put that takes the key, the write that keeps the answer, both on the runs table); the
same request again costs a Put refused by its condition and one GetItem, and writes nothing else.
A run now with its own payload writes that payload's item (one PutItem more); a replay reads the
original run (one GetItem more) and writes its payload's item. A scheduled occurrence costs
nothing more: its run records the payload it was delivered in the writes it already makes.

{table}{measured}
"""
