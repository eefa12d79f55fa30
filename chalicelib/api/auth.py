"""Bearer-token authentication (README, "The API" and "Guard rails": scoped tokens).

Tokens come from ``AGENTOS_API_TOKENS`` (comma-separated) or, in deployed functions,
from the SSM SecureString parameter named by ``AGENTOS_API_TOKENS_PARAM``, read once
at cold start. Comparison is constant-time and checks every token, so timing tells
an attacker neither which token nor how much of one matched.
"""
from __future__ import annotations

import hmac
import logging
import uuid
from functools import lru_cache
from typing import NamedTuple

from .. import settings
from ..errors import ConfigError, Unauthorized
from ..settings import bare_tokens

log = logging.getLogger("agentos.jobs.auth")


Scope = frozenset[str] | None  # the agent ids a token may see; None: every agent


class Grant(NamedTuple):
    """One entry of ``AGENTOS_API_TOKENS``: ``<token>`` (every agent) or ``<token>:<agentId>|…``."""

    token: bytes
    agents: Scope


def parse_grants(raw: str) -> tuple[Grant, ...]:
    """The entries of a comma-separated token list; a malformed one is a ConfigError that names
    its position, never the token."""
    entries = [e.strip() for e in raw.split(",") if e.strip()]
    return tuple(_grant(entry, n, len(entries)) for n, entry in enumerate(entries, 1))


def _grant(entry: str, n: int, total: int) -> Grant:
    token, scoped, agents = entry.partition(":")
    if not scoped:
        return Grant(token.encode(), None)
    where = f"AGENTOS_API_TOKENS: entry {n} of {total}"
    ids = agents.split("|")
    if not token.strip() or not all(_is_uuid(a) for a in ids):
        raise ConfigError(f"{where} is malformed: expected <token> or <token>:<agentId>[|<agentId>...] "
                          "with agent ids as UUIDs", "AGENTOS_API_TOKENS")
    return Grant(token.strip().encode(), frozenset(str(uuid.UUID(a.strip())) for a in ids))


def _is_uuid(text: str) -> bool:
    try:
        return len(text.strip()) == 36 and bool(uuid.UUID(text.strip()))
    except ValueError:
        return False


@lru_cache(maxsize=1)
def api_grants() -> tuple[Grant, ...]:
    """The accepted tokens and their scopes, loaded once per process."""
    raw = settings.api_tokens()
    # The parameter is for deployed functions; `chalice local` also sees the stage's
    # environment, and must not need SSM.
    if raw is None and settings.in_lambda():
        raw = _parameter_value(tokens_parameter())
    grants = parse_grants(raw or "")
    if not grants:
        log.warning("security is enabled but no API token is configured: every request is refused")
    return grants


def api_tokens() -> tuple[bytes, ...]:
    """The accepted tokens (whatever their scope)."""
    return tuple(grant.token for grant in api_grants())


def tokens_parameter() -> str:
    """The SSM parameter holding a deployed stage's tokens: ``/agentos-jobs/<stage>/api-tokens``
    (``AGENTOS_API_TOKENS_PARAM`` overrides it; the packaged template sets it to the same name)."""
    return settings.api_tokens_param()


def _parameter_value(param: str) -> str:
    """The decrypted SSM parameter ``param``; its tokens go to the log scrubber at once."""
    from ..store.parameters import read_parameter
    from ..telemetry import register_secret

    raw = read_parameter(param)
    register_secret(*bare_tokens(raw))
    return raw


def reset_tokens() -> None:
    """Forget the loaded tokens (tests; token rotation happens at cold start on AWS)."""
    api_grants.cache_clear()


def authorize(header: str | None) -> Scope:
    """The scope of the bearer token in ``header`` (None: every agent); Unauthorized if none matches.

    Every token is compared, in constant time, whichever matched: timing tells nothing."""
    scheme, _, presented = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise Unauthorized("Authorization: a bearer token is required", "Authorization")
    given = presented.strip().encode("utf-8", "surrogateescape")
    matched, scope = False, None
    for grant in api_grants():
        hit = hmac.compare_digest(given, grant.token)
        scope = grant.agents if hit and not matched else scope
        matched |= hit
    if not matched:
        raise Unauthorized("Authorization: the bearer token is not valid", "Authorization")
    return scope
