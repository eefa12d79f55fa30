"""One delivery (contract sections 4, 6, 12): its fields, and the heartbeat and report of its attempt.

An agent receives each occurrence of a job as a signed HTTP POST::

    delivery = receive(raw_body, headers, secret=os.environ["AGENT_SECRET"])  # verify, then parse
    run = delivery.heartbeat(progress={"done": 3, "of": 10})
    if run["cancelRequested"]:
        delivery.complete("cancelled")
    delivery.complete("succeeded", output={"posted": 3}, usage={"inputTokens": 1200, "costUsd": 0.01})

Heartbeats and reports are retried on connection errors and 5xx until the attempt's ``timeoutAt``.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import transport
from .errors import AgentOSError
from .retry import Backoff, retrying
from .signing import SIGNATURE_HEADER, TOLERANCE_S, SignatureError, as_bytes, verify_signature

OUTCOMES = ("succeeded", "failed", "cancelled")


def epoch_of(iso: str | None) -> float | None:
    """Epoch seconds of an ISO-8601 time (``Z`` or an offset), or None."""
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class Delivery:
    """One attempt of one occurrence, as the agent receives it, with its callbacks."""

    job_id: str
    job_name: str
    run_id: str
    agent_id: str
    scheduled_at: str
    attempt: int
    trigger: str
    payload: dict[str, Any]
    callback_url: str | None = None
    callback_token: str | None = field(default=None, repr=False)  # a secret: kept out of logs
    timeout_at: str | None = None
    state: Any = None  # the job's state, saved by its last succeeded run (section 12)
    last_success: dict[str, Any] | None = None  # {runId, scheduledAt, finishedAt, output} or None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    backoff: Backoff = field(default=Backoff(), repr=False, compare=False)

    @classmethod
    def parse(cls, body: bytes | str | Mapping[str, Any]) -> Delivery:
        """A delivery from its JSON body; ValueError names a missing or mistyped field."""
        data = dict(body) if isinstance(body, Mapping) else json.loads(as_bytes(body).decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("a delivery body is a JSON object")
        for key, kind in (("jobId", str), ("runId", str), ("attempt", int), ("payload", dict)):
            if not isinstance(data.get(key), kind) or isinstance(data.get(key), bool):
                raise ValueError(f"delivery field {key!r} is missing or not a {kind.__name__}")
        last = data.get("lastSuccess")
        return cls(job_id=data["jobId"], job_name=str(data.get("jobName", "")), run_id=data["runId"],
                   agent_id=str(data.get("agentId", "")), scheduled_at=str(data.get("scheduledAt", "")),
                   attempt=data["attempt"], trigger=str(data.get("trigger", "")), payload=data["payload"],
                   callback_url=data.get("callbackUrl"), callback_token=data.get("callbackToken"),
                   timeout_at=data.get("timeoutAt"), state=data.get("state"),
                   last_success=last if isinstance(last, dict) else None, raw=data)

    @property
    def deadline(self) -> float | None:
        """The attempt's ``timeoutAt`` in epoch seconds, or None when the delivery has none."""
        return epoch_of(self.timeout_at)

    def heartbeat(self, progress: Any = None, timeout_s: float = 10.0) -> dict[str, Any]:
        """Tell the API the work goes on (and how far); the run it returns has ``cancelRequested``.

        Raises :class:`AttemptEnded` (409) once the attempt is over."""
        body = {} if progress is None else {"progress": progress}
        return self._post("heartbeat", body, timeout_s)

    def complete(self, status: str, output: Any = None, error: str | None = None,
                 usage: Mapping[str, Any] | None = None, retryable: bool = True, state: Any = None,
                 timeout_s: float = 10.0) -> dict[str, Any]:
        """Report the attempt's outcome: ``succeeded`` (with ``state`` to save for the next run),
        ``failed`` (retried unless not retryable) or ``cancelled``. Repeating the same report is harmless."""
        return self._post("complete", report_body(status, output, error, usage, retryable, state), timeout_s)

    def _post(self, action: str, body: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        if not self.callback_url or not self.callback_token:
            raise AgentOSError(0, "NoCallback", "this delivery has no callbackUrl/callbackToken")
        url, headers = f"{self.callback_url.rstrip('/')}/{action}", transport.base_headers(self.callback_token)
        reply = retrying(lambda: transport.send("POST", url, body, headers, timeout_s), self.deadline, self.backoff)
        return reply.data if isinstance(reply.data, dict) else {"body": reply.data}


def report_body(status: str, output: Any = None, error: str | None = None, usage: Mapping[str, Any] | None = None,
                retryable: bool = True, state: Any = None) -> dict[str, Any]:
    """The JSON body of ``POST /api/runs/{id}/complete``; ValueError for an unknown outcome."""
    if status not in OUTCOMES:
        raise ValueError(f"status must be one of {', '.join(OUTCOMES)}, not {status!r}")
    body: dict[str, Any] = {"status": status}
    for key, value in (("output", output), ("error", error), ("usage", None if usage is None else dict(usage))):
        if value is not None:
            body[key] = value
    if status == "failed":
        body["retryable"] = bool(retryable)
    if status == "succeeded" and state is not None:
        body["state"] = state
    return body


def header_of(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name (a dict, or http.server's message)."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def receive(body: bytes | str, headers: Mapping[str, str], secret: bytes | str | None,
            now: float | None = None, tolerance_s: int = TOLERANCE_S) -> Delivery:
    """Verify a delivery's signature (when the agent has a secret), then parse it.

    Raises :class:`SignatureError` for a forged, altered or replayed request: answer it 401.
    """
    if secret is not None and not verify_signature(secret, header_of(headers, SIGNATURE_HEADER), body, now,
                                                   tolerance_s):
        raise SignatureError(f"{SIGNATURE_HEADER} is missing, wrong or outside the {tolerance_s} s window")
    return Delivery.parse(body)
