"""The "At AWS scale" section of docs/benchmarks.md and its plot, from results.json's ``aws_model``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..paper import md_table
from .calibration import TOLERANCE
from .predictions import BURSTS

CONFIGS = ("standard", "provisioned", "project")
LABELS = {"standard": "standard mode", "provisioned": "provisioned, fixed minimum (10 pollers)",
          "project": "project: raised ahead by the tick"}
PLOT = "aws_lateness_vs_burst.png"

def _s(ms: float) -> str:
    return f"{ms / 1000:,.2f} s" if ms >= 1000 else f"{ms:,.0f} ms"


def calibration_table(block: dict[str, Any]) -> str:
    """Measured against modelled lateness, load by load."""
    rows = [[f"({name})" + ("" if row["calibrated"] else " (not scored)"), _s(row["measured_p50_ms"]),
             _s(row["model_p50_ms"]), _s(row["measured_p99_ms"]), _s(row["model_p99_ms"]),
             f"{row['error']:+.0%}", "yes" if row["within_tolerance"] else "no"]
            for name, row in block["calibration"].items()]
    return md_table(["local load", "measured p50", "model p50", "measured p99", "model p99", "p99 error",
                   f"within {TOLERANCE:.0%}"], rows)


def predictions_table(block: dict[str, Any]) -> str:
    """p50, p99, max and cost of every load under every configuration."""
    rows = []
    for load, configs in block["predictions"].items():
        for config in CONFIGS:
            p = configs[config]
            rows.append([load, LABELS[config], _s(p["p50_ms"]), f"**{_s(p['p99_ms'])}**", _s(p["max_ms"]),
                         f"${p['cost_usd']:,.3f}", p["cold_starts"], p["peak_batches"], p["min_pollers"] or "-"])
    return md_table(["load", "configuration", "p50", "p99", "max", "cost", "cold starts", "peak batches",
                   "pollers raised to"], rows)


def bounds_table(block: dict[str, Any]) -> str:
    """The project's 100,000 burst with one limit lifted at a time."""
    names = {"as_documented": "as documented (account 1,000 invocations, table 40,000 WCU/s)",
             "table_unthrottled": "table throughput unlimited",
             "both": "and the account's concurrency raised to 10,000 (a quota request)",
             "both_and_delay_from_tick_start": "but DelaySeconds counted from the tick's start (before b85bd10)"}
    return md_table(["100,000 due at hh:00, project's design", "p50", "p99", "max"],
                  [[names.get(k, k), _s(v["p50_ms"]), _s(v["p99_ms"]), _s(v["max_ms"])]
                   for k, v in block["bounds_burst_100000"].items()])


def assumptions_table(block: dict[str, Any]) -> str:
    """Every assumed figure with its source."""
    return md_table(["figure", "value", "meaning", "source"], [list(r) for r in block["assumptions"]])


def _p99(block: dict[str, Any], load: str, config: str) -> str:
    return _s(block["predictions"][load][config]["p99_ms"])


def _intro(block: dict[str, Any]) -> str:
    return f"""## At AWS scale

Locally every Lambda is a thread of one interpreter on two cores; on AWS each batch is its own
invocation, and a burst is bounded elsewhere: by how fast Lambda's SQS event source starts
invocations, by cold starts, by DynamoDB's throughput. `bench/aws_model/` is a discrete-event model
of the deployed system (stdlib only, event-driven, batches of 10; {block['seconds']} s for everything
below inside `make bench`; `python -m bench.aws_model --merge` re-runs it on the committed results):
the tick (every 60 s, 90-s lookahead, one Query per shard and 1-MB page, sends 8 batches of 10 at a
time with `DelaySeconds` computed from the tick's start, the burst rule "a second earlier per 200
due at once, at most 3 s"); SQS delays; the event source (standard: 5 concurrent batches, +300 a
minute, at most 1,000; provisioned: 10 invocations per poller from the minimum, +1,000 a minute);
the account's concurrency limit; cold starts (the cold-start bench's first invocation, scaled to the
CPU share of 512 MB); each invocation as the executor runs it (one claim transaction, the hold,
one BatchGetItem at the instant, the deliveries, one outcome transaction each) with a latency
distribution per call; the agent's answer time; DynamoDB's table throughput with on-demand's peak
rule and the per-partition limit of the due shards. Lateness is what the agent sees: its receive
time minus the occurrence's instant. Every figure it assumes is in the table at the end of this
section, with its source.
"""


