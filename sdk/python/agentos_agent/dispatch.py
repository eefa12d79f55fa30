"""Run one delivery's callback and answer for it (contract sections 4, 6, 14).

The callback runs in its own thread. If it returns within the quick window (``answer_within_s``,
default 8 s: under an agent's default ``timeoutMs`` of 10 s, and never past the attempt's
``timeoutAt``), the answer is 200 with its return value (204 for None); if it raises, 500 with the
exception text (retried by the job's retry policy), or 422 when it says ``retryable = False``.
Otherwise the answer is 202 and :class:`AcceptedRun` heartbeats and reports the outcome later.
"""
from __future__ import annotations

import threading
import time
from concurrent import futures
from typing import Any, NamedTuple

from .accepted import AcceptedRun
from .callbacks import Callback, JobContext, answer_body, failure_text, invoke, is_retryable
from .delivery import Delivery

DEADLINE_MARGIN_S = 0.5  # answer this long before timeoutAt at the latest


class Answer(NamedTuple):
    """An HTTP answer: status, headers and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    @classmethod
    def text(cls, status: int, message: str) -> Answer:
        """A plain-text answer (errors: the server keeps its first 200 characters on the run)."""
        return cls(status, {"Content-Type": "text/plain; charset=utf-8"}, message.encode("utf-8"))


def quick_window(delivery: Delivery, answer_within_s: float, now: float | None = None) -> float:
    """How long to wait for the callback before answering 202."""
    deadline = delivery.deadline
    if deadline is None:
        return answer_within_s
    left = deadline - (time.time() if now is None else now) - DEADLINE_MARGIN_S
    return max(0.0, min(answer_within_s, left))


def _run(callback: Callback, context: JobContext, done: futures.Future[Any]) -> None:
    try:
        done.set_result(invoke(callback, context))
    except BaseException as error:  # handed to whoever answers or reports (the thread ends either way)
        done.set_exception(error)


def dispatch(callback: Callback, delivery: Delivery, answer_within_s: float,
             heartbeat_every_s: float) -> tuple[Answer, AcceptedRun | None]:
    """Start the callback; the answer, and the :class:`AcceptedRun` when it was accepted (202)."""
    context, done = JobContext(delivery), futures.Future[Any]()
    name = f"agentos-job-{delivery.job_name or delivery.job_id}"
    threading.Thread(target=_run, args=(callback, context, done), name=name, daemon=True).start()
    futures.wait([done], timeout=quick_window(delivery, answer_within_s))
    if not done.done():
        accepted = AcceptedRun(context, done, heartbeat_every_s).start()
        return Answer(202, {"Content-Type": "application/json"}, b'{"accepted":true}'), accepted
    error = done.exception()
    if error is not None:
        return Answer.text(500 if is_retryable(error) else 422, failure_text(error)), None
    try:
        body = answer_body(done.result())
    except ValueError as error:  # not JSON (a cycle): retrying would not help
        return Answer.text(422, f"the output is not JSON: {error}"), None
    return Answer(200 if body else 204, {"Content-Type": "application/json"} if body else {}, body), None
