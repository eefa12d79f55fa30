"""The discrete-event simulator: one clock, one event heap, processes written as generators.

A process is a generator that yields *commands*: a command is a callable ``(sim, resume)`` that
arranges for ``resume(value)`` to be called later (:func:`sleep` schedules it; a resource calls it
when its work is done). Time is in milliseconds. Events at the same instant run in the order they
were scheduled, so a run with a given seed is deterministic.
"""
from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Generator
from typing import Any

Resume = Callable[[Any], None]
Command = Callable[["Sim", Resume], None]
Process = Generator[Command, Any, Any]


class Sim:
    """The clock and the event heap."""

    def __init__(self, seed: int) -> None:
        self.now = 0.0
        self.rng = random.Random(seed)
        self._heap: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = 0

    def at(self, when: float, action: Callable[..., None], *args: Any) -> None:
        """Run ``action(*args)`` at ``when`` (never before now)."""
        heapq.heappush(self._heap, (max(when, self.now), self._seq, action, args))
        self._seq += 1

    def start(self, process: Process) -> None:
        """Start a process now (its first step runs at once)."""
        self._step(process, None)

    def _step(self, process: Process, value: Any) -> None:
        try:
            command = process.send(value)
        except StopIteration:
            return
        def resume(result: Any = None) -> None:
            self._step(process, result)

        command(self, resume)

    def run(self, until: float = float("inf")) -> None:
        """Process events until none is left or the clock would pass ``until``."""
        while self._heap and self._heap[0][0] <= until:
            when, _, action, args = heapq.heappop(self._heap)
            self.now = when
            action(*args)


def sleep(ms: float) -> Command:
    """A command: resume after ``ms``."""
    return lambda sim, resume: sim.at(sim.now + max(ms, 0.0), resume)


def until(when: float) -> Command:
    """A command: resume at ``when`` (at once if it has passed)."""
    return lambda sim, resume: sim.at(max(when, sim.now), resume)


def join(sim: Sim, processes: list[Process]) -> Command:
    """A command: start every process now, resume when all have finished."""
    def command(_: Sim, resume: Resume) -> None:
        left = [len(processes)]
        if not processes:
            sim.at(sim.now, resume)
            return

        def finished(process: Process) -> Process:
            yield from process
            left[0] -= 1
            if left[0] == 0:
                sim.at(sim.now, resume)

        for process in processes:
            sim.start(finished(process))
    return command