def _ratio(block: dict[str, Any]) -> str:
    rows = block["calibration"]
    if "c" not in rows or "c_slow" not in rows:
        return "several times"
    return f"{rows['c']['measured_p99_ms'] / rows['c_slow']['measured_p99_ms']:.1f} times"


def _largest(block: dict[str, Any]) -> str:
    row = block["calibration"].get("d")
    if not row:
        return ""
    return (f"On the largest local burst, (d), which the calibration does not score, the model is "
            f"{row['error']:+.0%} off: the stack there is bound by more than the calls priced here "
            "(thread start-up, logging, the agent process and other work on the two cores).")


def _calibration(block: dict[str, Any]) -> str:
    return f"""### Calibration: the model against section 2, same run

The model runs first with the local stack's own parameters: moto serializing DynamoDB and SQS, each
call priced by the capacity hammer of section 2 (a per-call part, about a GetItem, plus a part per
item: a claim of 10 is not 10 transactions), one interpreter whose GIL goes to any waiting thread,
8 pollers and 128 slots, the tick's Query and SendMessageBatch times of each load, and the
phase of the instants within the tick's second (the one thing the bench does not control, read from
the load's earliest arrival). Its p99 must be within {TOLERANCE:.0%} of the measured one:

{calibration_table(block)}

What the calibration taught (the model was changed, not the figures): a fair processor (every thread
an equal share) or a first-come GIL cannot tell (c) from (c_slow): both put the reads at the instant
ahead of the outcome writes, and (c) came out about 4x too fast on the run the model was built
against. Python hands the GIL to *any* waiting thread: with hundreds of outcome writes runnable, a
delivery's next step waits a random, long turn, which is what makes (c) {_ratio(block)} slower than
(c_slow) on the same stack (the model's p50 of (c) stays low: the GIL's hand-off is less random than
"any thread" early in a burst). Two more came from load (b): moto turns the entries of one
SendMessageBatch visible one by one (so pollers receive 1-2 messages, not 10), and `DelaySeconds`
counts from the send while the executor's early window is computed from the tick's start, so every
ms the tick spends before a send is a ms later arrival (and the tick reads the shard count with a
Query of its own before the shards'). {_largest(block)}
"""


def _bounds_text(block: dict[str, Any]) -> str:
    bounds = block["bounds_burst_100000"]
    lifted, from_start, table = (_s(bounds[k]["p99_ms"]) if k in bounds else "-" for k in (
        "both", "both_and_delay_from_tick_start", "table_unthrottled"))
    proj100 = _p99(block, "burst_100000", "project")
    return f"""**100,000 at once** (project: p99 {proj100}) is bounded first by DynamoDB: the claims alone are
400,000 write units to be written in the seconds before the instant, against a default per-table
quota of 40,000 a second (on-demand takes at most twice its previous peak at once, a new table 4,000).
With the table's limit lifted (pre-warmed, its quota raised: both adjustable) p99 is {table}. Next
is the tick itself: it sends 10,000 SendMessageBatch calls 8 at a time (~12 s); each batch's
`DelaySeconds` counts from its own send (until b85bd10 every one counted from the tick's start, and
the last messages landed seconds after their instant: p99 {from_start} with both quotas raised). What
remains is MinimumPollers' cap: 200 pollers run 2,000 batches at once, so 100,000 go in waves.
Within the limits as they are by default the best is p99 {proj100}; with the adjustable quotas
raised, {lifted}."""


