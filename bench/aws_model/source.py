"""The SQS event source: how many batches run at once, and how fast that grows.

:class:`EventSource` is Lambda's: a concurrency target that starts at ``Source.initial`` when
messages appear and grows by ``Source.per_min`` while messages wait, up to ``Source.most`` and
the account's limit (standard mode: 5, +300/min, 1,000; provisioned mode: minimum pollers x 10,
+1,000/min, maximum pollers x 10). Each slot receives up to 10 visible messages and invokes.
:class:`LocalPollers` is the local stack's: 8 pollers whose receives moto serializes, each
starting the batch on a thread while up to 128 run (scripts/local_workers.py).
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable

from .executor import Platform, delete, invocation
from .profile import Source
from .resources import chain
from .sim import Process, Resume, Sim, sleep

SCALE_STEP_MS = 1000.0  # how often the target is raised while messages wait
BATCH = 10


class EventSource:
    """Lambda's SQS event source mapping (standard or provisioned mode)."""

    def __init__(self, platform: Platform, source: Source, limit: int) -> None:
        self.platform, self.source, self.limit = platform, source, limit
        self.sim: Sim = platform.sim
        self.ready: deque[int] = deque()
        self.active = 0
        self.target = float(source.initial)
        self.peak = 0
        self._queued = self._scaling = False

    def raise_floor(self, batches: int) -> None:
        """Provisioned mode's minimum raised (the project's design): at least ``batches`` at once."""
        self.target = max(self.target, float(min(batches, self.source.most)))

    def arrive(self, instant: int) -> None:
        """A message became visible."""
        self.ready.append(instant)
        self._soon()

    def _soon(self) -> None:
        if not self._queued:  # every message visible at this instant first, then one pass
            self._queued = True
            self.sim.at(self.sim.now, self._dispatch)

    def _dispatch(self) -> None:
        self._queued = False
        allowed = min(int(self.target + 1e-6), self.source.most, self.limit)  # 60 steps of 1000/60 make 1000
        while self.ready and self.active < allowed:
            batch = [self.ready.popleft() for _ in range(min(BATCH, len(self.ready)))]
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.platform.ledger.receives += 1
            self.sim.start(self._run(batch))
        if self.ready and not self._scaling:
            self._scaling = True
            self.sim.at(self.sim.now + SCALE_STEP_MS, self._scale)

    def _scale(self) -> None:
        if not self.ready:
            self._scaling = False
            return
        self.target = min(float(self.source.most), self.target + self.source.per_min * SCALE_STEP_MS / 60_000)
        self.sim.at(self.sim.now + SCALE_STEP_MS, self._scale)
        self._dispatch()

    def _run(self, batch: list[int]) -> Process:
        yield sleep(self.platform.profile.receive.sample(self.sim.rng))
        yield from invocation(self.platform, batch)
        self.active -= 1
        self._soon()


class LocalPollers:
    """The local stack's pollers (a receive at a time on moto's SQS lock) and invocation slots."""

    def __init__(self, platform: Platform, pollers: int, slots: int) -> None:
        self.platform, self.sim = platform, platform.sim
        self.ready: deque[int] = deque()
        self.free_slots = self.slots = slots
        self.peak = 0
        self._waiting: list[Resume] = []
        for _ in range(pollers):
            self.sim.start(self._poll())

    def raise_floor(self, batches: int) -> None:
        """Nothing to raise locally."""

    def arrive(self, instant: int) -> None:
        """A message became visible: wake the long polls."""
        self.ready.append(instant)
        self._wake()

    def _wake(self) -> None:
        waiting, self._waiting = self._waiting, []
        for resume in waiting:
            self.sim.at(self.sim.now, resume)

    def _wait(self) -> Callable[[Sim, Resume], None]:
        return lambda sim, resume: self._waiting.append(resume)

    def _poll(self) -> Process:
        server = self.platform.sqs_server
        profile = self.platform.profile
        while True:
            if not self.ready or self.free_slots == 0:
                yield self._wait()
                continue
            self.free_slots -= 1
            if server is not None and profile.server_ms:  # moto takes what is visible when it gets the lock
                yield server.use(0.0)
            batch = [self.ready.popleft() for _ in range(min(BATCH, len(self.ready)))]
            if not batch:
                self.free_slots += 1
                continue
            if server is not None and profile.server_ms:
                yield server.use(profile.server_ms["receive"])
            if self.platform.cpu is not None and profile.cpu_ms:  # boto3 parses the answer on the GIL
                yield self.platform.cpu.use(profile.cpu_ms["get"])
            self.platform.ledger.receives += 1
            self.peak = max(self.peak, self.slots - self.free_slots)
            self.sim.start(self._invoke(batch))

    def _invoke(self, batch: list[int]) -> Process:
        yield from invocation(self.platform, batch)
        yield chain(delete(self.platform))
        self.free_slots += 1
        self._wake()
