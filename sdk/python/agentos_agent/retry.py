"""Reports retried with exponential backoff and jitter until a deadline.

A heartbeat or a report that meets a restarting API (connection refused, 502/503) must still land:
an outcome lost there costs the attempt (it times out and is retried). 4xx answers are final: a
409 means the attempt already ended, and trying again cannot change that.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from .errors import AgentOSError

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Delays of ``first_s * 2**n``, at most ``max_s``, each drawn in its upper half (jitter)."""

    first_s: float = 0.25
    max_s: float = 15.0

    def delay(self, attempt: int) -> float:
        """The pause before try ``attempt + 1`` (``attempt`` from 1)."""
        ceiling = min(self.max_s, self.first_s * 2 ** (attempt - 1))
        # equal jitter: many agents hit by one restart do not come back in step, yet each waits a little
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def retrying(send: Callable[[], T], deadline: float | None, backoff: Backoff = Backoff(),
             sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time) -> T:
    """``send()``, tried again on a retryable :class:`AgentOSError` until ``deadline`` (epoch s).

    Always tries once, even past the deadline; raises the last error when time runs out.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return send()
        except AgentOSError as error:
            remaining = 0.0 if deadline is None else deadline - clock()
            if not error.retryable or remaining <= 0:
                raise
            sleep(min(backoff.delay(attempt), remaining))  # the last try lands right at the deadline
