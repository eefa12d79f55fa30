"""The findings of docs/benchmarks.md: what still misses and why, what earlier runs found that the
engine has fixed since (with the new figures), and the suggested fixes."""
from __future__ import annotations

from typing import Any

# Figures of the last report taken on the older engine (commit 2dda414, quick run), quoted where
# a finding is now fixed so the before/after stands side by side.
BEFORE = {"lateness_p99_a": 5_377, "lateness_p99_b": 13_470, "lateness_p99_c": 16_929,
          "cold_clients": 10, "cold_s": 5.31, "warm_s": 0.91, "tx_ms_20k_as_is": 3_967,
          "tx_items_20k": 20_162, "skip_calls": 3, "sends_500": 51}
# The report before the second round of fixes (commit b795804, quick run).
# bench.lateness --quick alone (loads a, b, b_ref, c in that order) on commit 1967467 at 18:55Z, the
# machine's 1-minute load average 2.2 before and 3.1 after (quieter than the full run above).
# In process (in-process moto, one thread, 50 claims and 50 reads of ten); the CPU probe: one run of (c).
BURST = {"step": 200, "early_ms": 3000, "claim_ms_before": 111, "claim_ms_after": 75, "read_ms_before": 35,
         "read_ms_after": 8, "cpu_ms": 6.6,
         # session 6, BENCH_LOADS=c alone, quiet machine: moto's per-item work (/tmp claim-of-ten probe,
         # median of 3), a probe of when each batch's read ended and each attempt began, py-spy --gil
         "claim_ms_now": 49, "read_done_ms": 632, "start_p50_before": 2441, "start_p99_before": 4200,
         "finish_share": 45, "claim_alone_ms": 12.2, "claim_in_ten_ms": 6.5,
         # session 7: load (c) with the agent (its own process) answering after 5 s
         "timeouts_5s": 33}
ROUND1 = {"p99_a": 862, "p99_b": 6_632, "p99_c": 12_330, "arrived_b_p99": 3_806, "arrived_c_p99": 8_805,
          "get_per_s": 92.5, "tx_per_s": 35.5, "tick_calls": 1.008, "import_ratio": 1.83, "import_app_s": 0.505}


def _late(results: dict[str, Any], load: str, key: str = "p99") -> str:
    block = results["lateness"].get(load)
    return f"{block['lateness_ms'][key]:,.0f} ms" if block else "n/a"


def _passes(results: dict[str, Any], load: str) -> bool:
    block = results["lateness"].get(load)
    return bool(block) and block["lateness_ms"]["p99"] < 1000


