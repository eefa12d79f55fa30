"""chalicelib.config: defaults, and the deployed default of security (docs/reliability.md, section 8, item 1)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.config import load_config


@pytest.mark.parametrize("document, local, deployed", [
    (None, False, True),  # no file at all
    ({}, False, True),
    ({"security": {}}, False, True),
    ({"security": {"enabled": True}}, True, True),
    ({"security": {"enabled": False}}, False, False),  # the only way to open a deployed API
])
def test_security_is_on_in_lambda_unless_the_file_says_false(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, document: dict | None, local: bool, deployed: bool) -> None:
    path = tmp_path / "agentos.config.json"
    if document is not None:
        path.write_text(json.dumps(document))
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    assert load_config(path).security.enabled is local
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "agentos-jobs-dev")
    assert load_config(path).security.enabled is deployed


def test_the_unrecorded_due_shard_span_is_the_default_count() -> None:
    """A stage that never recorded a count armed its jobs with the default one (store.shard_span)."""
    from chalicelib.config import Scheduler
    from chalicelib.store.jobs import UNRECORDED_SHARD_SPAN

    assert Scheduler().dueShards == UNRECORDED_SHARD_SPAN


def test_run_history_outlives_every_message_that_can_still_be_redriven() -> None:
    """The run item is the dedupe record: it must not expire while the DLQ (14 days) or the queue
    can still hand its occurrence over again."""
    from chalicelib.config import MIN_RUN_HISTORY_DAYS, parse_config
    from chalicelib.errors import ConfigError
    from infra.resources import DLQ_RETENTION_S, QUEUE_RETENTION_S

    assert MIN_RUN_HISTORY_DAYS * 86_400 > max(DLQ_RETENTION_S, QUEUE_RETENTION_S)
    with pytest.raises(ConfigError, match="runHistoryDays"):
        parse_config({"scheduler": {"runHistoryDays": MIN_RUN_HISTORY_DAYS - 1}})
    assert parse_config({"scheduler": {"runHistoryDays": MIN_RUN_HISTORY_DAYS}}).scheduler.runHistoryDays == 15


def test_agent_ids_in_the_config_are_normalised() -> None:
    """An upper-case UUID key still finds its agent (job agentIds are stored lower-case)."""
    from chalicelib.config import parse_config
    from chalicelib.errors import ConfigError

    upper = "550E8400-E29B-41D4-A716-446655440000"
    config = parse_config({"agents": {upper: {"url": "https://agent.example/jobs"}}})
    assert config.agent(upper.lower()) is not None and config.agent(upper) is not None
    assert list(config.agents) == [upper.lower()]
    with pytest.raises(ConfigError, match="agents"):
        parse_config({"agents": {upper: {"url": "https://a.example"}, upper.lower(): {"url": "https://b.example"}}})
    with pytest.raises(ConfigError, match="UUID"):
        parse_config({"agents": {"my-agent": {"url": "https://a.example"}}})
