"""Bearer-token authentication (contract §1-§2).

Tokens come from ``AGENTOS_API_TOKENS`` (comma-separated) or, in deployed functions,
from the SSM SecureString parameter named by ``AGENTOS_API_TOKENS_PARAM``, read once
at cold start. Comparison is constant-time and checks every token, so timing tells
an attacker neither which token nor how much of one matched.
"""
from __future__ import annotations

import hmac
import logging
import os
from functools import lru_cache

from .errors import Unauthorized

log = logging.getLogger("agentos.jobs.auth")


def _split(raw: str) -> tuple[bytes, ...]:
    return tuple(t.strip().encode() for t in raw.split(",") if t.strip())


@lru_cache(maxsize=1)
def api_tokens() -> tuple[bytes, ...]:
    """The accepted tokens, loaded once per process."""
    raw = os.environ.get("AGENTOS_API_TOKENS")
    # The parameter is for deployed functions; `chalice local` also sees the stage's
    # environment, and must not need SSM.
    if raw is None and os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        raw = _parameter_value(tokens_parameter())
    tokens = _split(raw or "")
    if not tokens:
        log.warning("security is enabled but no API token is configured: every request is refused")
    return tokens


def tokens_parameter() -> str:
    """The SSM parameter holding a deployed stage's tokens: ``/agentos-jobs/<stage>/api-tokens``
    (``AGENTOS_API_TOKENS_PARAM`` overrides it; the packaged template sets it to the same name)."""
    stage = os.environ.get("AGENTOS_STAGE", "dev")
    return os.environ.get("AGENTOS_API_TOKENS_PARAM") or f"/agentos-jobs/{stage}/api-tokens"


def _parameter_value(param: str) -> str:
    """The decrypted SSM parameter ``param``; its tokens go to the log scrubber at once."""
    from .parameters import read_parameter
    from .telemetry import register_secret

    raw = read_parameter(param)
    register_secret(*(t.strip() for t in raw.split(",")))
    return raw


def reset_tokens() -> None:
    """Forget the loaded tokens (tests; token rotation happens at cold start on AWS)."""
    api_tokens.cache_clear()


def check_bearer(header: str | None, tokens: tuple[bytes, ...]) -> None:
    """Raise :class:`Unauthorized` unless ``header`` is ``Bearer <one of tokens>``."""
    scheme, _, presented = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise Unauthorized("Authorization: a bearer token is required", "Authorization")
    given = presented.strip().encode("utf-8", "surrogateescape")
    matched = False
    for token in tokens:  # no early exit: every token is compared every time
        matched |= hmac.compare_digest(given, token)
    if not matched:
        raise Unauthorized("Authorization: the bearer token is not valid", "Authorization")