def lateness_finding(results: dict[str, Any]) -> str:
    """Lateness on the local stack: the second round of fixes, and what bounds it now."""
    late = results["lateness"]
    cap = late["capacity_per_s"]["before"]
    ok_a, ok_b = _passes(results, "a"), _passes(results, "b")
    verdict = ("both meet the 1-s target" if ok_a and ok_b else
               "load (a) meets the 1-s target, load (b) does not" if ok_a else
               "load (b) meets the 1-s target, load (a) does not" if ok_b else "both miss the 1-s target")
    per_occ = 2 / max(cap["TransactWriteItems"], 1) + 1 / max(cap["GetItem"], 1)
    arrived_max = {k: late[k]["arrived_ms"]["max"] for k in "abc" if late.get(k, {}).get("arrived_ms", {}).get("n")}
    return f"""1. **Lateness on the local stack: {verdict}** (p99 (a) {_late(results, 'a')}, was {ROUND1['p99_a']:,} ms;
   (b) {_late(results, 'b')}, was {ROUND1['p99_b']:,} ms; "was": the quick run at commit b795804,
   load (b) held 10 s; load (c), then 200 in one second, was {ROUND1['p99_c']:,} ms: bursts are finding 12).
   Five causes, each found with py-spy or the
   arrival/claim split above, and fixed:
   - *The test agent dropped connections.* `http.server` listens with a backlog of 5; in a
     burst the 6th SYN was dropped and retried by the kernel a second later: 7 of load (a)'s 50
     deliveries were exactly ~1 s later than the rest. `devtools/agent_server.py` now listens with 128.
   - *The local executor waited for its held batches.* Each of the 8 pollers received a batch and
     ran it to the end (held until the instant, then delivered) before receiving again, so
     messages that became visible meanwhile waited: load (b)'s arrived up to {ROUND1['arrived_b_p99']:,} ms
     late, (c)'s {ROUND1['arrived_c_p99']:,} ms. Pollers now hand each batch to its own invocation thread (up to
     32, now 128: `scripts/local_workers.CONCURRENCY`), as Lambda's event source does: the latest messages
     now arrive {', '.join(f'({k}) {v:,.0f} ms' for k, v in arrived_max.items())} from their instant (negative: early).
   - *moto's server spent most of a call outside DynamoDB.* Per call it opened a TCP connection
     and a thread (werkzeug's HTTP/1.0), listed its package directory and tried every service's URL
     regexes under one lock to route the request, re-parsed the update expression twice, re-lexed
     the condition, and asked `isinstance` of abstract classes at every node of ten tree walks.
     `devtools/moto_speed.py` keeps connections alive and remembers the
     rest per host, per expression string and per node class (answers unchanged; the DynamoDB
     expression and transaction patches are in `devtools/moto_speed_dynamo.py`).
   - *The claim was an update.* It is now a Put of the whole run item (same condition, same
     item; nothing of an earlier attempt survives that the Update kept but the agent's last
     answer): moto validates no update expression, 10 → 4 ms of CPU per claim in process.
   - *moto shared one interpreter lock with the stack.* The embedded AWS now runs in a child
     process (`scripts/aws_server.py`, dying with its parent), as in `make run`.
   Together: {cap['GetItem']:g} GetItem/s and {cap['TransactWriteItems']:g} TransactWriteItems/s
   (were {ROUND1['get_per_s']:g} and {ROUND1['tx_per_s']:g}),
   {1000 * per_occ:.0f} ms of server time per occurrence on the per-message path. On AWS, calls run in parallel
   and this bound is moto's, not the engine's: the engine's share is its DynamoDB calls per
   occurrence (finding 7, finding 12)."""


def _slow_part(late: dict[str, Any]) -> str:
    """What load (c_slow), every outcome written after every delivery, says about the instant."""
    slow = late.get("c_slow")
    if not slow:
        return ""
    claimed = slow.get("claimed_late_ms", {})
    return (f"Load (c_slow) is (c) with the agent answering each delivery after "
            f"{slow['description'].split('after ')[-1]}, so that every outcome is written after every delivery: "
            f"p99 {slow['lateness_ms']['p99']:,.0f} ms, each attempt starting {claimed.get('p50', 0):,.0f} / "
            f"{claimed.get('p99', 0):,.0f} ms (p50 / p99) after the instant. That is the instant's own part: "
            "the read of 500 jobs (50 BatchGetItem) by an embedded DynamoDB that answers one call at a time, "
            f"and 500 deliveries sent from one interpreter.{_read_bound(late)}")


