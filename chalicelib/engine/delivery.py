"""HTTP delivery of one occurrence to its agent, signed with HMAC-SHA256.

Only the standard library is used (``http.client``) so the executor Lambda stays small.
The request body is the compact JSON of :class:`Delivery`; when the agent has a
secret, ``X-AgentOS-Signature: t=<unix s>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``
lets it check both origin and freshness (see :func:`verify`).

Classification (README, "Agents: how an occurrence is delivered"): 2xx succeeds; 408, 429, 5xx, timeouts and connection
errors are retryable (``Retry-After`` honoured); anything else, redirects included,
fails without retry. Redirects are never followed, so a delivery and its signature
only ever reach the URL written in the configuration.
"""
from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import socket
import threading
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from .. import clock
from ..config import AgentEndpoint
from ..defaults import ANSWER_READ_BYTES, TEXT_KEEP_CHARS
from ..errors import DeliveryFailed
from .actions import ActionContext

SIGNATURE_HEADER = "X-AgentOS-Signature"
RUN_ID_HEADER = "X-AgentOS-Run-Id"
USER_AGENT = "agentOS-Jobs/1.0"
SIGNATURE_TOLERANCE_S = 300  # how old a signature an agent accepts (the kits keep a copy: tests pin it)
_COUNT_BYTES_MAX = 16 * 1024 * 1024  # past this a huge answer is not even counted to its end
_ERROR_SNIPPET_CHARS = 200


@dataclass(frozen=True)
class Delivery(ActionContext):
    """One attempt of one occurrence, as the agent receives it (the same facts an in-process
    action gets, plus their wire form and where to report a long run)."""

    callback_url: str | None = None
    callback_token: str | None = None
    timeout_at: str | None = None

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
            "state": self.state,
            "lastSuccess": self.last_success,
        }
        if self.callback_url is not None:
            document.update(callbackUrl=self.callback_url, callbackToken=self.callback_token,
                            timeoutAt=self.timeout_at)
        return json.dumps(document, separators=(",", ":"), default=_json_default).encode("utf-8")


class AgentAnswer(NamedTuple):
    """A 2xx answer: accepted (202) or done, with its body as text (at most TEXT_KEEP_CHARS) and as JSON."""

    status: int
    text: str
    document: Any = None  # the decoded JSON object or array, if the body was one
    size: int = 0  # bytes of the whole body

    @property
    def accepted(self) -> bool:
        """True if the agent took the work and reports its outcome later."""
        return self.status == 202


def _json_default(value: object) -> object:
    # A payload that went through DynamoDB's number type comes back as Decimal.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"payload value of type {type(value).__name__} is not JSON")


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The signature header value ``t=<timestamp>,v1=<hex HMAC-SHA256 of b"<t>." + body>``."""
    mac = hmac.new(secret, str(int(timestamp)).encode("ascii") + b"." + body, hashlib.sha256)
    return f"t={int(timestamp)},v1={mac.hexdigest()}"


def verify(secret: bytes, header: str, body: bytes, now_s: int, tolerance_s: int = SIGNATURE_TOLERANCE_S) -> bool:
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


def post_to_agent(delivery: Delivery, endpoint: AgentEndpoint, now_s: int,
                  deadline_ms: int | None = None) -> AgentAnswer:
    """POST ``delivery`` to ``endpoint`` and return its 2xx answer.

    The whole exchange (connect, send, headers, body) ends by ``endpoint.timeoutMs`` (or
    ``deadline_ms``, if sooner): a watchdog shuts the socket down, so an agent that trickles
    a byte a second cannot hold the attempt open. Raises :class:`DeliveryFailed` with
    ``retryable`` and ``retry_after_s`` set as the classification in the module docstring says. Messages
    never contain the secret or the signature. Redirects are never followed.
    """
    body = delivery.body()
    headers = {"Content-Type": "application/json", RUN_ID_HEADER: delivery.run_id, "User-Agent": USER_AGENT}
    secret = _secret_of(endpoint)
    redact: list[str] = [delivery.callback_token] if delivery.callback_token else []
    if secret is not None:
        headers[SIGNATURE_HEADER] = sign(secret.encode("utf-8"), now_s, body)
        redact += [headers[SIGNATURE_HEADER], headers[SIGNATURE_HEADER].split("v1=", 1)[1], secret]
    budget_s = endpoint.timeoutMs / 1000
    if deadline_ms is not None:
        budget_s = max(0.001, min(budget_s, (deadline_ms - clock.now_ms()) / 1000))
    exchange = _Exchange(str(endpoint.url), budget_s)
    try:
        status, answer_headers, raw, size = exchange.post(body, headers)
    except (OSError, http.client.HTTPException) as exc:
        raise _transport_failure(exc, endpoint, exchange.aborted) from exc
    text = _scrub(_decode(raw, answer_headers)[:TEXT_KEEP_CHARS], redact)
    if not 200 <= status < 300:
        raise _status_failure(status, answer_headers, text, now_s)
    return AgentAnswer(status, text, _document(raw, size, redact), size)


class _Exchange:
    """One HTTP POST whose total duration is bounded by a watchdog."""

    def __init__(self, url: str, budget_s: float) -> None:
        self.parts = urlsplit(url)
        self.budget_s = budget_s
        self.aborted = False
        self._conn: http.client.HTTPConnection | None = None

    def _abort(self) -> None:
        # shutdown() wakes a thread blocked in recv()/send() on the socket; close() would not.
        self.aborted = True
        sock = self._conn.sock if self._conn is not None else None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, Message, bytes, int]:
        """Send and read the answer: status, headers, the first bytes of the body, its size."""
        kind = http.client.HTTPSConnection if self.parts.scheme == "https" else http.client.HTTPConnection
        self._conn = kind(self.parts.hostname or "", self.parts.port, timeout=self.budget_s)
        path = (self.parts.path or "/") + (f"?{self.parts.query}" if self.parts.query else "")
        watchdog = threading.Timer(self.budget_s, self._abort)
        watchdog.daemon = True
        watchdog.start()
        try:
            self._conn.request("POST", path, body=body, headers=headers)
            response = self._conn.getresponse()
            if self.aborted:  # the status line and headers were cut off by the deadline
                raise TimeoutError("deadline passed")
            raw, size = _read_capped(response)
            return response.status, response.headers, raw, size
        except (OSError, http.client.HTTPException):
            if self.aborted:
                raise TimeoutError("deadline passed") from None
            raise
        finally:
            watchdog.cancel()
            self._conn.close()


def _read_capped(response: http.client.HTTPResponse) -> tuple[bytes, int]:
    """The body's first ANSWER_READ_BYTES + 1 bytes, and its whole size (counted, up to a cap)."""
    kept = response.read(ANSWER_READ_BYTES + 1)
    size = len(kept)
    try:
        while size < _COUNT_BYTES_MAX:
            chunk = response.read(65_536)
            if not chunk:
                break
            size += len(chunk)
    except (OSError, http.client.HTTPException):
        pass  # the answer's status is known; a body cut short only loses its tail
    return kept, size


