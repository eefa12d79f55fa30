"""Shared fixtures: moto-backed AWS built from infra/, the Chalice test client, a clock."""
from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# The environment must be set before chalicelib reads it at import time.
os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "JOBS_TABLE": "agentos-jobs-dev", "RUNS_TABLE": "agentos-runs-dev",
    "JOBS_QUEUE": "agentos-jobs-dev", "JOBS_DLQ": "agentos-jobs-dev-dlq",
    "AGENTOS_CONFIG": "/nonexistent/agentos.config.json", "AGENTOS_CALLBACK_SECRET": "test-callback-secret",
    "AGENTOS_PUBLIC_URL": "http://localhost:3000",
})
for _name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS", "AGENTOS_API_TOKENS",
              "AGENTOS_API_TOKENS_PARAM", "AWS_PROFILE"):
    os.environ.pop(_name, None)
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402
from moto import mock_aws  # noqa: E402

from chalicelib import clock, runtime  # noqa: E402
from devtools import moto_patches  # noqa: E402
from devtools.fake_clock import FakeClock  # noqa: E402

moto_patches.install()  # conditional writes with one winner, as on AWS; AGENTOS_MOTO_SPEED=0: no speed patches
from chalicelib.api.auth import reset_tokens  # noqa: E402
from required import pytest_runtest_makereport  # noqa: E402, F401  (AGENTOS_REQUIRE_ALL: CI)

AGENT_ID = "550e8400-e29b-41d4-a716-446655440000"


@pytest.fixture
def aws() -> Iterator[dict[str, str]]:
    """moto DynamoDB + SQS + CloudFormation, provisioned from infra/ exactly as deployed."""
    from infra.provision import provision

    with mock_aws():
        runtime.reset()
        yield provision("dev")
    runtime.reset()


@pytest.fixture
def configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Write an agentos.config.json for this test and reload every service."""
    def write(data: dict[str, Any]) -> Path:
        path = tmp_path / "agentos.config.json"
        data = {"logs": {"dir": str(tmp_path / "logs")}, **data}
        path.write_text(json.dumps(data))
        monkeypatch.setenv("AGENTOS_CONFIG", str(path))
        runtime.reset()
        reset_tokens()
        return path
    yield write
    runtime.reset()
    reset_tokens()


@pytest.fixture
def fake_clock() -> Iterator[FakeClock]:
    """Freeze chalicelib's clock at a known instant (2030-01-01T00:00:00Z)."""
    fake = FakeClock(1_893_456_000.0)
    clock.set_source(fake, fake.sleep_until)
    yield fake
    clock.set_source(None)


@pytest.fixture
def client(aws: dict[str, str]) -> Iterator[Any]:
    """Chalice's in-process test client against the moto-backed app."""
    from chalice.test import Client

    from app import app

    with Client(app) as test_client:
        yield test_client


def job_body(**overrides: Any) -> dict[str, Any]:
    """A valid create body (the spec's example), with overrides."""
    body = {"name": "SocialMediaProactivePost", "description": "Checks for trending news",
            "agentId": AGENT_ID, "schedule": "0 */4 * * *",
            "payload": {"action": "FETCH_TRENDS_AND_POST", "platform": "twitter", "topics": ["AI", "Blockchain"]}}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def call(client: Any, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    """Send a request through the Chalice test client; dicts are sent as JSON."""
    raw = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    return client.http.request(method, path, body=raw if raw is not None else b"", headers=hdrs)


@pytest.fixture
def no_sqs_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every message visible at once (the fake clock, not SQS, then decides "when")."""
    import chalicelib.store.sqs as queue_module

    monkeypatch.setattr(queue_module, "delay_seconds", lambda not_before_ms, now_ms: 0)


def receive_all(queue_url: str, max_rounds: int = 50) -> list[dict[str, Any]]:
    """Every message visible now on ``queue_url``, as Lambda-style records (not deleted)."""
    import boto3

    sqs = boto3.client("sqs")
    records: list[dict[str, Any]] = []
    for _ in range(max_rounds):
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=600,
                                  AttributeNames=["All"]).get("Messages", [])
        if not got:
            break
        records += [{"messageId": m["MessageId"], "body": m["Body"], "receiptHandle": m["ReceiptHandle"]}
                    for m in got]
    return records


def pump(queue_url: str, delete: bool = True) -> int:
    """Run every visible message through the executor like the Lambda would; returns how many ran.

    ``delete=False`` leaves handled messages in flight (invisible for 600 s) instead of
    deleting them: moto's DeleteMessage walks the whole queue, which makes a test with
    thousands of duplicates quadratic.
    """
    import boto3

    records = receive_all(queue_url)
    sqs = boto3.client("sqs")
    for start in range(0, len(records), 10):  # Lambda's batch size
        batch = records[start:start + 10]
        failures = {f["itemIdentifier"] for f in runtime.executor().handle_batch(batch)["batchItemFailures"]}
        for record in batch:
            if delete and record["messageId"] not in failures:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=record["receiptHandle"])
    return len(records)


class Recorder:
    """An in-process action that records every start (run id, attempt, clock time)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, float]] = []
        self.failures_left: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, ctx: Any) -> str:
        from chalicelib.errors import DeliveryFailed

        with self._lock:
            self.calls.append((ctx.run_id, ctx.attempt, clock.now().timestamp()))
            left = self.failures_left.get(ctx.job_name, 0)
            if left:
                self.failures_left[ctx.job_name] = left - 1
                raise DeliveryFailed("agent answered 503", retryable=True)
        return "recorded"

    def runs(self) -> list[str]:
        """Run ids in start order."""
        return [run_id for run_id, _, _ in self.calls]


