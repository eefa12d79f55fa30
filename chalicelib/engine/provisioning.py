"""Provisioning ahead of the due index: the executor is made ready for a burst before it is due.

On AWS, a burst is bounded by Lambda's SQS event source, not by the executor: in standard mode
it starts with 5 concurrent batches and adds up to 300 a minute, so 10,000 occurrences due at
hh:00 after a quiet hour start tens of seconds late (bench/aws_model, docs/benchmarks.md "At AWS
scale"). The scheduler knows its own future: every minute the tick looks at the coming
WINDOW_MS of the due index and sets provisioned mode's ``MinimumPollers`` of the executor's
mapping to what the busiest coming instant needs (a poller runs 10 batches of 10 at once),
within [rest, MIN_POLLERS_CAP]; after the burst it sets the resting minimum again.

Cheap when nothing is coming: one ``Select=COUNT`` query per shard over the window (an empty
range is one call and half a read unit); only when that total exceeds what the resting pollers
take does it count, per shard, the first second of each coming minute (where cron's bursts
fall). The Lambda API is called only when the wanted minimum changes (and once per container
to read it). Lowering waits until HOLD_MS after the mapping last changed, since the burst's
entries leave the index (the tick advances them) before the burst is delivered. Any failure is
logged and leaves the tick alone: the next minute tries again.
"""
from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .. import settings
from ..store.due_counts import count_due
from ..store.lambda_api import PollerMapping, Pollers

log = logging.getLogger("agentos.jobs.provisioning")

WINDOW_MS = 5 * 60_000  # how far ahead the tick looks
HOLD_MS = WINDOW_MS + 2 * 60_000  # a raise is kept this long: its burst is due within the window
BATCH = 10  # records per executor invocation (the mapping's batch size)
INVOKES_PER_POLLER = 10  # a provisioned poller runs up to 10 invocations at once (AWS)
MIN_POLLERS_CAP = 200  # the highest MinimumPollers AWS accepts
PEAK_SPAN_MS = 1_000  # an instant's second: cron's bursts fall in the first second of a minute

Counter = Callable[[int, int, int], int]  # (shard, start ms, end ms) -> entries due


def pollers_for(at_once: int, rest: int, cap: int = MIN_POLLERS_CAP) -> int:
    """Minimum pollers for ``at_once`` occurrences due in the same second, within [rest, cap]."""
    needed = math.ceil(at_once / (BATCH * INVOKES_PER_POLLER))
    return max(rest, min(cap, needed))


@dataclass(frozen=True)
class Decision:
    """What one tick found and did."""

    peak: int  # the most occurrences due in one second of the window (at most, when not looked at closely)
    wanted: int  # minimum pollers wanted
    changed: bool  # UpdateEventSourceMapping was called


class Provisioner:
    """Looks at the coming due entries and sets the executor mapping's minimum pollers."""

    def __init__(self, mapping: PollerMapping, shards: int, rest: int, most: int,
                 count: Counter = count_due) -> None:
        self.mapping, self.shards, self.rest, self.most, self.count = mapping, shards, rest, most, count
        self._known: Pollers | None = None  # the mapping as last read or set by this process

    def peak(self, now_ms: int) -> int:
        """The most occurrences due within one second of the window (an upper bound when the
        whole window holds no more than the resting pollers take)."""
        total = self._count_all(now_ms, now_ms + WINDOW_MS)
        if total <= self.rest * BATCH * INVOKES_PER_POLLER:
            return total
        minutes = range(now_ms // 60_000 + 1, (now_ms + WINDOW_MS) // 60_000 + 1)
        return max((self._count_all(m * 60_000, m * 60_000 + PEAK_SPAN_MS) for m in minutes), default=0)

    def _count_all(self, start_ms: int, end_ms: int) -> int:
        with ThreadPoolExecutor(max_workers=min(8, self.shards)) as pool:
            return sum(pool.map(lambda shard: self.count(shard, start_ms, end_ms), range(self.shards)))

    def step(self, now_ms: int) -> Decision:
        """Raise the minimum for a coming burst, or lower it once a raise has been held long enough."""
        peak = self.peak(now_ms)
        wanted = pollers_for(peak, self.rest)
        known = self._known or self.mapping.read()
        current = known.minimum if known.minimum is not None else self.rest  # standard mode: as good as rest
        lower_ok = now_ms >= known.changed_ms + HOLD_MS
        if wanted == current or (wanted < current and not lower_ok):
            self._known = known
            return Decision(peak, wanted, False)
        self.mapping.set_pollers(wanted, max(self.most, wanted))
        self._known = Pollers(wanted, now_ms)
        log.info("provisioning: %s occurrences due at once ahead; minimum pollers %s -> %s", peak, current, wanted)
        return Decision(peak, wanted, True)


_lock = threading.Lock()
_provisioner: Provisioner | None = None


def _built(shards: int) -> Provisioner | None:
    """The process's provisioner (built once), or None when the switch is off or no mapping is named."""
    global _provisioner
    uuid = settings.executor_mapping()
    if not settings.provision_ahead() or uuid is None:
        return None
    with _lock:
        if _provisioner is None or _provisioner.shards != shards:
            rest, most = settings.pollers()
            _provisioner = Provisioner(PollerMapping(uuid), shards, rest, most)
        return _provisioner


def ahead(now_ms: int, shards: int) -> Decision | None:
    """The tick's call: provision for what is due in the next minutes (never raises)."""
    try:
        provisioner = _built(shards)
        return provisioner.step(now_ms) if provisioner is not None else None
    except Exception:  # the Lambda API or the index failed: the tick goes on, the next one tries again
        log.exception("provisioning: not done this minute")
        return None
