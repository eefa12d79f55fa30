"""The findings of docs/benchmarks.md: what still misses and why, what earlier runs found that the
engine has fixed since (with the new figures), and the suggested fixes."""
from __future__ import annotations

from typing import Any

# Figures of the last report taken on the older engine (commit 2dda414, quick run), quoted where
# a finding is now fixed so the before/after stands side by side.
BEFORE = {"lateness_p99_a": 5_377, "lateness_p99_b": 13_470, "lateness_p99_c": 16_929,
          "cold_clients": 10, "cold_s": 5.31, "warm_s": 0.91, "tx_ms_20k_as_is": 3_967,
          "tx_items_20k": 20_162, "skip_calls": 3, "sends_500": 51}


def _late(results: dict[str, Any], load: str, key: str = "p99") -> str:
    block = results["lateness"].get(load)
    return f"{block['lateness_ms'][key]:,.0f} ms" if block else "n/a"


def _passes(results: dict[str, Any], load: str) -> bool:
    block = results["lateness"].get(load)
    return bool(block) and block["lateness_ms"]["p99"] < 1000


def lateness_finding(results: dict[str, Any]) -> str:
    """Lateness on the local stack: what the claim-on-arrival change did, and what bounds it now."""
    late, ex = results["lateness"], results["executor"]
    a = late["a"]
    claimed, arrived = a.get("claimed_late_ms", {}), a.get("arrived_ms", {})
    tx = late["capacity_per_s"]["before"]["TransactWriteItems"]
    get = late["capacity_per_s"]["before"]["GetItem"]
    ok_a, ok_b = _passes(results, "a"), _passes(results, "b")
    verdict = ("both now meet the 1-s target" if ok_a and ok_b else
               "load (a) now meets the target, load (b) does not" if ok_a else
               "load (b) now meets the target, load (a) does not" if ok_b else "both still miss the 1-s target")
    # Server time one burst needs before its instant: a claim and a GetItem per occurrence.
    burst_s = 50 / max(tx, 1) + 50 / max(get, 1)
    window_s = max(ex["early_ms"], -arrived.get("p50", 0)) / 1000  # DelaySeconds is whole seconds
    fits = burst_s <= window_s
    per_occ = 2 / max(tx, 1) + 1 / max(get, 1)  # two transactions and a GetItem per occurrence
    b_arrived = late["b"].get("arrived_ms", {})
    return f"""1. **Lateness on the local stack: claims now happen on arrival (fixed in the engine); {verdict}.**
   Load (a) p99 is {_late(results, 'a')} (was {BEFORE['lateness_p99_a']:,} ms), load (b) {_late(results, 'b')}
   (was {BEFORE['lateness_p99_b']:,} ms), load (c) {_late(results, 'c')} (was {BEFORE['lateness_p99_c']:,} ms). `Executor.run`
   now claims (TransactWriteItems) as soon as SQS hands the message over, up to `EARLY_MS` =
   {ex['early_ms']} ms before the instant, holds until the instant, and then reads the job (one
   strongly consistent GetItem, so a pause or delete during the hold still stops it): only that
   read, the HTTP call and the outcome write are left for after the instant. Load (a)'s messages
   arrived at a median of {arrived.get('p50', 0):,.0f} ms (negative = early) and its attempts started
   {claimed.get('p50', 0):,.0f} ms (median) / {claimed.get('p99', 0):,.0f} ms (p99) after their instant (the executor's own
   `late_ms`, logged after claim, hold and read, before the HTTP call). What bounds it: the embedded
   moto server answers a fixed number of calls per second whatever the thread count
   (`devtools/moto_atomic.py` serializes its DynamoDB, rightly), here ~{tx:g} TransactWriteItems/s and
   ~{get:g} GetItem/s, so a 50-burst's claims and reads need ≈ {burst_s:.1f} s of server time, which
   {'fits in' if fits else 'does not fit in'} the {window_s:.1f} s by which its messages arrived early (`EARLY_MS`, rounded by SQS's
   whole-second `DelaySeconds`){'' if fits else ': the last claims, and the outcome writes of the first deliveries, queue past the instant'}.
   Load (b) asks for 20 × {1000 * per_occ:.0f} ms = {20 * per_occ:.0%} of the server's time each second, so its queue grows
   for as long as it lasts: its messages themselves reach the executor late (arrived p50
   {b_arrived.get('p50', 0):,.0f} ms, p99 {b_arrived.get('p99', 0):,.0f} ms), the pollers being busy with held batches whose calls wait on the
   server. On AWS, DynamoDB calls run in parallel and this bound is moto's, not the engine's; the
   engine's own share is its 4 DynamoDB calls per occurrence (the tick's advance and the executor's three, finding 7)."""


