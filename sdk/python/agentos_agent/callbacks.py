"""What a job's callback receives, and how its return value or exception becomes an outcome.

A callback takes no argument (as in the seed's ``callback: async () => {...}``) or one
:class:`JobContext`. It may be a plain function or an ``async def``. Its return value is the run's
``output``; a dict may carry a top-level ``"state"`` (saved for the next run, contract section 12)
and ``"usage"``. A value that is not a dict or a list is kept as ``{"value": <it>}``, so the output
reads the same whether the kit answered at once or reported later.
"""
from __future__ import annotations

import asyncio
import inspect
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .delivery import Delivery

Callback = Callable[..., Any]


@dataclass
class JobContext:
    """One delivery as its callback sees it: the delivery, and a ``cancelled`` event set when the
    run is cancelled while the kit heartbeats for it (check it between steps of long work)."""

    delivery: Delivery
    cancelled: threading.Event = field(default_factory=threading.Event)
    progress: Any = None  # sent with the next heartbeat, when the work runs long

    @property
    def payload(self) -> dict[str, Any]:
        """The payload this run was delivered."""
        return self.delivery.payload

    @property
    def state(self) -> Any:
        """The job's state as the last succeeded run saved it (None before any)."""
        return self.delivery.state

    @property
    def last_success(self) -> dict[str, Any] | None:
        """``{runId, scheduledAt, finishedAt, output}`` of the job's last succeeded run, or None."""
        return self.delivery.last_success

    def report_progress(self, progress: Any) -> None:
        """Progress (JSON, at most 4 KiB) for the next heartbeat, if the work is still running then."""
        self.progress = progress


def wants_context(callback: Callback) -> bool:
    """True if ``callback`` takes an argument (it is given the :class:`JobContext`)."""
    try:
        parameters = inspect.signature(callback).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: give it the context
        return True
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                  inspect.Parameter.VAR_POSITIONAL)
    return any(p.kind in positional for p in parameters)


def invoke(callback: Callback, context: JobContext) -> Any:
    """Call ``callback`` (with the context if it takes one); an ``async def`` runs to its end here."""
    result = callback(context) if wants_context(callback) else callback()
    if inspect.isawaitable(result):
        return asyncio.run(_awaited(result))
    return result


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def output_of(value: Any) -> Any:
    """The run's output for a callback's return value (None stays None)."""
    if value is None or isinstance(value, (dict, list)):
        return value
    return {"value": value}


def lifted(value: Any, key: str) -> Any:
    """``value[key]`` when the return value is a dict that has it (``state``, ``usage``), else None."""
    return value.get(key) if isinstance(value, dict) else None


def answer_body(value: Any) -> bytes:
    """The JSON of a 2xx answer for a return value (empty for None: the run's output is null)."""
    output = output_of(value)
    return b"" if output is None else json.dumps(output, default=str).encode("utf-8")


def failure_text(error: BaseException) -> str:
    """``"<ExceptionType>: <message>"``, the error a failed run shows."""
    message = str(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def is_retryable(error: BaseException) -> bool:
    """An exception says ``retryable = False`` to fail its run without the retry policy."""
    return bool(getattr(error, "retryable", True))


class JobFailed(Exception):
    """Raise it from a callback to fail the run with this message; ``retryable=False`` skips retries."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable
