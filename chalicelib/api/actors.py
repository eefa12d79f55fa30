"""Who a request acts as, for a job's history (contract section 13): an :class:`Actor`.

``kind``, from the first that applies: ``callback`` (a run's callback token; ``id`` = the run id),
``mcp`` (the MCP route), ``scoped`` (a token limited to some agents), ``console`` (the console
names itself in ``X-AgentOS-Client``), else ``token``. ``id`` is a fingerprint of the bearer token:
the first 12 hex digits of HMAC-SHA256 keyed with a fixed label, so the same token always gives the
same id, the id never gives the token back, and it matches no other digest the system keeps of a
token (the Idempotency-Key records' SHA-256). With security off there is no token: ``local``.
Nothing here loads PynamoDB: the routes build actors on every write.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from .auth import Scope

if TYPE_CHECKING:
    from ..store.events import Actor

LOCAL_ID = "local"  # every caller's id when security is off
FINGERPRINT_KEY = b"agentos-jobs/actor-id/v1"
FINGERPRINT_HEX = 12
CONSOLE = "console"


def fingerprint(authorization: str | None) -> str:
    """The non-secret id of the bearer token in an ``Authorization`` header."""
    token = (authorization or "").strip().partition(" ")[2].strip()
    digest = hmac.new(FINGERPRINT_KEY, token.encode("utf-8", "surrogateescape"), hashlib.sha256)
    return digest.hexdigest()[:FINGERPRINT_HEX]


def kind_of(scope: Scope, client: str | None, mcp: bool = False) -> str:
    """The actor kind of an API-token request (see the module's order)."""
    if mcp:
        return "mcp"
    if scope is not None:
        return "scoped"
    return CONSOLE if (client or "").strip().lower() == CONSOLE else "token"


def request_actor(authorization: str | None, scope: Scope, client: str | None, security: bool,
                  mcp: bool = False) -> Actor:
    """The actor of a request made with an API token (or none, security off)."""
    from ..store.events import Actor

    return Actor(kind_of(scope, client, mcp), fingerprint(authorization) if security else LOCAL_ID)


def callback_actor(run_id: str) -> Actor:
    """The actor of a request made with run ``run_id``'s callback token."""
    from ..store.events import Actor

    return Actor("callback", run_id)


def internal_actor() -> Actor:
    """The actor of in-process callers (the Python job manager): no request, no token."""
    from ..store.events import Actor

    return Actor("token", LOCAL_ID)
