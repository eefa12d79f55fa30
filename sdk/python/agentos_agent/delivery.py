"""agentOS Jobs agent kit for Python: the standard library only, one file, importable alone.

An agent receives each occurrence of a job as a signed HTTP POST (contract §4, §6)::

    from agentos_agent import receive, SignatureError

    delivery = receive(raw_body, headers, secret=os.environ["AGENT_SECRET"])  # verify, then parse
    # answer 202 at once for long work, then from a worker thread:
    run = delivery.heartbeat(progress={"done": 3, "of": 10})
    if run["cancelRequested"]:
        delivery.complete("cancelled")
    delivery.complete("succeeded", output={"posted": 3}, usage={"inputTokens": 1200, "costUsd": 0.01})

Signatures: ``X-AgentOS-Signature: t=<unix s>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``; several
``v1`` entries may be present during a secret rotation; a ``t`` more than five minutes from the
agent's clock is refused, so a captured delivery cannot be replayed later.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AgentOSError", "Delivery", "SignatureError", "receive", "sign", "verify_signature",
           "SIGNATURE_HEADER", "TOLERANCE_S"]

SIGNATURE_HEADER = "X-AgentOS-Signature"
TOLERANCE_S = 300
OUTCOMES = ("succeeded", "failed", "cancelled")
USER_AGENT = "agentos-agent-python/1.0"


class SignatureError(Exception):
    """A delivery whose signature is missing, wrong or outside the replay window."""


class AgentOSError(Exception):
    """The agentOS Jobs API refused a heartbeat or a report (``status``, ``code``, ``message``)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def sign(secret: bytes | str, timestamp: int, body: bytes | str) -> str:
    """The header value agentOS Jobs sends: ``t=<timestamp>,v1=<hex HMAC-SHA256>`` (for agent tests)."""
    mac = hmac.new(_as_bytes(secret), str(int(timestamp)).encode("ascii") + b"." + _as_bytes(body), hashlib.sha256)
    return f"t={int(timestamp)},v1={mac.hexdigest()}"


def _parse_header(header: str) -> tuple[int | None, list[str]]:
    """``t=…,v1=…[,v1=…]`` split into its timestamp and its digests (malformed parts ignored)."""
    timestamp: int | None = None
    digests: list[str] = []
    for part in (header or "").split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            digests.append(value)
    return timestamp, digests


def verify_signature(secret: bytes | str, header: str | None, body: bytes | str, now: float | None = None,
                     tolerance_s: int = TOLERANCE_S) -> bool:
    """True if ``header`` signs exactly ``body`` with ``secret`` and its time is within the window.

    Never raises on a malformed header: it is simply not valid.
    """
    timestamp, digests = _parse_header(header or "")
    if timestamp is None or not digests:
        return False
    if abs(int(time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1].encode("ascii")
    matched = False
    for digest in digests:  # no early exit: the time taken does not say which one matched
        matched |= hmac.compare_digest(expected, digest.encode("ascii", "replace"))
    return matched


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
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def parse(cls, body: bytes | str | Mapping[str, Any]) -> Delivery:
        """A delivery from its JSON body; ValueError names a missing or mistyped field."""
        data = dict(body) if isinstance(body, Mapping) else json.loads(_as_bytes(body).decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("a delivery body is a JSON object")
        for key, kind in (("jobId", str), ("runId", str), ("attempt", int), ("payload", dict)):
            if not isinstance(data.get(key), kind) or isinstance(data.get(key), bool):
                raise ValueError(f"delivery field {key!r} is missing or not a {kind.__name__}")
        return cls(job_id=data["jobId"], job_name=str(data.get("jobName", "")), run_id=data["runId"],
                   agent_id=str(data.get("agentId", "")), scheduled_at=str(data.get("scheduledAt", "")),
                   attempt=data["attempt"], trigger=str(data.get("trigger", "")), payload=data["payload"],
                   callback_url=data.get("callbackUrl"), callback_token=data.get("callbackToken"),
                   timeout_at=data.get("timeoutAt"), raw=data)

    def heartbeat(self, progress: Any = None, timeout_s: float = 10.0) -> dict[str, Any]:
        """Tell the API the work goes on (and how far); the run it returns has ``cancelRequested``."""
        body = {} if progress is None else {"progress": progress}
        return self._post("heartbeat", body, timeout_s)

    def complete(self, status: str, output: Any = None, error: str | None = None,
                 usage: Mapping[str, Any] | None = None, retryable: bool = True,
                 timeout_s: float = 10.0) -> dict[str, Any]:
        """Report the attempt's outcome: ``succeeded``, ``failed`` (retried unless not retryable)
        or ``cancelled``. Repeating the same report is harmless."""
        if status not in OUTCOMES:
            raise ValueError(f"status must be one of {', '.join(OUTCOMES)}, not {status!r}")
        body: dict[str, Any] = {"status": status}
        if output is not None:
            body["output"] = output
        if error is not None:
            body["error"] = error
        if usage is not None:
            body["usage"] = dict(usage)
        if status == "failed":
            body["retryable"] = bool(retryable)
        return self._post("complete", body, timeout_s)

    def _post(self, action: str, body: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        if not self.callback_url or not self.callback_token:
            raise AgentOSError(0, "NoCallback", "this delivery has no callbackUrl/callbackToken")
        request = urllib.request.Request(
            f"{self.callback_url.rstrip('/')}/{action}", data=json.dumps(body).encode("utf-8"), method="POST",
            headers={"Content-Type": "application/json", "Accept": "application/json", "User-Agent": USER_AGENT,
                     "Authorization": f"Bearer {self.callback_token}"})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                text = response.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            raise _api_error(exc) from None
        answer = json.loads(text) if text else {}
        return answer if isinstance(answer, dict) else {"body": answer}


def _api_error(exc: urllib.error.HTTPError) -> AgentOSError:
    """The API's ``{"Code", "Message"}`` of a refused call."""
    try:
        data = json.loads(exc.read().decode("utf-8") or "{}")
    except (ValueError, OSError):
        data = {}
    finally:
        exc.close()
    if not isinstance(data, dict):
        data = {}
    return AgentOSError(exc.code, str(data.get("Code", "HTTPError")), str(data.get("Message", exc.reason)))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def receive(body: bytes | str, headers: Mapping[str, str], secret: bytes | str | None,
            now: float | None = None, tolerance_s: int = TOLERANCE_S) -> Delivery:
    """Verify a delivery's signature (when the agent has a secret), then parse it.

    Raises :class:`SignatureError` for a forged, altered or replayed request: answer it 401.
    """
    if secret is not None and not verify_signature(secret, _header(headers, SIGNATURE_HEADER), body, now,
                                                   tolerance_s):
        raise SignatureError(f"{SIGNATURE_HEADER} is missing, wrong or outside the {tolerance_s} s window")
    return Delivery.parse(body)
