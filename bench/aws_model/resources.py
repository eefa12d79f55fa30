"""Shared resources a call waits for: a first-come server (moto), an interpreter whose GIL its
threads take in turns, and a throughput limit (DynamoDB's write and read capacity).

Each offers one command, ``use``: a process yields it and resumes when its work is done.
"""
from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from typing import Any

from .sim import Command, Resume, Sim


class FifoServer:
    """``servers`` identical servers taking requests in arrival order (moto's serialized
    DynamoDB: one server). O(log servers) per request."""

    def __init__(self, servers: int = 1) -> None:
        self._free = [0.0] * servers
        self.busy_ms = 0.0

    def use(self, service_ms: float) -> Command:
        """A command: wait for a server, hold it ``service_ms``, resume."""
        def command(sim: Sim, resume: Resume) -> None:
            start = max(sim.now, heapq.heappop(self._free))
            heapq.heappush(self._free, start + service_ms)
            self.busy_ms += service_ms
            sim.at(start + service_ms, resume)
        return command


class Interpreter:
    """One Python interpreter's GIL: threads take it in turn, first come first served, each for
    at most ``quantum_ms`` (``sys.getswitchinterval()``: 5 ms) before going to the back of the
    line. A thread that waits on I/O gives it up; its next piece of work queues at the back, so
    a thread doing I/O in steps (an HTTP call, a botocore call) waits a whole turn per step
    while many threads are runnable: the convoy that makes one busy interpreter slow."""

    def __init__(self, quantum_ms: float = 5.0, pick_any: bool = False) -> None:
        self.quantum_ms, self.pick_any = quantum_ms, pick_any
        self._line: deque[list[Any]] = deque()  # [ms left, resume]
        self._running = False
        self.busy_ms = 0.0

    def use(self, work_ms: float) -> Command:
        """A command: run ``work_ms`` of Python holding the GIL in turns, resume when done."""
        def command(sim: Sim, resume: Resume) -> None:
            self._line.append([max(work_ms, 0.0), resume])
            self.busy_ms += work_ms
            if not self._running:
                self._running = True
                self._turn(sim)
        return command

    def _turn(self, sim: Sim) -> None:
        if not self._line:
            self._running = False
            return
        if self.pick_any and len(self._line) > 1:  # the OS wakes any waiting thread, not the first
            self._line.rotate(-sim.rng.randrange(len(self._line)))
        job = self._line.popleft()
        ran = min(job[0], self.quantum_ms)
        job[0] -= ran
        sim.at(sim.now + ran, self._after, sim, job)

    def _after(self, sim: Sim, job: list[Any]) -> None:
        if job[0] > 1e-9:
            self._line.append(job)
        else:
            sim.at(sim.now, job[1])
        self._turn(sim)


class Capacity:
    """A throughput limit in units per second with a burst allowance (a token bucket): requests
    over it wait, as throttled calls that the SDK retries with backoff do. ``peak`` records the
    highest one-second rate granted (on-demand's "previous peak")."""

    def __init__(self, per_s: float, burst_s: float = 1.0, retry_ms: float = 0.0) -> None:
        self.per_s, self.burst_s, self.retry_ms = per_s, burst_s, retry_ms
        self._ready = -1e18  # when the units taken so far are refilled (ms)
        self.units = 0.0
        self.throttled = 0
        self._second: dict[int, float] = {}

    def use(self, units: float) -> Command:
        """A command: take ``units``, waiting while the limit is exceeded."""
        def command(sim: Sim, resume: Resume) -> None:
            self._ready = max(self._ready, sim.now - self.burst_s * 1000) + 1000 * units / self.per_s
            wait = max(0.0, self._ready - sim.now - self.burst_s * 1000)
            if wait > 0:
                self.throttled += 1
                wait += self.retry_ms  # a throttled call comes back after its backoff, not at once
            self.units += units
            second = int((sim.now + wait) // 1000)
            self._second[second] = self._second.get(second, 0.0) + units
            sim.at(sim.now + wait, resume)
        return command

    @property
    def peak_per_s(self) -> float:
        """The highest one-second total granted."""
        return max(self._second.values(), default=0.0)


def chain(*commands: Command) -> Command:
    """A command: run ``commands`` one after the other, resume after the last."""
    def command(sim: Sim, resume: Resume) -> None:
        def step(i: int, _: Any = None) -> None:
            if i == len(commands):
                resume(None)
            else:
                def next_step(_: Any = None) -> None:
                    step(i + 1)

                commands[i](sim, next_step)
        step(0)
    return command


def noop() -> Command:
    """A command that resumes at once."""
    return lambda sim, resume: sim.at(sim.now, resume)


Work = Callable[[], Command]
