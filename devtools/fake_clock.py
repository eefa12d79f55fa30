"""A settable clock for :mod:`chalicelib.clock`, shared by the tests and the bench."""
from __future__ import annotations

import threading


class FakeClock:
    """Epoch seconds that move only when told (``clock.set_source(fake, fake.sleep_until)``)."""

    def __init__(self, start: float) -> None:
        self.t = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.t += seconds

    def sleep_until(self, epoch_ms: int) -> None:
        """What chalicelib's waits do under this clock: time moves there, nobody waits."""
        with self._lock:
            self.t = max(self.t, epoch_ms / 1000)
