"""Callback tokens and URLs: how an agent that accepted a run (202) reports on it later.

A callback token is a capability for *one attempt of one run*: ``v2.<runId>.<attempt>.<expires s>.<mac>``
where ``mac`` is HMAC-SHA256 of ``"<runId>:<attempt>:<expires>"`` under a server secret. Nothing
is stored: the API recomputes the MAC from the run id and the attempt and expiry in the token, so
a token is never kept in a table, and one run's token opens no other run. The run id is in the
token (since version 2) so that the token alone says which run it speaks for: a run's token may
create follow-up jobs (contract section 11), where no run id is in the URL. Tokens of version 1
(``v1.<attempt>.<expires s>.<mac>``, the same MAC) are still accepted on their run's report routes.

The server secret comes from the SSM SecureString named by ``AGENTOS_CALLBACK_SECRET_PARAM``
on AWS, from ``AGENTOS_CALLBACK_SECRET`` where set (tests, ``chalice local``), and otherwise is
generated once and kept in ``.local/callback-secret`` (the local stack).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from .. import settings
from ..errors import ConfigError

log = logging.getLogger("agentos.jobs.callbacks")

LOCAL_SECRET_FILE = Path(".local") / "callback-secret"
DEFAULT_PUBLIC_URL = "http://localhost:3000"
TOKEN_GRACE_S = 3600  # a token outlives its attempt's deadline by this much (late reports get 409)
_RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")  # run ids have no dot: the token's fields split on dots


class TokenClaim(NamedTuple):
    """What a valid callback token opens: one attempt of one run."""

    run_id: str
    attempt: int


@lru_cache(maxsize=1)
def server_secret() -> bytes:
    """The secret that callback tokens are derived from, loaded once per process."""
    param = settings.callback_secret_param()
    if param and settings.in_lambda():
        return _parameter_value(param).encode()
    given = settings.callback_secret()
    if given:
        return given.encode()
    return _local_secret(LOCAL_SECRET_FILE)


def _local_secret(path: Path) -> bytes:
    # Generated once and kept (0600) so tokens survive a restart of the local stack; O_EXCL
    # makes two processes starting together agree on one secret.
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def _parameter_value(param: str) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    from ..store.aws import client

    try:
        answer = client("ssm").get_parameter(Name=param, WithDecryption=True)
    except (ClientError, BotoCoreError) as exc:
        log.error("cannot read the callback secret parameter %s: %s", param, type(exc).__name__)
        raise ConfigError("the callback secret is not available") from exc
    return str(answer["Parameter"]["Value"])


def _mac(run_id: str, attempt: int, expires_s: int) -> str:
    message = f"{run_id}:{attempt}:{expires_s}".encode()
    digest = hmac.new(server_secret(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def mint(run_id: str, attempt: int, deadline_ms: int) -> str:
    """The callback token of attempt ``attempt`` of ``run_id``, valid a while past its deadline."""
    expires_s = deadline_ms // 1000 + TOKEN_GRACE_S
    if not _RUN_ID.fullmatch(run_id):  # never expected: every run id the engine makes fits
        return f"v1.{attempt}.{expires_s}.{_mac(run_id, attempt, expires_s)}"
    return f"v2.{run_id}.{attempt}.{expires_s}.{_mac(run_id, attempt, expires_s)}"


def verify(token: str, run_id: str, now_ms: int) -> TokenClaim | None:
    """The attempt ``token`` opens on ``run_id``, or None if it is forged, tampered, expired or
    (a version 2 token) of another run."""
    claim = _claim(token, run_id, now_ms)
    return claim if claim is not None and claim.run_id == run_id else None


def verify_any(token: str, now_ms: int) -> TokenClaim | None:
    """The run and attempt a version 2 ``token`` opens, from the token alone, or None if it is
    forged, tampered, expired or of version 1 (which does not name its run)."""
    return _claim(token, None, now_ms)


def _claim(token: str, run_id: str | None, now_ms: int) -> TokenClaim | None:
    # v2.<runId>.<attempt>.<expires>.<mac>, or v1.<attempt>.<expires>.<mac> checked against ``run_id``.
    parts = token.split(".")
    if len(parts) == 5 and parts[0] == "v2" and _RUN_ID.fullmatch(parts[1]):
        run_id, numbers, mac = parts[1], parts[2:4], parts[4]
    elif len(parts) == 4 and parts[0] == "v1" and run_id is not None:
        numbers, mac = parts[1:3], parts[3]
    else:
        return None
    if run_id is None or not all(p.isascii() and p.isdigit() for p in numbers):
        return None
    attempt, expires_s = int(numbers[0]), int(numbers[1])
    expected = _mac(run_id, attempt, expires_s)
    if not hmac.compare_digest(expected.encode(), mac.encode("ascii", "replace")):
        return None
    if now_ms // 1000 > expires_s:
        return None
    return TokenClaim(run_id, attempt)


def looks_like_token(presented: str) -> bool:
    """True if a bearer value has a callback token's shape (so it is checked as one)."""
    return (presented.startswith("v1.") and presented.count(".") == 3) or \
        (presented.startswith("v2.") and presented.count(".") == 4)


def public_url() -> str:
    """This API's public base URL (no trailing slash): the stage's invoke URL on AWS."""
    return (settings.public_url() or DEFAULT_PUBLIC_URL).rstrip("/")


def callback_url(run_id: str) -> str:
    """The absolute URL of ``/api/runs/{runId}`` that an agent reports to."""
    return f"{public_url()}/api/runs/{run_id}"