def _decode(raw: bytes, headers: Message | None) -> str:
    charset = (headers.get_content_charset() if headers is not None else None) or "utf-8"
    try:
        return raw.decode(charset, errors="replace")
    except LookupError:  # an unknown charset name from the agent
        return raw.decode("utf-8", errors="replace")


def _scrub(text: str, redact: list[str]) -> str:
    for secret_text in redact:  # the answer is stored on the run: keep secrets out
        text = text.replace(secret_text, "[redacted]")
    return text


def _document(raw: bytes, size: int, redact: list[str]) -> Any:
    """The answer body as JSON (object or array), the truncation marker if too big to read, else None.
    It is read past the output's 32 KiB so that a top-level ``state`` can be lifted out of it
    (continuity.py); the run's output is capped after that (outcomes.output_text)."""
    if size > ANSWER_READ_BYTES:
        return {"truncated": True, "bytes": size} if raw[:1] in (b"{", b"[") else None
    try:
        document = json.loads(_scrub(raw.decode("utf-8"), redact))
    except ValueError:
        return None
    return document if isinstance(document, (dict, list)) else None


def _secret_of(endpoint: AgentEndpoint) -> str | None:
    """The agent's HMAC secret (``secretEnv`` or ``secretParam``), or None when it has none."""
    from .agent_secrets import agent_secret  # SSM (boto3) is loaded only by agents that need it

    return agent_secret(endpoint)


def _status_failure(status: int, headers: Message | None, text: str, now_s: int) -> DeliveryFailed:
    """The DeliveryFailed for a non-2xx answer, classified by status."""
    if 300 <= status < 400:
        return DeliveryFailed(f"agent answered {status} (redirects are not followed)", retryable=False)
    snippet = " ".join(text.split())[:_ERROR_SNIPPET_CHARS]
    message = f"agent answered {status}" + (f": {snippet}" if snippet else "")
    if status in (408, 429) or 500 <= status < 600:
        retry_after = parse_retry_after(headers.get("Retry-After") if headers else None, now_s)
        return DeliveryFailed(message, retryable=True, retry_after_s=retry_after)
    return DeliveryFailed(message, retryable=False)


def _transport_failure(exc: BaseException, endpoint: AgentEndpoint, aborted: bool) -> DeliveryFailed:
    """The retryable DeliveryFailed for a timeout or a connection problem."""
    if aborted or isinstance(exc, TimeoutError):
        return DeliveryFailed(f"agent timed out after {endpoint.timeoutMs} ms", retryable=True)
    detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
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
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now_s)
