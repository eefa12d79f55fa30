"""Delivery signatures: ``X-AgentOS-Signature: t=<unix s>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``.

Several ``v1`` entries may be present during a secret rotation; a ``t`` more than five minutes from
the agent's clock is refused, so a captured delivery cannot be replayed later. The header name and
the tolerance are copies of the server's (tests/test_agent_kits.py pins them equal).
"""
from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-AgentOS-Signature"
TOLERANCE_S = 300


class SignatureError(Exception):
    """A delivery whose signature is missing, wrong or outside the replay window."""


def as_bytes(value: bytes | str) -> bytes:
    """UTF-8 bytes of a str, or the bytes themselves."""
    return value.encode("utf-8") if isinstance(value, str) else value


def sign(secret: bytes | str, timestamp: int, body: bytes | str) -> str:
    """The header value agentOS Jobs sends: ``t=<timestamp>,v1=<hex HMAC-SHA256>`` (for agent tests)."""
    mac = hmac.new(as_bytes(secret), str(int(timestamp)).encode("ascii") + b"." + as_bytes(body), hashlib.sha256)
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
