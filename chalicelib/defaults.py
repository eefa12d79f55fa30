"""Defaults and bounds shared by the floors, in one place (the API's vocabulary is :mod:`.vocab`).

A value the API, the engine and the store must agree on lives here once, so that no floor
imports another's module for a number. This module imports nothing.
"""
from __future__ import annotations

DEFAULT_TIMEOUT_MS = 900_000  # a job's timeoutMs when unset (the API shows it, the executor applies it)
