"""The findings of docs/benchmarks.md: what missed, why, and the suggested fix (with the figures)."""
from __future__ import annotations

from typing import Any


def _late(results: dict[str, Any], load: str, key: str = "p99") -> str:
    block = results["lateness"].get(load)
    return f"{block['lateness_ms'][key]:,.0f} ms" if block else "n/a"


def lateness_finding(results: dict[str, Any]) -> str:
    """Why same-second bursts miss 1 s on the local stack, and the engine change that helps."""
    late, ex = results["lateness"], results["executor"]
    a = late["a"]
    claimed, arrived = a.get("claimed_late_ms", {}), a.get("arrived_ms", {})
    tx = late["capacity_per_s"]["before"]["TransactWriteItems"]
    return f"""1. **Lateness (engine): the DynamoDB calls sit on the critical path.** Load (a) p99 is
   {_late(results, 'a')} (load (b) {_late(results, 'b')}, load (c) {_late(results, 'c')}). Its messages arrived on time
   (median {arrived.get('p50', 0):,.0f} ms, negative = before the instant), but the attempts *started*
   {claimed.get('p50', 0):,.0f} ms (median) / {claimed.get('p99', 0):,.0f} ms (p99) after the instant (the executor's own
   `late_ms`, logged after the claim and the read of the job, before the HTTP call): the
   lateness is queueing for DynamoDB, not delivery. Cause: `Executor.run` holds each message until
   {ex['claim_lead_ms']} ms before its instant (`CLAIM_LEAD_MS`) and only then claims it (TransactWriteItems)
   and reads the job (GetItem), so every claim and read of a burst, and the outcome writes of its
   first deliveries, queue at the instant on a stack that completes ~{tx:g} TransactWriteItems a
   second. Fix (`chalicelib/executor.py`): claim and read as soon as the message arrives (up to
   `EARLY_MS` = {ex['early_ms']} ms early) and hold *after* them, as MEASURED.md suggests; then only the
   HTTP POST happens at the instant and the calls have the early second to drain (50 claims at
   {tx:g}/s take {50 / max(tx, 1):.1f} s, so a 50-burst fits once the stack does ≥ 50 a second). The price: a
   pause in the last second before an instant no longer stops that occurrence. On AWS the change
   takes two DynamoDB round trips off every start.
2. **Executor (engine): the first batch of a new process builds one AWS client per thread.**
   PynamoDB builds a connection's botocore client lazily and without a lock
   (`Connection.client`), and `chalicelib.store.connection()` hands out connections whose client
   does not exist yet. A batch of {ex['cold_batch']['records']} on fresh connections built
   **{ex['cold_batch']['cold_clients_built']} clients** (2 are needed) and took {ex['cold_batch']['cold_s']:.2f} s against {ex['cold_batch']['warm_s']:.2f} s
   warm (in-process moto); each client costs a botocore session and service model, under the GIL.
   Every cold executor container on Lambda pays this on its first batch, and so does the local
   stack's first burst. Fix (`chalicelib/store.py`, `chalicelib/runtime.py`): build the clients
   once, under a lock, when the connections are made (touch `connection.client` in
   `store.connection()`, and `Model._get_connection().connection.client` for each model when
   `runtime.executor()` is built). The lateness loads warm the clients first (a warm container)."""


def moto_findings(results: dict[str, Any]) -> str:
    """The moto artifacts that the local stack inherits."""
    as_is = results["lateness"].get("a_moto_as_is", {})
    tx = as_is.get("mean_ms", {}).get("dynamodb.TransactWriteItems", 0)
    cost = results["executor"].get("transaction_ms", {})
    rows = "; ".join(f"{v['table_items']:,} items: {v['as_is']:,.0f} ms as is, {v['item_level']:,.0f} ms with "
                     "item-level backup" for v in cost.values() if v.get("as_is") is not None)
    as_is_text = (f" Load (a) on the stack as is: p99 {_late(results, 'a_moto_as_is')}, mean TransactWriteItems "
                  f"{tx:,.0f} ms." if as_is else "")
    return f"""3. **Local stack (moto): every transaction deep-copies the tables it touches.** moto 5.2.5's
   `transact_write_items` backs up each table it names with `copy.deepcopy` before running, so a
   claim or outcome write costs time in proportion to everything the jobs and runs tables hold
   (in process, per TransactWriteItems: {rows}). `make run` slows down with every job and every run
   it keeps, and since `devtools/moto_atomic.py` serializes moto's DynamoDB (rightly: it makes
   conditional writes linearizable and stops the copy from racing), each copy now also holds up
   every other DynamoDB call.{as_is_text} Fix (`scripts/local_aws.py` or `devtools/`): back up only the
   items the transaction names, as `bench/moto_patch.py` does for the other loads.
4. **Local stack (moto): SendMessage and a GSI Query walk everything.** moto computes every queue
   attribute on each SendMessage (O(messages queued); `scripts/local_aws.tune_moto_sqs` makes each
   step cheap, the walk remains) and answers a GSI Query by scanning the whole table (section 1),
   so a local tick's wall time grows with N and with the queue even though its reads do not.
   The bench empties the in-process queue between its ticks."""