def fixed_findings(results: dict[str, Any]) -> str:
    """Earlier findings that the engine or devtools have fixed since, with the new figures."""
    ex, t = results["executor"], results["tick"]
    cold = ex["cold_batch"]
    tx = ex.get("transaction_ms", {})
    small, large = tx.get("small", {}), tx.get("large", {})
    skip = ex["paths"]["skip_deleted"]
    return f"""2. **Fixed: the first batch of a new executor built one AWS client per thread.** PynamoDB builds
   a connection's botocore client lazily and without a lock; `Executor.__init__` now builds them
   once (`warm_clients`) before any thread runs. A batch of {cold['records']} in a new executor on fresh
   connections now builds **{cold['cold_clients_built']} clients** (was {BEFORE['cold_clients']}, one per thread) and takes {cold['cold_s']:.2f} s,
   executor construction included, against {cold['warm_s']:.2f} s warm (was {BEFORE['cold_s']:.2f} s against {BEFORE['warm_s']:.2f} s;
   in-process moto, shared machine).
3. **Fixed (tests and local stack): moto's transactions deep-copied whole tables.** moto 5.2.5's
   `transact_write_items` backs up every table it touches with `copy.deepcopy`; `devtools/moto_speed.py`
   now backs up only the items the transaction names, for the tests and `make run` alike, and
   `bench/moto_patch.py`, the bench's own copy of that fix, is gone. A claim now takes
   {small.get('mean_ms', 0):g} ms with {small.get('table_items', 0):,} items in the tables and {large.get('mean_ms', 0):g} ms with
   {large.get('table_items', 0):,} (in process; was {BEFORE['tx_ms_20k_as_is']:,} ms with {BEFORE['tx_items_20k']:,} items on moto as is): flat in
   the table's size, as on AWS.
4. **Fixed: a skip read the job to word its reason.** On `JOB_GONE` the executor records a
   fixed reason ("the job was deleted, paused or rescheduled"), and on a duplicate it reads
   nothing (the claim returns the old run item through `ReturnValuesOnConditionCheckFailure`): a
   skip now costs {skip['dynamodb']:g} DynamoDB calls (was {BEFORE['skip_calls']}), a duplicate
   {ex['paths']['duplicate_delivery']['dynamodb']:g}.
5. **Fixed: the tick formed batches of ten per shard.** `Dispatcher.tick` now queries the shards
   in parallel, then dispatches everything they found in one pass, so SendMessageBatch fills up
   across shards: {t['occurrences']} occurrences took **{t['sends']} sends** (⌈D/10⌉ = {-(-t['occurrences'] // 10)}; was
   {BEFORE['sends_500']}), {t['sends_per_occurrence']:g} per occurrence."""


def moto_findings(results: dict[str, Any]) -> str:
    """The moto artifacts that the local stack still inherits."""
    return """6. **Local stack (moto): a GSI Query and SendMessage still walk everything.** moto answers a GSI
   Query by scanning the whole table (section 1), so a local tick's wall time grows with N even
   though the items it reads (and would bill on AWS) do not; and SendMessage computes every queue
   attribute, visiting every queued message (`scripts/aws_server.tune_moto_sqs` makes each visit
   cheap, the walk remains). The bench empties the in-process queue between its ticks."""


def executor_findings(results: dict[str, Any]) -> str:
    """Calls over the design minimum, path by path."""
    paths = results["executor"]["paths"]
    over = [f"{name} {p['dynamodb']:g} (minimum {p['design_minimum_dynamodb']}: "
            + ", ".join(f"{k.split('.')[1]} {v:g}" for k, v in p["calls"].items() if k.startswith("dynamodb")) + ")"
            for name, p in paths.items() if p["over_minimum"] > 0]
    listed = "; ".join(over) or "none"
    at_min = [name for name, p in paths.items() if p["over_minimum"] <= 0]
    return f"""7. **Executor: one read over the design minimum on the paths that deliver.** Success costs
   {paths['success']['dynamodb']:g} DynamoDB calls (target ≤ 3: {'pass' if paths['success']['dynamodb'] <= 3 else 'miss'}; minimum 2). Paths above their
   minimum: {listed}. At their minimum: {', '.join(at_min) or 'none'}. The extra call is the GetItem of the
   job after the claim: the message carries neither payload nor agent, and carrying them would
   deliver a payload edited after the tick. A retry writes `retrying` (UpdateItem) before it
   sends the next attempt, so a crash in between is repaired by the next copy of the message."""


