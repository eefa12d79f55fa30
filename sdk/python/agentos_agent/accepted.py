"""A delivery answered 202: heartbeats while its callback runs, then its outcome through ``complete``.

Reports go through :meth:`Delivery.complete`, which retries on connection errors and 5xx until the
attempt's ``timeoutAt``. A run cancelled meanwhile (``cancelRequested`` on a heartbeat) is reported
``cancelled`` at once and the callback's ``context.cancelled`` is set; its later result is dropped.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from typing import Any

from .callbacks import JobContext, failure_text, is_retryable, lifted, output_of
from .errors import AgentOSError, AttemptEnded

log = logging.getLogger("agentos_agent")


class AcceptedRun:
    """The reporting side of one accepted attempt (one thread for heartbeats, one for the outcome)."""

    def __init__(self, context: JobContext, done: Future[Any], heartbeat_every_s: float) -> None:
        self.context = context
        self.done = done
        self.heartbeat_every_s = heartbeat_every_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._reported = False
        self.reports: list[dict[str, Any]] = []  # what the API answered to the outcome (for tests, logs)

    def start(self) -> AcceptedRun:
        """Start heartbeating and wait for the callback in the background."""
        threading.Thread(target=self._heartbeats, name="agentos-heartbeat", daemon=True).start()
        threading.Thread(target=self._outcome, name="agentos-outcome", daemon=True).start()
        return self

    def _outcome(self) -> None:
        try:
            value = self.done.result()
        except Exception as error:  # the callback's failure is the run's outcome
            self._stop.set()
            self._report("failed", error=failure_text(error), retryable=is_retryable(error))
            return
        self._stop.set()
        self._report("succeeded", output=output_of(value), usage=lifted(value, "usage"), state=lifted(value, "state"))

    def _heartbeats(self) -> None:
        delivery = self.context.delivery
        while not self._stop.wait(self.heartbeat_every_s):
            try:
                run = delivery.heartbeat(self.context.progress)
            except AttemptEnded:  # timed out or cancelled on the server: nothing more to say
                self._reported = True
                self.context.cancelled.set()
                return
            except AgentOSError as error:  # already retried until the deadline; the next beat may land
                log.warning("heartbeat of run %s failed: %s", delivery.run_id, error)
                continue
            if run.get("cancelRequested"):
                self.context.cancelled.set()
                self._report("cancelled")
                return

    def _report(self, status: str, **fields: Any) -> None:
        with self._lock:  # once: the outcome and a cancel can race
            if self._reported:
                return
            self._reported = True
        delivery = self.context.delivery
        try:
            self.reports.append(delivery.complete(status, **fields))
        except AgentOSError as error:
            self._lost(status, error)
        except (TypeError, ValueError) as error:  # not JSON (a cycle): the run fails and says why
            try:
                self.reports.append(delivery.complete("failed", retryable=False,
                                                      error=f"the outcome could not be sent as JSON: {error}"))
            except AgentOSError as again:
                self._lost("failed", again)

    def _lost(self, status: str, error: AgentOSError) -> None:
        delivery = self.context.delivery
        log.error("the outcome %s of run %s (attempt %s) was not recorded: %s", status, delivery.run_id,
                  delivery.attempt, error)
