"""The minute tick: which occurrences it sends when, and when SQS makes each visible.

As chalicelib.engine.dispatch does it: every 60 s the tick queries each due shard for entries
before ``now + lookahead`` (in parallel, 1 MB pages), sends the occurrences in batches of 10 on
PARALLEL_SENDS threads, each with a ``DelaySeconds`` computed when its batch is sent (before
b85bd10 from the tick's start, so a long send phase made the last messages late; the profile's
``delay_at_send=False`` models that), then advances the jobs (25 per transaction, on 8
threads; each shard's index writes limited to one partition's write rate).
"""
from __future__ import annotations

import heapq
import math
from collections import Counter
from dataclasses import dataclass, field

from chalicelib.store.sqs import (
    BATCH,
    BURST_EARLY_MS,
    BURST_SIZE,
    BURST_STEP,
    PARALLEL_SENDS,
    delay_seconds,
)

from .assumptions import A
from .profile import Profile
from .sim import Sim

PERIOD_MS = 60_000
ENTRY_KB, PAGE_KB = 0.2, 1024.0  # a due-index entry; a Query page
ADVANCE_BATCH, ADVANCE_THREADS = 25, 8


@dataclass
class TickLog:
    """What the ticks did (for the cost and the report)."""

    ticks: int = 0
    queries: int = 0
    sends: int = 0
    advance_calls: int = 0
    seconds: list[float] = field(default_factory=list)


def burst_early(instants: list[int]) -> dict[int, int]:
    """How much earlier each burst instant's messages are meant to arrive (sqs._burst_instants)."""
    counts = Counter(instants)
    return {at: min(BURST_EARLY_MS, 1000 * -(-n // BURST_STEP)) for at, n in counts.items() if n >= BURST_SIZE}


def _by_shard(instants: list[int], shards: int) -> list[int]:
    """The occurrences in the order the tick sends them: shard by shard (jobs hash evenly over
    the shards), each shard's in time order."""
    return [t for shard in range(shards) for t in sorted(instants[shard::shards])]


def _parallel_ends(sim: Sim, profile: Profile, calls: int, threads: int, start: float) -> list[float]:
    """When each of ``calls`` calls, spread over ``threads`` threads from ``start``, ends."""
    free = [start] * max(1, min(threads, calls))
    ends = []
    for _ in range(calls):
        began = heapq.heappop(free)
        done = began + profile.send.sample(sim.rng)
        heapq.heappush(free, done)
        ends.append(done)
    return ends


def dispatch(sim: Sim, profile: Profile, now: float, instants: list[int], log: TickLog) -> list[tuple[float, int]]:
    """One tick's dispatch of ``instants`` (sorted): (visible at, instant) per message."""
    per_shard = len(instants) / profile.shards
    pages = max(1, math.ceil(per_shard * ENTRY_KB / PAGE_KB))
    queried = now + sum(profile.query_page.sample(sim.rng) for _ in range(pages))
    log.queries += pages * profile.shards
    early = burst_early(instants)
    # dispatch sends what the shards returned, shard after shard, each in nextRunAt order
    ordered = _by_shard(instants, profile.shards)
    batches = [ordered[i:i + BATCH] for i in range(0, len(ordered), BATCH)]
    ends = _parallel_ends(sim, profile, len(batches), profile.send_threads or PARALLEL_SENDS, queried)
    log.sends += len(batches)
    visible: list[tuple[float, int]] = []
    for batch, sent in zip(batches, ends, strict=True):
        jitter = sim.rng.uniform(0, profile.sqs_jitter_ms)
        for k, instant in enumerate(batch):
            clock = sent if profile.delay_at_send else now  # (before b85bd10: the tick's start for every send)
            delay = 1000 * delay_seconds(instant - early.get(instant, 0), int(clock))
            # moto stamps each entry of a batch in turn: its messages turn visible one by one
            apart = k * profile.entry_apart_ms
            visible.append((sent + delay + jitter + apart, instant))  # the delay runs from the send
    advances = math.ceil(len(instants) / ADVANCE_BATCH)
    log.advance_calls += advances
    index_s = 2 * per_shard / A["partition_wcu"]  # each advance moves the entry: delete + put
    sent_all = max(ends, default=queried)
    advanced = max(sent_all + advances / ADVANCE_THREADS * profile.claim.median_ms, sent_all + 1000 * index_s)
    log.ticks += 1
    log.seconds.append(round((advanced - now) / 1000, 2))
    return visible


def schedule(sim: Sim, profile: Profile, instants: list[int], first_tick_ms: float,
             deliver: object) -> TickLog:
    """Run the ticks from ``first_tick_ms`` until every instant is sent; ``deliver(visible_at,
    instant)`` is called when each message becomes visible."""
    log = TickLog()
    pending = sorted(instants)
    tick_at = first_tick_ms
    while pending:
        horizon = tick_at + profile.lookahead_ms
        cut = next((i for i, t in enumerate(pending) if t >= horizon), len(pending))
        due, pending = pending[:cut], pending[cut:]
        if due:
            for visible_at, instant in dispatch(sim, profile, tick_at, due, log):
                sim.at(visible_at, deliver, instant)  # type: ignore[arg-type]
        tick_at += PERIOD_MS
    return log
