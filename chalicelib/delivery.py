"""HTTP delivery of one occurrence to its agent, signed with HMAC-SHA256.

Only the standard library is used (``urllib``) so the executor Lambda stays small.
The request body is the compact JSON of :class:`Delivery`; when the agent has a
secret, ``X-AgentOS-Signature: t=<unix s>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``
lets it check both origin and freshness (see :func:`verify`).

Classification (contract §4): 2xx succeeds; 408, 429, 5xx, timeouts and connection
errors are retryable (``Retry-After`` honoured); anything else, redirects included,
fails without retry. Redirects are never followed, so a delivery and its signature
only ever reach the URL written in the configuration.
"""
from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timezone
from decimal import Decimal
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any

from .actions import ActionContext
from .config import AgentEndpoint
from .errors import DeliveryFailed

SIGNATURE_HEADER = "X-AgentOS-Signature"
RUN_ID_HEADER = "X-AgentOS-Run-Id"
USER_AGENT = "agentOS-Jobs/1.0"
MAX_TEXT_CHARS = 1024
# Enough bytes for MAX_TEXT_CHARS of UTF-8; a huge response is never read whole.
_MAX_READ_BYTES = 4 * MAX_TEXT_CHARS
_ERROR_SNIPPET_CHARS = 200


@dataclass(frozen=True)
class Delivery(ActionContext):
    """One attempt of one occurrence, as the agent receives it (the same facts an in-process
    action gets, plus their wire form)."""

    def body(self) -> bytes:
        """The compact JSON request body (the exact bytes that are signed)."""
        document = {
            "jobId": self.job_id,
            "jobName": self.job_name,
            "runId": self.run_id,
            "agentId": self.agent_id,
            "scheduledAt": self.scheduled_at,
            "attempt": self.attempt,
            "trigger": self.trigger,
            "payload": self.payload,
        }
        return json.dumps(document, separators=(",", ":"), default=_json_default).encode("utf-8")


def _json_default(value: object) -> object:
    # A payload that went through DynamoDB's number type comes back as Decimal.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"payload value of type {type(value).__name__} is not JSON")


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The signature header value ``t=<timestamp>,v1=<hex HMAC-SHA256 of b"<t>." + body>``."""
    mac = hmac.new(secret, str(int(timestamp)).encode("ascii") + b"." + body, hashlib.sha256)
    return f"t={int(timestamp)},v1={mac.hexdigest()}"


def verify(secret: bytes, header: str, body: bytes, now_s: int, tolerance_s: int = 300) -> bool:
    """True if ``header`` signs ``body`` with ``secret`` and its ``t`` is within ``tolerance_s`` of now.

    Malformed headers are rejected, never raised on. Several ``v1`` entries are allowed
    (one per secret during a rotation); any one matching is enough.
    """
    timestamp, candidates = _parse_signature(header)
    if timestamp is None or not candidates:
        return False
    # The replay window: a captured request is useless once it is older than the tolerance.
    if abs(int(now_s) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    # Compare every candidate so the time taken does not depend on which one matched.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected.encode("ascii"), candidate.encode("ascii", "replace"))
    return matched


def _parse_signature(header: str) -> tuple[int | None, list[str]]:
    """Split ``t=…,v1=…[,v1=…]`` into its timestamp and its v1 digests."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in (header or "").split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    return timestamp, candidates


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Turns every 3xx into an HTTPError instead of following it (to any host)."""

    def redirect_request(  # type: ignore[override]
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Message, newurl: str
    ) -> None:
        """Refuse the redirect; urllib then raises HTTPError with the 3xx status."""
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


def post_to_agent(delivery: Delivery, endpoint: AgentEndpoint, now_s: int) -> str:
    """POST ``delivery`` to ``endpoint``; return the agent's answer text (≤ 1024 chars).

    Raises :class:`DeliveryFailed` with ``retryable`` and ``retry_after_s`` set as the
    contract classifies the outcome. Messages never contain the secret or the signature.
    """
    body = delivery.body()
    headers = {"Content-Type": "application/json", RUN_ID_HEADER: delivery.run_id, "User-Agent": USER_AGENT}
    secret = _secret_of(endpoint)
    redact: list[str] = []
    if secret is not None:
        headers[SIGNATURE_HEADER] = sign(secret.encode("utf-8"), now_s, body)
        redact = [headers[SIGNATURE_HEADER], headers[SIGNATURE_HEADER].split("v1=", 1)[1], secret]
    request = urllib.request.Request(str(endpoint.url), data=body, headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=endpoint.timeoutMs / 1000) as response:
            try:
                text = _read_text(response, response.headers)
                for secret_text in redact:  # the answer is stored on the run: keep secrets out
                    text = text.replace(secret_text, "[redacted]")
                return text
            except (OSError, http.client.HTTPException):
                # The agent already answered 2xx: the attempt succeeded even if its
                # answer text is cut short, and retrying would deliver the run twice.
                return ""
    except urllib.error.HTTPError as exc:
        try:
            raise _status_failure(exc.code, exc.headers, exc, now_s, redact) from None
        finally:
            exc.close()
    except (OSError, http.client.HTTPException) as exc:  # URLError and TimeoutError are OSErrors
        raise _transport_failure(exc, endpoint) from exc


def _secret_of(endpoint: AgentEndpoint) -> str | None:
    """The agent's HMAC secret (``secretEnv`` or ``secretParam``), or None when it has none."""
    from .agent_secrets import agent_secret  # SSM (boto3) is loaded only by agents that need it

    return agent_secret(endpoint)


def _read_text(stream: Any, headers: Message | None) -> str:
    """At most MAX_TEXT_CHARS of a response body, decoded leniently."""
    raw = stream.read(_MAX_READ_BYTES) if stream is not None else b""
    charset = (headers.get_content_charset() if headers is not None else None) or "utf-8"
    try:
        text = raw.decode(charset, errors="replace")
    except LookupError:  # an unknown charset name from the agent
        text = raw.decode("utf-8", errors="replace")
    return text[:MAX_TEXT_CHARS]


def _status_failure(
    status: int, headers: Message | None, stream: Any, now_s: int, redact: list[str]
) -> DeliveryFailed:
    """The DeliveryFailed for a non-2xx answer, classified by status."""
    if 300 <= status < 400:
        return DeliveryFailed(f"agent answered {status} (redirects are not followed)", retryable=False)
    try:
        snippet = _read_text(stream, headers)
    except (OSError, http.client.HTTPException):
        snippet = ""
    for text in redact:  # an agent that echoes its request must not leak it into run errors
        snippet = snippet.replace(text, "[redacted]")
    snippet = " ".join(snippet.split())[:_ERROR_SNIPPET_CHARS]
    message = f"agent answered {status}" + (f": {snippet}" if snippet else "")
    if status in (408, 429) or 500 <= status < 600:
        retry_after = parse_retry_after(headers.get("Retry-After") if headers else None, now_s)
        return DeliveryFailed(message, retryable=True, retry_after_s=retry_after)
    return DeliveryFailed(message, retryable=False)


def _transport_failure(exc: BaseException, endpoint: AgentEndpoint) -> DeliveryFailed:
    """The retryable DeliveryFailed for a timeout or a connection problem."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError):
        return DeliveryFailed(f"agent timed out after {endpoint.timeoutMs} ms", retryable=True)
    detail = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
    return DeliveryFailed(f"agent unreachable: {detail}", retryable=True)


def parse_retry_after(value: str | None, now_s: int) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or None.

    The value is not capped here: the executor clamps it to what its queue can delay.
    """
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # the obsolete asctime form has no zone; HTTP-dates are always GMT
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now_s)