def _predictions(block: dict[str, Any]) -> str:
    pred = block["predictions"]
    std10, prov10, proj10 = (_p99(block, "burst_10000", c) for c in CONFIGS)
    steady = pred["steady_10000_per_min"]["standard"]
    return f"""### Predictions for AWS, us-east-1

Bursts are due at hh:00 after a quiet hour (no warm executor, standard mode back at 5 batches);
`steady_10000_per_min` is 10,000 occurrences a minute spread over its seconds, counted after two
minutes of warm-up (its cost is per minute). Cost is per burst: Lambda requests and GB-s (executor
and tick), SQS requests, DynamoDB on-demand units (claim 4, outcome 4, tick 4 write units and the
reads), and poller hours for the hour around a burst in provisioned mode (10 pollers all hour for
the fixed minimum; 2 at rest plus the raise while held for the project).

{predictions_table(block)}

![lateness against burst size](img/{PLOT})

Standard mode starts a burst with 5 batches and adds 5 a second: 10,000 due at once reach their
agents with p99 {std10}, 100,000 with p99 {_p99(block, 'burst_100000', 'standard')}. A fixed minimum of 10 pollers
(100 invocations) and provisioned mode's faster scaling bring 10,000 to {prov10}. The project's design
raises the minimum to what the busiest coming instant needs five minutes before it (100 pollers for
10,000, every batch held at the instant by its own invocation): **p99 {proj10} for 10,000**; cold starts
happen in the early window and are not seen. The steady 10,000 a minute is on time in every
configuration (p99 {_s(steady['p99_ms'])} in standard mode): a steady load keeps the event source
scaled up, so the design changes nothing there and raises nothing.

{_bounds_text(block)}

{bounds_table(block)}
"""


def _engine_cost(block: dict[str, Any]) -> str:
    calls = block["predictions"]["burst_10000"]["project"].get("engine_calls") or {}
    if not calls:
        return ""
    return (f"Over the hour around a burst the engine itself (the model runs its code) makes\n"
            f"{calls['count_queries']:,} COUNT queries with 16 shards and {calls['lambda_calls']} Lambda API "
            f"calls (one read, the raise,\nthe lowering): under a cent of read units.")


def _design(block: dict[str, Any]) -> str:
    return f"""### The design: provisioning ahead of the due index

We know our own future load. With `ProvisionAhead=1` (a stack parameter, off by default; it sets
`AGENTOS_PROVISION_AHEAD` for the tick) the tick runs `chalicelib/engine/provisioning.py` after each
dispatch: one `Select=COUNT` query per due shard over the next 5 minutes (half a read unit each when
nothing is there: nothing more happens, and no Lambda API call is made); when the count is more than
the resting pollers take, one COUNT per shard for the first second of each coming minute (where cron
bursts fall); then `UpdateEventSourceMapping` sets the executor mapping's `MinimumPollers` to
ceil(busiest second / 100), within [2, 200]. The raise is held 7 minutes (the burst's own entries leave
the index when the tick advances them, before the burst is delivered), then the minimum goes back to 2.
The model shows the alternatives do worse: standard mode cannot be told ahead of time, a fixed
minimum pays for its pollers all day and still covers only what it was sized for, and raising the
executor's reserved concurrency does not make the event source start invocations faster.
{_engine_cost(block)} docs/operations.md says when to turn it on and what it costs.
"""


def section(results: dict[str, Any]) -> str:
    """The whole section (the paper estimates follow as a subsection)."""
    from bench import paper

    on_paper = paper.section(results).replace("## At AWS scale, on paper",
                                              "### On paper: capacity and cost per million", 1)
    block = results.get("aws_model")
    if not block:
        return on_paper.replace("### On paper", "## At AWS scale, on paper", 1)
    return "\n".join([_intro(block), _calibration(block), _predictions(block), _design(block),
                      "### Assumptions and sources\n\n" + assumptions_table(block) + "\n", on_paper])


def plot(results: dict[str, Any], path: Path) -> Path | None:
    """p50 and p99 lateness against burst size, one colour per configuration (log-log)."""
    block = results.get("aws_model")
    if not block:
        return None
    from bench.plots import plt, save_figure

    fig, axis = plt.subplots(figsize=(8, 4.5))
    for config, colour in zip(CONFIGS, ("tab:red", "tab:orange", "tab:green"), strict=True):
        p99 = [max(block["predictions"][f"burst_{n}"][config]["p99_ms"], 1.0) for n in BURSTS]
        p50 = [max(block["predictions"][f"burst_{n}"][config]["p50_ms"], 1.0) for n in BURSTS]
        axis.plot(BURSTS, p99, "o-", color=colour, label=f"{LABELS[config]}: p99")
        axis.plot(BURSTS, p50, "s--", color=colour, alpha=0.6, label=f"{LABELS[config]}: p50")
    axis.axhline(2000, color="grey", linestyle=":", label="2 s")
    axis.set(xscale="log", yscale="log", xlabel="occurrences due at hh:00 after a quiet hour",
             ylabel="lateness seen by the agent (ms, log)", title="Predicted lateness on AWS (bench/aws_model)")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=7, loc="upper left")
    return save_figure(fig, path)
