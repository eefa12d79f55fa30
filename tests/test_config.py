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
    from chalicelib.store.shard_span import UNRECORDED_SHARD_SPAN

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


AGENT = "550e8400-e29b-41d4-a716-446655440000"


@pytest.mark.parametrize("document, key, words", [
    ({"x": 1}, "x", "Extra inputs are not permitted"),
    ({"retryPolicy": {"maxAttempts": 0}}, "retryPolicy.maxAttempts", "greater than or equal to 1"),
    ({"retryPolicy": {"multiplier": "2"}}, "retryPolicy.multiplier", "valid number"),
    ({"agents": {AGENT: {"budget": {}}}}, f"agents.{AGENT}.budget", "give maxCostUsdPerDay and/or maxTokensPerDay"),
    ({"agents": {AGENT: {"secretEnv": "A", "secretParam": "/a"}}}, f"agents.{AGENT}", "not both"),
    ({"agents": {AGENT: {"url": "ftp://a.example"}}}, f"agents.{AGENT}.url", "scheme should be 'http' or 'https'"),
    ({"agents": {AGENT: {"secretParam": "/a\n"}}}, f"agents.{AGENT}.secretParam", "should match pattern"),
    ({"agents": {AGENT: {"quota": {"maxDepth": 101}}}}, f"agents.{AGENT}.quota.maxDepth", "less than or equal to 100"),
    ({"logs": {"dir": ""}}, "logs.dir", "at least 1 character"),
    ({"scheduler": {"dueShards": True}}, "scheduler.dueShards", "valid integer"),
])
def test_a_bad_file_names_its_first_bad_key(document: dict, key: str, words: str) -> None:
    """The message (and ConfigError's key) name the first bad key, as the pydantic models word it."""
    from chalicelib.config import parse_config
    from chalicelib.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        parse_config(document)
    assert str(caught.value).startswith(f"agentos.config.json: {key}: ") and words in str(caught.value)


def test_a_whole_number_is_a_float_and_a_cost_is_kept_to_the_nano_dollar() -> None:
    from chalicelib.config import parse_config, parse_retry_policy

    config = parse_config({"retryPolicy": {"multiplier": 3},
                           "agents": {AGENT: {"budget": {"maxCostUsdPerDay": 1.1234567891234}}}})
    assert config.retryPolicy is not None and config.retryPolicy.multiplier == 3.0
    assert type(config.retryPolicy.multiplier) is float
    budget = config.agents[AGENT].budget
    assert budget is not None and budget.maxCostUsdPerDay == 1.123456789
    assert parse_retry_policy('{"multiplier": 3}').multiplier == 3.0
