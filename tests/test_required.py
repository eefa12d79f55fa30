"""AGENTOS_REQUIRE_ALL=1 (set by .ci/run): a skipped browser or TypeScript kit test fails the run.

Without it such a test skips when its tool is missing (a developer's machine), and CI stayed
green with a whole kind of test unrun (issue 23). Checked on a throwaway test file, in a child
pytest that loads the same hook as tests/conftest.py.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
CASES = '''
import pytest
from browser import SKIP_MARK

@pytest.mark.skipif(True, reason=f"{SKIP_MARK}: no Chromium")
def test_browser(): pass

def test_node(): pytest.skip("NODE TESTS SKIPPED: no node on PATH")

@pytest.mark.skip(reason="an optional extra")
def test_optional(): pass

def test_runs(): pass
'''


def run_cases(tmp_path: Path, require_all: str | None) -> str:
    """Run CASES in a child pytest with the hook; its summary line."""
    (tmp_path / "test_cases.py").write_text(CASES)
    (tmp_path / "conftest.py").write_text("from required import pytest_runtest_makereport  # noqa: F401\n")
    env = {k: v for k, v in os.environ.items() if k not in ("AGENTOS_REQUIRE_ALL", "PYTEST_ADDOPTS")}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the hook alone: faster, and no plugin of ours interferes
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    if require_all is not None:
        env["AGENTOS_REQUIRE_ALL"] = require_all
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           "-rfs", str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    return done.stdout


@pytest.mark.parametrize("value", [None, "0"])
def test_without_it_a_missing_tool_only_skips(tmp_path: Path, value: str | None) -> None:
    out = run_cases(tmp_path, value)
    assert "1 passed, 3 skipped" in out, out


def test_with_it_a_required_skip_fails_or_errs_and_an_optional_one_still_skips(tmp_path: Path) -> None:
    out = run_cases(tmp_path, "1")
    assert "1 failed, 1 passed, 1 skipped, 1 error" in out, out
    assert out.count("AGENTOS_REQUIRE_ALL") >= 2 and "no Chromium" in out and "no node on PATH" in out, out