def _read_bound(late: dict[str, Any]) -> str:
    """How long the embedded DynamoDB takes to answer the reads of load (c) at its instant."""
    rate = late["capacity_per_s"]["before"].get("BatchGetItem10")
    c = late.get("c")
    if not rate or not c:
        return ""
    reads = -(-c["occurrences"] // 10)
    return (f" Measured before the loads (8 threads for 2 s), it answers {rate:g} BatchGetItems of ten jobs a "
            f"second: the {reads} reads of (c) alone take {1000 * reads / rate:,.0f} ms of its time at the "
            "instant, before any delivery.")


def burst_finding(results: dict[str, Any]) -> str:
    """Bursts of 500 and 1,000 due in one second: per batch against per message, and the bound."""
    late = results["lateness"]
    cap = late["capacity_per_s"]["before"]
    rows = []
    for name in ("c", "d"):
        got, ref = late.get(name), late.get(f"{name}_ref")
        if not got:
            continue
        line = (f"({name}) {got['occurrences']:,}: p99 {got['lateness_ms']['p99']:,.0f} ms, "
                f"{got.get('executor_dynamodb_calls_per_occurrence', 'n/a')} executor DynamoDB calls per occurrence, "
                f"messages arrived {got['arrived_ms']['p50']:,.0f} / {got['arrived_ms']['max']:,.0f} ms (p50 / max)")
        if ref:
            line += (f"; per message p99 {ref['lateness_ms']['p99']:,.0f} ms, "
                     f"{ref.get('executor_dynamodb_calls_per_occurrence', 'n/a')} calls")
            if ref["delivered"] < ref["occurrences"]:
                line += (f" ({ref['delivered']:,} of {ref['occurrences']:,} delivered within the bench's wait, "
                         f"{ref['retries']} calls retried by botocore)")
        rows.append(line)
    if not rows:
        return ""
    c = late.get("c", {})
    early_ms = -c.get("arrived_ms", {}).get("max", 0)
    return f"""12. **Bursts: per batch, 1.2 DynamoDB calls per occurrence; 500 in one second bounded by one process.**
   {'; '.join(rows)}. The executor claims each SQS batch in one transaction and reads its jobs at
   the instant with one BatchGetItem (`chalicelib/engine/batch.py`): a successful occurrence costs its
   outcome write plus ~0.2 (was 3: a claim, a GetItem and the outcome). A burst is sent to
   arrive earlier, a second per {BURST['step']} due at its instant, at most {BURST['early_ms'] // 1000} s
   (`sqs.BURST_EARLY_MS`), for its claims to be done before it: every message of (c) reached the executor at least
   {early_ms:,.0f} ms before its instant, and a probe found every claim of (c) done 3 s before it and
   every batch's read done {BURST['read_done_ms']} ms after it. Costs of the local stack itself were
   removed (each measured): moto's per-item work in a transaction (a claim of ten in process took
   {BURST['claim_ms_before']} ms, then {BURST['claim_ms_after']}, now ≈ {BURST['claim_ms_now']}: condition parses,
   update-expression copies and checks remembered, `devtools/moto_speed_dynamo.py`), moto's serializer
   walking every attribute of a BatchGetItem's answer through its shape ({BURST['read_ms_before']} →
   {BURST['read_ms_after']} ms for ten jobs), the 128 invocations in one process sharing a pool of 10 HTTP
   connections, and the test agent accepting one connection at a time with a thread started per
   connection (500 deliveries were accepted over ~4 s; it now has workers started with it and a
   backlog of 2048, as uvicorn and gunicorn have). The engine's own: a held batch's attempts were
   started as threads only after the read, behind the burst's hundreds of busy threads, and began
   {BURST['start_p50_before']:,} / {BURST['start_p99_before']:,} ms late (p50 / p99) though the reads were done;
   they now start with the claim and wait for the read (load (c_slow) below shows when they start
   when nothing else competes; in (c) itself each attempt's start, logged after the read and before
   the HTTP call, is {c.get('claimed_late_ms', {}).get('p50', 0):,.0f} /
   {c.get('claimed_late_ms', {}).get('p99', 0):,.0f} ms, behind the outcome writes of the first deliveries).
   What is left, measured in the same run. The test agent serves from a process of its own
   (`devtools/agent_process.py`: a user's agent is a service apart), and one interpreter plays the
   128 Lambda invocations. {_slow_part(late)} With the agent answering at once, load (c), the
   outcome transactions' client side (PynamoDB's expressions, botocore's serializer and signature:
   py-spy `--gil` put {BURST['finish_share']}% of the process's interpreter time there) shares that
   interpreter with the deliveries still to send, and p99 grows to {_late(results, 'c')}. The same
   saturation shows another way: with the agent answering after 5 s, {BURST['timeouts_5s']} of 500
   deliveries failed on the agent's 10-s timeout, their answers waiting in their sockets for the
   interpreter (a probe, not kept in the bench). The embedded DynamoDB answers
   {cap['TransactWriteItems']:g} TransactWriteItems/s, one call at a time. On these
   2 cores the 1-s target for 500 is out of reach by that bound; on AWS each invocation has its own
   CPU and the calls run in parallel, and what the engine controls is the calls per occurrence,
   the early arrival and its threads being ready at the instant. Not done: writing a batch's
   outcomes in one transaction. In process a claim alone costs {BURST['claim_alone_ms']} ms and one of
   ten claims in a transaction {BURST['claim_in_ten_ms']} ms, so it would take about half of the outcomes'
   client work off the local stack; on AWS a transaction is billed per item (two write units each),
   so ten outcomes in one cost what ten cost apart, and it would give the write that the overlap
   hand-over, the circuit breaker, the budgets and the agent slots share a new way to fail (one
   member's condition cancels the other nine)."""


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
   connections now builds **{cold['cold_clients_built']} clients** (was {BEFORE['cold_clients']}, one per thread)
   and takes {cold['cold_s']:.2f} s,
   executor construction included, against {cold['warm_s']:.2f} s warm (was {BEFORE['cold_s']:.2f} s against
   {BEFORE['warm_s']:.2f} s;
   in-process moto, shared machine).
3. **Fixed (tests and local stack): moto's transactions deep-copied whole tables.** moto 5.2.5's
   `transact_write_items` backs up every table it touches with `copy.deepcopy`; `devtools/moto_speed_dynamo.py`
   now backs up only the items the transaction names, for the tests and `make run` alike, and
   `bench/moto_patch.py`, the bench's own copy of that fix, is gone. A claim now takes
   {small.get('mean_ms', 0):g} ms with {small.get('table_items', 0):,} items in the tables and
   {large.get('mean_ms', 0):g} ms with
   {large.get('table_items', 0):,} (in process; was {BEFORE['tx_ms_20k_as_is']:,} ms with {BEFORE['tx_items_20k']:,}
   items on moto as is): flat in
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


def moto_findings() -> str:
    """The moto artifacts that the local stack still inherits."""
    return """6. **Local stack (moto): a GSI Query and SendMessage still walk everything.** moto answers a GSI
   Query by scanning the whole table (section 1), so a local tick's wall time grows with N even
   though the items it reads (and would bill on AWS) do not; and SendMessage computes every queue
   attribute, visiting every queued message (`devtools/moto_speed.py` makes each visit
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
   {paths['success']['dynamodb']:g} DynamoDB calls (target ≤ 3:
   {'pass' if paths['success']['dynamodb'] <= 3 else 'miss'}; minimum 2). Paths above their
   minimum: {listed}. At their minimum: {', '.join(at_min) or 'none'}. The extra call is the GetItem of the
   job after the claim: the message carries neither payload nor agent, and carrying them would
   deliver a payload edited after the tick. A retry writes `retrying` (UpdateItem) before it
   sends the next attempt, so a crash in between is repaired by the next copy of the message."""


def tick_findings(results: dict[str, Any]) -> str:
    """Calls per occurrence; the tick at AWS scale."""
    t = results["tick"]
    batch = t.get("advance_batch") or 25
    writes = t["api_calls"].get("dynamodb.TransactWriteItems", 0) + t["api_calls"].get("dynamodb.UpdateItem", 0)
    calls = t['dynamodb_calls_per_occurrence']
    return f"""8. **Tick: {calls:g} DynamoDB calls per occurrence** (was {ROUND1['tick_calls']:g}: one UpdateItem
   per job + {t['shards']} shard
   queries, which missed the literal ≤ 1 by the queries). `JobStore.advance` now moves up to
   `scheduler.advanceBatch` = {batch} jobs per TransactWriteItems, each with its own condition: {t['occurrences']}
   occurrences took
   {writes} writes and {t['shards']} queries. A job changed since the tick read it fails its condition, drops out
   of the batch and the rest is written again (a lost race, as before); a transaction conflict
   with another write is written again at once, twice at most, then left to the next tick, which
   re-sends and dedupes (`tests/engine/test_dispatch.py`, `tests/test_faults.py`). The price: a
   transactional write bills 2 units per job instead of 1 (+1 of ~12 units per occurrence, "At
   AWS scale"); `scheduler.advanceBatch = 1` keeps one plain conditional UpdateItem per job.
9. **Tick at AWS scale: sends and batched advances on thread pools.** The sends
   (`queue.PARALLEL_SENDS` = 8) and the advance batches (`dispatch.PARALLEL_CALLS` = 8) run on
   thread pools: ≈ 2–4 s for the steady 10,000 a minute and ≈ 25–40 s for a 100k burst on AWS,
   inside the tick function's 60-s timeout (one UpdateItem per job took ≈ 100–120 s for the
   burst). Nothing is lost when a tick times out (the sends come first; the next tick re-sends
   what was not advanced and the run ids dedupe them); for such bursts use `dueShards` = 16
   (index writes per shard partition, "At AWS scale")."""


def _and(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else "".join(names)


def cold_findings(results: dict[str, Any]) -> str:
    """Import time, each function's first call, and package size."""
    c = results["cold_start"]
    pkg = c.get("package", {})
    share = f"{pkg['sdk_share']:.0%}" if "sdk_share" in pkg else "most"
    first = c.get("first_invocation_s", {})
    verdict = "meets" if c["ratio"] <= 1.5 else "misses"
    calls = ", ".join(f"{name} {s:.2f} s ({c.get('first_invocation_ratio', {}).get(name, 0):g}×)"
                      for name, s in first.items()) or "n/a"
    bare = ", ".join(f"{name} {s:.2f} s" for name, s in c.get("first_invocation_without_pyc_s", {}).items()) or "n/a"
    ratios = c.get("first_invocation_ratio", {})
    per_round = ", ".join(f"{name} {r:g}×" for name, r in c.get("first_invocation_ratio_per_round", {}).items()) \
        or "not measured"
    met = [name for name, r in ratios.items() if r <= 1.5]
    missed = [name for name, r in ratios.items() if r > 1.5]
    first_verdict = (f"the 1.5× target is **met** by {_and(met) or 'none'}"
                     + (f" and **missed** by {_and(missed)}" if missed else ""))
    return f"""10. **Cold start: `import app` is {c['ratio']:g}× `import boto3`** ({c['app_s']:.3f} s against
   {c['boto3_s']:.3f} s), which {verdict} the 1.5 target (was {ROUND1['import_ratio']:g}×,
   {ROUND1['import_app_s']:.3f} s: pydantic's models, PynamoDB, croniter and
   boto3 were all imported by every function at `import app`). `app.py` now loads only Chalice and
   the route and handler registrations; `chalicelib.runtime` is a lazy facade, and each function
   loads what it needs on its first call (`tests/test_cold_start.py` checks that `import app`
   loads no pydantic, PynamoDB, croniter or boto3, that the API never loads the executor, and that
   the tick, the executor and a job list load no pydantic). The cost moves, it does not vanish: `import app` plus the
   first invocation of each function, as the user feels it (section 4), is {calls} of
   `import boto3`: {first_verdict} (the session before: api 3.24×, tick 2.95×, execute 3.43×). Done
   (issue 16): one botocore session per process, shared by PynamoDB (which built one per connection
   and per thread) and the SQS and SSM clients (boto3 is no longer imported at all); a model's
   transactions use its own connection's client; a first invocation builds only the clients it calls
   (`tests/test_cold_start.py` counts one session and the clients per function). Then, measured
   piece by piece: the tick and the executor read the config without pydantic (≈ 130–170 ms: its
   import and the models' build; `chalicelib/config.py` reads a plainly valid file itself, and the
   pydantic models, now `config_schema.py`, decide every other file and word every error:
   `tests/test_config_quick.py` checks that both readings agree, on the models' own bounds and on
   generated documents); a list or a get of jobs loads no pydantic either, nor does a plainly valid
   new job (`api_create`, the API's first POST: `chalicelib/api/bodies.py` reads it the same way, and the
   API's pydantic models decide every other body and word every error, `tests/api/test_bodies.py`: it
   measured 2.05× while every create loaded them, ≈ 250 ms of pydantic's import and the models'
   build); a function's first invocation in Lambda
   runs with the cyclic GC paused, then freezes what it built (its collections took 80–90 ms of each
   first invocation and found a dozen cyclic objects: `chalicelib/coldstart.py`); the shared
   session's loader no longer walks botocore's ~400 service directories to check a name, nor decodes
   the model files with an `OrderedDict` per JSON object (the first DynamoDB client ≈ 40–70 ms
   cheaper); croniter comes with the first cron schedule read, asyncio with the first async action
   (≈ 10 and 20 ms); the session reads botocore's endpoint data cut to the three services the
   functions call (`chalicelib/store/endpoints.json`, 32 KB: a session's first client parsed the whole
   1.2 MB `endpoints.json`, ≈ 20–25 ms with the client's use of it, docs/operations.md); sixteen frozen
   value types (`Occurrence`, `Message`, `Prior`, ...) are `NamedTuple`s (a frozen dataclass's
   methods are generated and compiled when it is defined, ≈ 1.2 ms each against ≈ 0.25: the classes
   a first execute defines took 30 ms, now ≈ 11). What is left, with botocore's import counted in
   both (it is ≈ 85–90% of
   `import boto3`; Lambda's runtime provides it): `import app` (Chalice and the registrations,
   ≈ 60 ms cold), PynamoDB ≈ 20 ms, aws-lambda-powertools ≈ 15–20 ms (its package imports Logger,
   Metrics and Tracer together), the botocore session (≈ 10–15 ms: botocore registers its 120
   handlers) and the first DynamoDB client (≈ 30–45 ms: endpoints.json is 1.2 MB, then the service
   model, its rule set and the client's handlers), the tick's and the API's modules (≈ 20–30 ms).
   The executor adds its own modules (≈ 25 ms) and a second DynamoDB client (≈ 5 ms: one per
   PynamoDB connection, each registering its own hook); it no longer builds the SQS client at
   start-up (≈ 10 ms: the first send builds it, and a batch of successful runs sends nothing).
   `api_create` adds the job service's create path and croniter (≈ 20 ms over a list).
   These figures move by ±0.15× from run to run (`import boto3` itself took 0.23–0.39 s from one
   fresh interpreter to the next): the executor measured 1.72× before the SQS change, 1.34× and
   1.47× in the two full runs after it, and the median of each round's own ratio (the pairs side
   by side) is {per_round}. What the first invocation adds to a botocore import is structural:
   the DynamoDB client, PynamoDB, powertools and our modules (≈ 100–120 ms now). Before the endpoint
   data and the value types, these functions sat at 1.3–1.5× on this machine, at the target's edge;
   the figures above are after them. The larger
   lever is bytecode: the same invocations with no .pyc anywhere take
   {bare}, which is what a zip without .pyc pays on every cold start (docs/operations.md).
11. **Package: {pkg.get('mib', '?')} MiB** (was 20.85 MiB, 76% of it boto3/botocore/s3transfer, and no
   .pyc files; the SDK's share now: {share}). `make package` leaves the SDK to Lambda's Python runtime
   and ships every module byte-compiled: without .pyc each cold start compiles what it imports
   (section 4's last column). The decision and its figures are in docs/operations.md ("Package and
   cold start")."""


def section(results: dict[str, Any]) -> str:
    """The findings section."""
    parts = [lateness_finding(results), fixed_findings(results), moto_findings(),
             executor_findings(results), tick_findings(results), cold_findings(results), burst_finding(results)]
    return ("## Findings\n\nEach with its figure, its cause and its fix. Findings 1–5 and 8–10 were misses "
            "of earlier reports that the engine, the local stack and `devtools/` have fixed since; they stay "
            "listed, with the figures before and after.\n\n" + "\n".join(parts) + "\n")
