"""Structured logs and EMF metrics.

In Lambda, log records of ``agentos.jobs*`` become JSON lines (aws-lambda-powertools'
formatter) carrying ``jobId``/``runId``/``agentId`` from ``extra=`` and a
``cold_start`` flag, and metrics are flushed as CloudWatch EMF at the end of each
invocation. Locally the same calls produce readable lines and no EMF. Every record
passes a scrubber that blanks configured secrets, as defence in depth.
"""
from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable
from typing import Any

from . import settings

NAMESPACE, SERVICE, _ = settings.powertools()  # read at import
ROOT_LOGGER = "agentos.jobs"
_lock = threading.Lock()
_metrics: Any = None
_cold_start = True


def in_lambda() -> bool:
    """True inside an AWS Lambda function."""
    return settings.in_lambda()


_registered: set[str] = set()  # secrets read at run time (SSM tokens, agent secrets)


def register_secret(*values: str) -> None:
    """Have the scrubber blank ``values`` from now on (called as each secret is loaded)."""
    with _lock:
        _registered.update(v for v in values if len(v) >= 4)


class SecretScrubber(logging.Filter):
    """Replaces every known secret value in a log record's text with ``***``: the ``secrets``
    given, and every value registered with :func:`register_secret`, whenever it was."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub the rendered message (and its arguments) in place; never drops a record."""
        with _lock:
            known = sorted(set(self.secrets) | _registered, key=len, reverse=True)  # longest first
        if known:
            text = record.getMessage()
            for secret in known:
                text = text.replace(secret, "***")
            record.msg, record.args = text, None
        return True


def known_secrets() -> list[str]:
    """The API tokens (bare, without their scopes) and every agent secret named by the config."""
    from .config import get_config

    tokens = settings.bare_tokens(settings.api_tokens() or "")
    agents = [settings.value(a.secretEnv) or "" for a in get_config().agents.values() if a.secretEnv]
    return [s for s in tokens + agents if s]


_scrubber = SecretScrubber()


def configure_logging() -> None:
    """Install the Lambda JSON formatter (in Lambda) and the secret scrubber (everywhere).

    A logger's filters see only records logged on that very logger, not those its children
    (``agentos.jobs.delivery``...) propagate to it, so the scrubber also sits on every handler
    those records reach: ours in Lambda, the root logger's otherwise. Safe to call often.
    """
    logger = logging.getLogger(ROOT_LOGGER)
    register_secret(*known_secrets())
    if _scrubber not in logger.filters:
        logger.addFilter(_scrubber)
    if in_lambda() and not any(getattr(h, "agentos_json", False) for h in logger.handlers):
        from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(LambdaPowertoolsFormatter(service=SERVICE))
        handler.agentos_json = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.setLevel(settings.powertools()[2])
        logger.propagate = False
    for reached in logger.handlers + logging.getLogger().handlers:
        if _scrubber not in reached.filters:
            reached.addFilter(_scrubber)


def _emf() -> Any:
    global _metrics
    if _metrics is None:
        from aws_lambda_powertools import Metrics

        _metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
    return _metrics


def count(name: str, value: float = 1) -> None:
    """Add to a Count metric (EMF in Lambda; nothing locally)."""
    _add(name, "Count", value)


def milliseconds(name: str, value: float) -> None:
    """Record a Milliseconds metric."""
    _add(name, "Milliseconds", value)


def _add(name: str, unit: str, value: float) -> None:
    if not in_lambda():
        return
    with _lock:  # the executor records from several threads
        _emf().add_metric(name=name, unit=unit, value=value)


def invocation_started() -> dict[str, Any]:
    """Mark an invocation; returns the ``cold_start`` flag to log with it."""
    global _cold_start
    with _lock:
        cold, _cold_start = _cold_start, False
    if cold:
        count("ColdStart")
    return {"cold_start": cold}


def flush() -> None:
    """Emit the metrics of this invocation as one EMF document."""
    if in_lambda() and _metrics is not None:
        with _lock:
            _metrics.flush_metrics()