_RECORDER = Recorder()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """A fresh Recorder behind the in-process action "RECORD"."""
    from chalicelib.engine import actions

    global _RECORDER
    if "RECORD" not in actions._ACTIONS:
        actions.action("RECORD")(lambda ctx: _RECORDER(ctx))
    _RECORDER = Recorder()
    yield _RECORDER


@pytest.fixture
def engine(aws: dict[str, str], configure: Any, fake_clock: FakeClock, no_sqs_delay: None,
           recorder: Recorder) -> dict[str, Any]:
    """moto AWS, a default config, a frozen clock, immediate SQS visibility and a recorder."""
    configure({})
    return {**aws, "clock": fake_clock, "recorder": recorder}


def record_job(**overrides: Any) -> dict[str, Any]:
    """A create body whose occurrences the Recorder sees."""
    return job_body(**{"payload": {"action": "RECORD"}, **overrides})


# --- faults below botocore (tests/fault_injector.py) ---------------------------------------

@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The fault injector (an ``Injector``), active for this test."""
    from botocore.client import BaseClient

    from fault_injector import Injector

    injector = Injector(BaseClient._make_api_call)
    monkeypatch.setattr(BaseClient, "_make_api_call",
                        lambda client, operation, params: injector(client, operation, params))
    return injector


# --- an HTTP agent and SQS on the fake clock (long runs, overlap, guard rails) ---------------

# A retry policy whose delays tests can predict: 1 s, 2 s, 4 s... up to 60 s.
NO_JITTER: dict[str, Any] = {"maxAttempts": 3, "initialDelayMs": 1000, "maxDelayMs": 60_000, "multiplier": 2,
                             "jitter": False}


@pytest.fixture
def sqs_on_fake_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's SQS delays and visibility follow chalicelib's (fake) clock."""
    import moto.sqs.models as sqs_models

    monkeypatch.setattr(sqs_models, "unix_time", lambda dt=None: clock.now_ms() / 1000)
    monkeypatch.setattr(sqs_models, "unix_time_millis", lambda dt=None: float(clock.now_ms()))


@pytest.fixture
def agent() -> Iterator[Any]:
    """An HTTP test agent (devtools.agent_server.AgentServer), unsigned, answering 200."""
    from devtools.agent_server import AgentServer

    with AgentServer() as server:
        yield server


@pytest.fixture
def stack(aws: dict[str, str], configure: Any, fake_clock: FakeClock, sqs_on_fake_clock: None,
          agent: Any, client: Any) -> dict[str, Any]:
    """moto AWS, a fake clock that SQS follows, one HTTP agent, the API test client."""
    configure({"agents": {AGENT_ID: {"url": agent.url, "timeoutMs": 10_000}}, "retryPolicy": NO_JITTER})
    return {**aws, "clock": fake_clock, "agent": agent, "client": client}


def drive(stack: dict[str, Any], seconds: float, step: float = 1.0) -> None:
    """Let ``seconds`` pass on the fake clock, running whatever SQS shows at each step."""
    end = clock.now_ms() + int(seconds * 1000)
    while clock.now_ms() < end:
        while pump(stack["queue_url"]):
            pass
        stack["clock"].advance(step)
    while pump(stack["queue_url"]):
        pass


def create_job(stack: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """Create a job for the stack's agent (one run at 00:00:05 unless overridden)."""
    body = job_body(**{"schedule": "2030-01-01T00:00:05Z", "payload": {"task": "research"}, **overrides})
    return runtime.jobs().create(body)


def delivery(stack: dict[str, Any], index: int = -1) -> dict[str, Any]:
    """The body of the stack's agent's ``index``-th delivery."""
    return stack["agent"].requests[index].json()


def report(stack: dict[str, Any], what: str, body: Any, token: str | None) -> Any:
    """POST a run report (``complete``, ``heartbeat``, ...) for the last delivery's run."""
    run_id = delivery(stack)["runId"]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return call(stack["client"], "POST", f"/api/runs/{run_id}/{what}", body, headers)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say loudly when the console's browser tests (or the TypeScript kit's) could not run here."""
    from browser import SKIP_MARK

    for mark, what in ((SKIP_MARK, "console browser tests"), ("NODE TESTS SKIPPED", "TypeScript kit tests")):
        skipped = [r for r in terminalreporter.stats.get("skipped", []) if mark in str(r.longrepr)]
        if skipped:
            terminalreporter.write_sep("!", f"{mark}: {len(skipped)} {what} did not run on this machine",
                                       red=True, bold=True)