def tick_findings(results: dict[str, Any]) -> str:
    """Calls per occurrence; the tick at AWS scale."""
    t = results["tick"]
    return f"""8. **Tick: {t['dynamodb_calls_per_occurrence']:g} DynamoDB calls per occurrence** ({t['occurrences']} conditional advances + {t['shards']} shard
   queries). The literal "≤ 1" misses by the per-tick queries (1 + shards/D = 1 + {t['shards']}/{t['due']}); the
   per-occurrence work is exactly one write. An interval job with several occurrences inside the
   lookahead is advanced once for all of them, so real mixes do better.
9. **Tick at AWS scale (engine, fixed): sends and advances run on a thread pool.**
   The single-pass dispatch (finding 5) fixed the batching but had moved all sends and all advances
   into one loop (≈ 60–120 s for the steady 10,000 a minute on AWS, at ~10–20 ms per
   SendMessageBatch and ~5–10 ms per UpdateItem). `Dispatcher.dispatch` now keeps the one plan and
   runs the batches (`queue.PARALLEL_SENDS` = 8) and the conditional advances
   (`dispatch.PARALLEL_CALLS` = 8) on thread pools: ≈ 10–15 s for 10,000, and ≈ 100–120 s for a
   100k burst, still beyond the tick function's 60-s timeout. Nothing is lost when a tick times out
   (the sends come first; the next tick re-sends what was not advanced and the run ids dedupe
   them), but for such bursts raise the tick's timeout and `dueShards` to 16 (index writes per
   shard partition, "At AWS scale"), or spread the burst over the minute."""


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
    return f"""10. **Cold start: `import app` is {c['ratio']:g}× `import boto3`**, which {verdict} the 1.5 target in this run
   (medians of {c['reps']} runs; fastest runs: {c.get('ratio_of_fastest', 0):g}×). On this shared machine the ratio moves
   from run to run; the layered run of section 4 (one process importing each layer in turn) puts it
   at {1 + extra / max(sdk, 1):.2f}×, a steadier figure. `import app` needs boto3 anyway (`chalicelib.queue`,
   PynamoDB), {sdk:,.0f} ms in the layered run; everything else adds {extra:,.0f} ms, of which **pydantic is
   {pyd:,.0f} ms** (its import, then building the models of `chalicelib.config`, where pydantic pulls in
   the rest of itself, and of `chalicelib.schemas`), PynamoDB {layers.get('pynamodb.models', 0):,.0f} ms, croniter
   {layers.get('croniter', 0):,.0f} ms, chalice {layers.get('chalice', 0):,.0f} ms. Every function (API, tick, execute) imports the
   whole `app.py`, so each pays it. Fix: validate `agentos.config.json` (a dozen keys) with a small
   stdlib validator instead of pydantic models, and import the API's pydantic schemas
   (`chalicelib.schemas`) inside the routes that use them; without pydantic at import the ratio
   falls to about {1 + (extra - pyd) / max(sdk, 1):.2f}.
11. **Package: {pkg.get('mib', '?')} MiB, {share} of it boto3/botocore/s3transfer**, which Lambda's Python
   runtime already provides. `requirements.txt` pins boto3 and botocore, so `chalice package`
   ships them. Fix: move them to `requirements-dev.txt` (or accept the runtime's version), which
   shrinks the zip roughly fourfold and its upload and cold-start unzip with it."""


def section(results: dict[str, Any]) -> str:
    """The findings section."""
    parts = [lateness_finding(results), fixed_findings(results), moto_findings(results),
             executor_findings(results), tick_findings(results), cold_findings(results)]
    return ("## Findings\n\nEach with its figure, its cause and a suggested fix (none applied by the bench). "
            "Findings 2–5 were misses of the previous report that the engine and `devtools/` have fixed "
            "since; they stay listed, with the figures before and after.\n\n" + "\n".join(parts) + "\n")
