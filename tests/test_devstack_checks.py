"""``make run``'s start-up checks (scripts/devstack.py): a deployment error is reported before
the stack serves, not at the first run it breaks."""
from __future__ import annotations

from typing import Any

import pytest

from chalicelib.config import reset_config
from scripts.devstack import StartupError, check_config

AGENT = "550e8400-e29b-41d4-a716-446655440000"


def test_an_unset_agent_secret_stops_start_up(configure: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an agent signed with a secret from an environment variable that is not set
    monkeypatch.delenv("MISSING_AGENT_SECRET", raising=False)
    configure({"agents": {AGENT: {"url": "http://127.0.0.1:9/hook", "secretEnv": "MISSING_AGENT_SECRET"}}})
    reset_config()
    # When the stack starts, then it stops naming the agent and the variable (never a value)
    with pytest.raises(StartupError, match=f"agent {AGENT}: secretEnv MISSING_AGENT_SECRET is not set"):
        check_config()


def test_a_set_agent_secret_starts(configure: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRESENT_AGENT_SECRET", "s3cret")
    configure({"agents": {AGENT: {"url": "http://127.0.0.1:9/hook", "secretEnv": "PRESENT_AGENT_SECRET"}}})
    reset_config()
    config = check_config()
    assert config.agent(AGENT).secretEnv == "PRESENT_AGENT_SECRET"


def test_an_unset_notification_secret_stops_start_up(configure: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MISSING_NOTIFY_SECRET", raising=False)
    configure({"notifications": [{"url": "http://127.0.0.1:9/n", "events": ["run.failed"],
                                  "secretEnv": "MISSING_NOTIFY_SECRET"}]})
    reset_config()
    with pytest.raises(StartupError, match="notifications.0: secretEnv MISSING_NOTIFY_SECRET is not set"):
        check_config()
