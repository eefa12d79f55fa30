"""The environment, read in one place: each variable the functions read, its default, and its reader.

Every value is read when asked, not at import (tests and the local stack change the environment
between calls). Nothing here imports more than :mod:`os`: the API's first request needs it.
"""
from __future__ import annotations

import os


def api_tokens() -> str | None:
    """``AGENTOS_API_TOKENS``: the comma-separated token list (None: unset, read SSM in Lambda)."""
    return os.environ.get("AGENTOS_API_TOKENS")


def bare_tokens(raw: str) -> list[str]:
    """The token of each entry of a token list (before any ``:<agentId>|...``), well-formed or not:
    what a request carries, so what the log scrubber must blank."""
    return [token for entry in raw.split(",") if (token := entry.partition(":")[0].strip())]
