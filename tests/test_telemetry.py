"""Structured logs, EMF metrics and secret hygiene of the Lambda entry points."""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib import runtime, telemetry
from conftest import AGENT_ID, call, job_body, receive_all
from devtools.agent_server import AgentServer

SECRET, TOKEN = "agent-secret-0123456789", "api-token-9876543210"


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Pretend to be the deployed function; restore the logger and metrics afterwards."""
    logger = logging.getLogger(telemetry.ROOT_LOGGER)
    saved = (list(logger.handlers), list(logger.filters), logger.level, logger.propagate)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "agentos-jobs-dev-execute")
    monkeypatch.setattr(telemetry, "_metrics", None)
    monkeypatch.setattr(telemetry, "_cold_start", True)  # an earlier in-process tick (test_reconcile) took it
    yield
    logger.handlers, logger.filters, logger.level, logger.propagate = saved[0], saved[1], saved[2], saved[3]


@pytest.fixture
def ssm_callback_secret(aws: dict[str, str]) -> Iterator[None]:
    """The stage's callback secret parameter, as deployed (in moto): a deployed function reads it
    once per process, so it is read afresh here, and again by the tests after this one."""
    import boto3

    from chalicelib.engine import callbacks

    boto3.client("ssm").put_parameter(Name="/agentos-jobs/dev/callback-secret", Value="callback-secret-in-ssm",
                                      Type="SecureString", Overwrite=True)
    callbacks.server_secret.cache_clear()
    yield
    callbacks.server_secret.cache_clear()


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


def test_scrubber_blanks_secrets() -> None:
    record = logging.LogRecord("agentos.jobs", logging.INFO, __file__, 1, "token %s in %s", (TOKEN, "x"), None)
    telemetry.SecretScrubber([TOKEN]).filter(record)
    assert record.getMessage() == "token *** in x"


def test_lambda_logs_are_json_with_keys_metrics_are_emf_and_no_secret_leaks(
        client: Any, configure: Any, no_sqs_delay: None, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], lambda_env: None, ssm_callback_secret: None) -> None:
    monkeypatch.setenv("AGENT_SECRET", SECRET)
    monkeypatch.setenv("AGENTOS_API_TOKENS", TOKEN)
    with AgentServer(secret=SECRET.encode()) as agent:
        agent.respond_with(200, body=f"echo {SECRET}".encode())
        configure({"security": {"enabled": True},
                   "agents": {AGENT_ID: {"url": agent.url, "secretEnv": "AGENT_SECRET", "timeoutMs": 2000}}})
        at = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)
        created = call(client, "POST", "/api/jobs", job_body(schedule=at.isoformat()),
                       headers={"Authorization": f"Bearer {TOKEN}"})
        assert created.status_code == 201
        denied = call(client, "GET", "/api/jobs", headers={"Authorization": f"Bearer {TOKEN}x"})
        assert denied.status_code == 401
        bodies = [r["body"] for r in receive_all(runtime.queue().url(runtime.queue().queue_name))]
        event = client.events.generate_sqs_event(queue_name="agentos-jobs-dev", message_bodies=bodies)
        result = client.lambda_.invoke("execute", event)
        assert result.payload == {"batchItemFailures": []}
        agent.wait_for(1)
        client.lambda_.invoke("tick", client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
    out = capsys.readouterr()
    records = json_lines(out.out)
    starts = [r for r in records if str(r.get("message", "")).startswith("start job=")]
    assert starts and {"jobId", "runId", "agentId", "cold_start"} <= set(starts[0]) | {"cold_start"}
    assert starts[0]["service"] == "agentos-jobs" and starts[0]["agentId"] == AGENT_ID
    emf = [r for r in records if "_aws" in r]
    names = {m["Name"] for doc in emf for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {"RunsSucceeded", "DispatchLatenessMs", "OccurrencesDispatched", "TickDurationMs", "ColdStart"} <= names
    everything = out.out + out.err + created.body.decode() + denied.body.decode()
    everything += json.dumps([r.to_simple_dict() for r in runtime.run_store().all(json.loads(created.body)["id"])])
    assert SECRET not in everything and TOKEN not in everything and "callback-secret-in-ssm" not in everything


# --- the scrubber covers child loggers and tokens read from SSM (docs/reliability.md, section 8, item 10)

def test_child_loggers_records_are_scrubbed(lambda_env: None, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Python applies a logger's filters only to records logged on it, not to its children's."""
    monkeypatch.setenv("AGENTOS_API_TOKENS", TOKEN)
    telemetry.configure_logging()
    logging.getLogger("agentos.jobs.delivery").warning("child says %s", TOKEN)
    logging.getLogger("agentos.jobs").warning("parent says %s", TOKEN)
    out = capsys.readouterr().out
    assert "child says ***" in out and "parent says ***" in out and TOKEN not in out


def test_tokens_read_from_ssm_are_scrubbed(lambda_env: None, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    import boto3
    from moto import mock_aws

    from chalicelib.api import auth

    monkeypatch.delenv("AGENTOS_API_TOKENS", raising=False)
    monkeypatch.setenv("AGENTOS_STAGE", "dev")
    with mock_aws():
        boto3.client("ssm").put_parameter(Name="/agentos-jobs/dev/api-tokens", Type="SecureString",
                                          Value=f"{TOKEN},other-token-123456")
        auth.reset_tokens()
        telemetry.configure_logging()  # before the tokens are loaded, as at a cold start
        assert auth.api_tokens() == (TOKEN.encode(), b"other-token-123456")
        logging.getLogger("agentos.jobs.http").warning("header was Bearer %s", "other-token-123456")
    auth.reset_tokens()
    out = capsys.readouterr().out
    assert "Bearer ***" in out and "other-token-123456" not in out


def test_scoped_tokens_from_the_environment_are_scrubbed_bare(lambda_env: None, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    # Review issue 23, finding 13: '<token>:<agentId>|...' entries were registered whole, so the
    # bare token (what a request carries) was not blanked; the SSM reading split them already.
    scoped, other = "scoped-token-0123456789", "two-agents-token-012345"
    monkeypatch.setenv("AGENTOS_API_TOKENS", f"{TOKEN}, {scoped}:{AGENT_ID} ,{other}:{AGENT_ID}|{AGENT_ID}")
    telemetry.configure_logging()
    logging.getLogger("agentos.jobs.http").warning("header was Bearer %s, then %s", scoped, other)
    out = capsys.readouterr().out
    assert "header was Bearer ***, then ***" in out and scoped not in out and other not in out
