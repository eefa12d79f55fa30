"""Tests that CI must run, not skip: with ``AGENTOS_REQUIRE_ALL=1`` (``.ci/run`` sets it) a skip
whose reason carries one of :data:`REQUIRED_SKIPS` is reported as a failure.

On a developer's machine without Chromium or Node.js those tests skip (and the summary says so
loudly); in CI a skip would hide a missing install step behind a green run (issue 23).
"""
from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

from browser import SKIP_MARK

NODE_SKIP = "NODE TESTS SKIPPED"  # the TypeScript kit's tests (tests/test_agent_kits.py)
REQUIRED_SKIPS = (SKIP_MARK, NODE_SKIP)


def required_all() -> bool:
    """Whether this run must not skip a required test (``AGENTOS_REQUIRE_ALL`` set, not 0)."""
    return os.environ.get("AGENTOS_REQUIRE_ALL", "") not in ("", "0")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Turn the skip of a required test into a failure when :func:`required_all`."""
    report = yield
    # a skip's longrepr is (path, line, "Skipped: reason"); a skipif's, at setup, then shows as an error
    reason = str(report.longrepr[-1]) if report.skipped and isinstance(report.longrepr, tuple) else ""
    if reason and required_all() and any(mark in reason for mark in REQUIRED_SKIPS):
        report.outcome = "failed"
        report.longrepr = f"AGENTOS_REQUIRE_ALL is set, and this required test was skipped: {reason}"
    return report