def executor_findings(results: dict[str, Any]) -> str:
    """Calls over the design minimum, path by path."""
    paths = results["executor"]["paths"]
    over = [f"{name} {p['dynamodb']:g} (minimum {p['design_minimum_dynamodb']}: "
            + ", ".join(f"{k.split('.')[1]} {v:g}" for k, v in p["calls"].items() if k.startswith("dynamodb")) + ")"
            for name, p in paths.items() if p["over_minimum"] > 0]
    listed = "; ".join(over) or "none"
    return f"""5. **Executor: calls over the design minimum.** Success costs {paths['success']['dynamodb']:g} DynamoDB calls
   (target ≤ 3: {'pass' if paths['success']['dynamodb'] <= 3 else 'miss'}; minimum 2). Paths above their minimum: {listed}. The
   GetItem of the job is the one extra read: the message carries neither payload nor agent, and
   carrying them would deliver a payload edited after the tick. On a skip, the read of the job
   (`_gone_reason`) only words the skip record: a fixed reason ("the job was deleted, paused or
   rescheduled") would save it."""


def tick_findings(results: dict[str, Any]) -> str:
    """Send batching per shard; calls per occurrence; the 100k burst on AWS."""
    t = results["tick"]
    return f"""6. **Tick: batches of ten are formed per shard.** {t['occurrences']} occurrences took {t['sends']}
   SendMessageBatch calls, not {-(-t['occurrences'] // 10)}: each shard's `dispatch` sends its own partial batch, so a
   tick costs up to `dueShards − 1` extra sends (within the 0.11 target at D = {t['due']}; at D = 20 on
   4 shards it is 4 sends instead of 2, see `tests/test_bench_smoke.py`). Fix
   (`chalicelib/dispatch.py`), if it matters: plan all shards, then send in one pass.
7. **Tick: {t['dynamodb_calls_per_occurrence']:g} DynamoDB calls per occurrence** ({t['occurrences']} conditional advances + {t['shards']} shard
   queries). The literal "≤ 1" misses by the per-tick queries (1 + {t['shards']}/D); the per-occurrence work is
   exactly one write. An interval job with several occurrences inside the lookahead is advanced
   once for all of them, so real mixes do better.
8. **Tick at AWS scale: a 100k top-of-the-hour burst does not fit one tick invocation.** The tick
   queries at most 8 shards in parallel (`min(shards, 8)` threads) and advances each shard's jobs
   one UpdateItem after another; at 5–10 ms per call, 100,000 advances take 60–125 s on 8
   threads, beyond the tick function's 60-s timeout, and 4 shards put ~830 index writes/s on
   each shard partition if spread over a minute (limit ~1,000). Fix: `dueShards` 16 for such
   bursts, advance with more threads per shard (the conditional writes are independent), and
   give the tick a longer timeout; sends already go first, so the occurrences leave on time."""


def cold_findings(results: dict[str, Any]) -> str:
    """Import time and package size."""
    c = results["cold_start"]
    pkg = c.get("package", {})
    share = f"{pkg['sdk_share']:.0%}" if "sdk_share" in pkg else "most"
    layers = c.get("app_layers_ms", {})
    sdk = layers.get("boto3", 0)
    extra = sum(v for k, v in layers.items() if k != "boto3")
    pyd = layers.get("pydantic", 0) + layers.get("chalicelib.config", 0) + layers.get("chalicelib.schemas", 0)
    verdict = "meets" if c["ratio"] <= 1.5 else "misses"
    return f"""9. **Cold start: `import app` is {c['ratio']:g}× `import boto3`**, which {verdict} the 1.5 target in this run
   (medians of {c['reps']} runs; fastest runs: {c.get('ratio_of_fastest', 0):g}×). On this shared machine the ratio moved
   between 1.4 and 2.6 from run to run while writing the bench; the layered run of section 4 (one
   process importing each layer in turn) puts it at {1 + extra / max(sdk, 1):.2f}×, a steadier figure. `import app` needs boto3 anyway
   (`chalicelib.queue`, PynamoDB), {sdk:,.0f} ms in the layered run; everything else adds
   {extra:,.0f} ms, of which **pydantic is {pyd:,.0f} ms** (its import, then building the models of
   `chalicelib.config`, where pydantic pulls in the rest of itself, and of `chalicelib.schemas`), PynamoDB
   {layers.get('pynamodb.models', 0):,.0f} ms, croniter {layers.get('croniter', 0):,.0f} ms, chalice {layers.get('chalice', 0):,.0f} ms. Every function
   (API, tick, execute) imports the whole `app.py`, so each pays it. Fix: validate
   `agentos.config.json` (a dozen keys) with a small stdlib validator instead of pydantic models,
   and import the API's pydantic schemas (`chalicelib.schemas`) inside the routes that use them;
   without pydantic at import the ratio falls to about {1 + (extra - pyd) / max(sdk, 1):.2f}.
10. **Package: {pkg.get('mib', '?')} MiB, {share} of it boto3/botocore/s3transfer**, which Lambda's Python
   runtime already provides. `requirements.txt` pins boto3 and botocore, so `chalice package`
   ships them. Fix: move them to `requirements-dev.txt` (or accept the runtime's version), which
   shrinks the zip roughly fourfold and its upload and cold-start unzip with it."""


def section(results: dict[str, Any]) -> str:
    """The findings section."""
    parts = [lateness_finding(results), moto_findings(results), executor_findings(results),
             tick_findings(results), cold_findings(results)]
    return "## Findings\n\nEach with its figure, its cause and a suggested fix (none applied by the bench).\n\n" \
        + "\n".join(parts) + "\n"
