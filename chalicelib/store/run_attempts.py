"""A run's ``attempts``: one entry per attempt made, written by the writes that already record
an attempt's start (the claim) and its end (retrying, finished): no DynamoDB call of its own.

Stored as a map from the attempt number (text) to ``{"startedAt", "finishedAt", "status",
"error"}``: a claim that takes over a crashed attempt rewrites that attempt's entry instead of
adding one (a list_append could not tell a takeover from a new attempt). The API shows it as
an array, oldest first, with ``durationMs``. Each error is capped (``ATTEMPT_ERROR_KEEP_CHARS``),
and attempts are at most ``RetryPolicy.maxAttempts`` (20): the entries stay under ~22 KB.

The claim is an Update that leaves the item as a Put of the whole run would (every other
attribute set or removed: :func:`put_actions`), so that the earlier attempts' entries survive it.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pynamodb.expressions.update import Action

from ..clock import iso
from ..defaults import ATTEMPT_ERROR_KEEP_CHARS
from .models import RunModel, RunStatus

KEPT_BY_CLAIM = frozenset({"attempts"})  # what a claim's Update leaves as it was


def put_actions(run: RunModel, keep: Iterable[str] = KEPT_BY_CLAIM) -> list[Action]:
    """The Update actions that leave the item exactly as a Put of ``run`` would, but ``keep``."""
    kept = set(keep)
    actions: list[Action] = []
    for name, attribute in type(run).get_attributes().items():
        if attribute.is_hash_key or attribute.is_range_key or name in kept:
            continue
        value = getattr(run, name)
        actions.append(attribute.set(value) if value is not None else attribute.remove())
    return actions


def started(model: type[RunModel], attempt: int, at_ms: int) -> Action:
    """The claim's action: attempt ``attempt`` is running since ``at_ms`` (the first one starts the map)."""
    entry = {"startedAt": at_ms, "status": RunStatus.RUNNING.value}
    if attempt <= 1:
        return model.attempts.set({"1": entry})
    action: Action = model.attempts[str(attempt)].set(entry)
    return action


def ended(model: type[RunModel], attempt: int, status: RunStatus, at_ms: int, error: str | None) -> list[Action]:
    """The actions that end attempt ``attempt`` (a skipped one was never made: its entry goes)."""
    entry = model.attempts[str(attempt)]
    if status is RunStatus.SKIPPED:
        return [entry.remove()]
    return [entry["status"].set(status.value), entry["finishedAt"].set(at_ms),
            entry["error"].set(error[:ATTEMPT_ERROR_KEEP_CHARS] if error else None)]


def withdrawn(model: type[RunModel], attempt: int) -> Action:
    """A claimed attempt that waits for its agent's slot has not started: its entry goes until it does."""
    action: Action = model.attempts[str(attempt)].remove()
    return action


def _number(value: Any) -> int | None:
    return int(value) if value is not None else None


def view(stored: Any) -> list[dict[str, Any]]:
    """The API's ``attempts``: every attempt made, oldest first."""
    raw = stored.as_dict() if hasattr(stored, "as_dict") else (stored or {})
    shown: list[dict[str, Any]] = []
    for key in sorted(raw, key=int):
        entry = raw[key] or {}
        start, end = _number(entry.get("startedAt")), _number(entry.get("finishedAt"))
        shown.append({"attempt": int(key), "startedAt": iso(start), "finishedAt": iso(end),
                      "status": entry.get("status"), "error": entry.get("error"),
                      "durationMs": end - start if start is not None and end is not None else None})
    return shown
