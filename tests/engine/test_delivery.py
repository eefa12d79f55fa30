"""HTTP delivery to an agent: body, signing, and classification of every outcome."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any

import pytest

from chalicelib.config import AgentEndpoint, parse_config
from chalicelib.defaults import ANSWER_READ_BYTES
from chalicelib.engine.delivery import Delivery, parse_retry_after, post_to_agent, sign, verify
from chalicelib.errors import DeliveryFailed
from devtools.agent_server import AgentServer, check_signature, unused_port

SECRET = "s3cret-value-never-shown"
AGENT = "550e8400-e29b-41d4-a716-446655440000"
DELIVERY = Delivery(
    job_id="job-123",
    job_name="nightly",
    run_id="run-abc",
    agent_id="550e8400-e29b-41d4-a716-446655440000",
    scheduled_at="2030-01-01T00:00:00Z",
    attempt=2,
    trigger="schedule",
    payload={"action": "FETCH", "topics": ["AI", "ü"], "n": 1},
)


@pytest.fixture
def signed_agent(monkeypatch: pytest.MonkeyPatch) -> Iterator[AgentServer]:
    """A test agent that checks signatures made with SECRET (exported as AGENT_SECRET)."""
    monkeypatch.setenv("AGENT_SECRET", SECRET)
    with AgentServer(secret=SECRET.encode()) as server:
        yield server


def endpoint(url: str, secret_env: str | None = None, timeout_ms: int = 5000, **more: Any) -> AgentEndpoint:
    """An agent endpoint as the config would hold it (read from a config document)."""
    entry = {"url": url, "secretEnv": secret_env, "timeoutMs": timeout_ms, **more}
    return parse_config({"agents": {AGENT: entry}}).agents[AGENT]


def now() -> int:
    """The current unix time, as the executor passes it."""
    return int(time.time())


def fail(delivery: Delivery, where: AgentEndpoint) -> DeliveryFailed:
    """Deliver, expecting DeliveryFailed; return it."""
    with pytest.raises(DeliveryFailed) as info:
        post_to_agent(delivery, where, now())
    return info.value


# --- body and signatures ---------------------------------------------------------------

def test_body_is_compact_json_with_exactly_the_documented_fields() -> None:
    body = DELIVERY.body()
    assert json.loads(body) == {
        "jobId": "job-123", "jobName": "nightly", "runId": "run-abc",
        "agentId": "550e8400-e29b-41d4-a716-446655440000", "scheduledAt": "2030-01-01T00:00:00Z",
        "attempt": 2, "trigger": "schedule", "payload": {"action": "FETCH", "topics": ["AI", "ü"], "n": 1},
        "state": None, "lastSuccess": None,  # contract section 12: the job's memory, null before any
    }
    assert b", " not in body and b": " not in body


def test_sign_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(b"k", b"1700000000." + b'{"a":1}', hashlib.sha256).hexdigest()
    assert sign(b"k", 1700000000, b'{"a":1}') == f"t=1700000000,v1={expected}"


def test_signature_round_trip_and_independent_check() -> None:
    header = sign(b"k", 1700000000, b"body")
    assert verify(b"k", header, b"body", now_s=1700000000)
    assert check_signature(b"k", header, b"body", now_s=1700000000)


@pytest.mark.parametrize("secret, body, now_s", [
    (b"wrong", b"body", 1700000000),          # wrong secret
    (b"k", b"body!", 1700000000),             # altered body
    (b"k", b"body", 1700000000 + 301),        # stale: replayed after the window
    (b"k", b"body", 1700000000 - 301),        # from the future
])
def test_verify_rejects(secret: bytes, body: bytes, now_s: int) -> None:
    assert not verify(secret, sign(b"k", 1700000000, b"body"), body, now_s)


def test_verify_window_edges_and_custom_tolerance() -> None:
    header = sign(b"k", 1000, b"x")
    assert verify(b"k", header, b"x", now_s=1300)
    assert not verify(b"k", header, b"x", now_s=1061, tolerance_s=60)


@pytest.mark.parametrize("header", ["", "garbage", "t=abc,v1=00", "v1=00", "t=1000", "t=-1000,v1=00"])
def test_verify_rejects_malformed_headers(header: str) -> None:
    assert not verify(b"k", header, b"x", now_s=1000)


def test_verify_accepts_any_matching_v1_during_rotation() -> None:
    good = sign(b"new", 1000, b"x").split("v1=")[1]
    assert verify(b"new", f"t=1000,v1={'0' * 64},v1={good}", b"x", now_s=1000)


# --- successful deliveries -------------------------------------------------------------

def test_200_returns_text_and_sends_the_documented_headers(agent: AgentServer) -> None:
    agent.respond_with(200, body="accepted")
    answer = post_to_agent(DELIVERY, endpoint(agent.url), now())
    assert (answer.status, answer.text, answer.document, answer.accepted) == (200, "accepted", None, False)
    (request,) = agent.requests
    assert request.method == "POST" and request.path == "/jobs"
    assert request.header("Content-Type") == "application/json"
    assert request.header("X-AgentOS-Run-Id") == "run-abc"
    assert request.header("X-AgentOS-Signature") is None
    assert request.body == DELIVERY.body()


def test_any_2xx_succeeds_and_long_answers_are_truncated(agent: AgentServer) -> None:
    agent.respond_with(204, body=b"")
    assert post_to_agent(DELIVERY, endpoint(agent.url), now()).text == ""
    agent.respond_with(202, body="x" * 5000)
    answer = post_to_agent(DELIVERY, endpoint(agent.url), now())
    assert (answer.text, answer.accepted, answer.size) == ("x" * 1024, True, 5000)


def test_a_json_answer_is_read_whole_up_to_1_mib_then_marked_truncated(agent: AgentServer) -> None:
    # Read past the output's 32 KiB, so that a state beside a large output is found (the run's
    # output is capped afterwards: outcomes.output_text, tests/engine/test_continuity.py)
    agent.respond_with(200, body=json.dumps({"summary": "ok", "usage": {"inputTokens": 5}}))
    assert post_to_agent(DELIVERY, endpoint(agent.url), now()).document == {"summary": "ok",
                                                                             "usage": {"inputTokens": 5}}
    large = {"blob": "y" * 40_000, "state": {"n": 1}}
    agent.respond_with(200, body=json.dumps(large))
    assert post_to_agent(DELIVERY, endpoint(agent.url), now()).document == large
    big = json.dumps({"blob": "y" * ANSWER_READ_BYTES})
    agent.respond_with(200, body=big)
    assert post_to_agent(DELIVERY, endpoint(agent.url), now()).document == {"truncated": True, "bytes": len(big)}


def test_timeout_is_a_total_deadline_not_a_per_read_timeout() -> None:
    # Given an agent that answers a status line, then trickles a header byte every 0.2 s
    import socket
    import threading
    import time

    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        conn.recv(65_536)
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        while not stop.is_set():
            try:
                conn.sendall(b"X")
            except OSError:
                break
            time.sleep(0.2)
        conn.close()
    threading.Thread(target=trickle, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/jobs"
    # When the delivery's timeout is 1 s
    started = time.monotonic()
    error = fail(DELIVERY, endpoint(url, timeout_ms=1000))
    elapsed = time.monotonic() - started
    stop.set()
    listener.close()
    # Then it ends as a retryable timeout near 1 s, although every read got a byte in time
    assert error.retryable and "timed out after 1000 ms" in error.message
    assert elapsed < 5.0  # the trickle goes on until the call returns: a per-read timeout never ends it


def test_signed_delivery_verifies_at_the_agent(signed_agent: AgentServer) -> None:
    sent_at = now()
    post_to_agent(DELIVERY, endpoint(signed_agent.url, "AGENT_SECRET"), sent_at)
    (request,) = signed_agent.requests
    assert request.signature_valid is True
    signature = request.header("X-AgentOS-Signature")
    assert signature is not None and signature.startswith(f"t={sent_at},v1=")
    assert verify(SECRET.encode(), signature, request.body, sent_at)


def test_wrong_secret_is_rejected_by_the_agent(signed_agent: AgentServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_SECRET", "not-the-agents-secret")
    error = fail(DELIVERY, endpoint(signed_agent.url, "AGENT_SECRET"))
    assert signed_agent.requests[0].signature_valid is False
    assert "agent answered 401" in error.message and not error.retryable
    assert "not-the-agents-secret" not in error.message


# --- failures --------------------------------------------------------------------------

@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
def test_retryable_statuses(agent: AgentServer, status: int) -> None:
    agent.respond_with(status, body="")
    error = fail(DELIVERY, endpoint(agent.url))
    assert error.retryable and error.retry_after_s is None
    assert error.message == f"agent answered {status}"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_other_statuses_are_not_retried(agent: AgentServer, status: int) -> None:
    agent.respond_with(status, body="bad payload\nfield x")
    error = fail(DELIVERY, endpoint(agent.url))
    assert not error.retryable
    assert error.message == f"agent answered {status}: bad payload field x"


def test_429_retry_after_seconds(agent: AgentServer) -> None:
    agent.respond_with(429, retry_after=7)
    error = fail(DELIVERY, endpoint(agent.url))
    assert error.retryable and error.retry_after_s == 7


def test_503_retry_after_http_date(agent: AgentServer) -> None:
    agent.respond_with(503, retry_after=formatdate(time.time() + 30, usegmt=True))
    error = fail(DELIVERY, endpoint(agent.url))
    assert error.retryable and error.retry_after_s is not None and 27 <= error.retry_after_s <= 31


def test_parse_retry_after() -> None:
    assert parse_retry_after(" 12 ", 0) == 12
    assert parse_retry_after("Thu, 01 Jan 1970 00:01:40 GMT", 40) == 60
    assert parse_retry_after("Thu, 01 Jan 1970 00:01:40 GMT", 500) == 0
    assert parse_retry_after("Thu Jan  1 00:01:40 1970", 0) == 100  # obsolete asctime form, GMT
    for junk in (None, "", "-1", "1.5", "soon", "Thu, 99 Foo 1970"):
        assert parse_retry_after(junk, 0) is None


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_never_followed(agent: AgentServer, status: int) -> None:
    with AgentServer() as elsewhere:
        agent.respond_with(status, redirect_to=elsewhere.url)
        error = fail(DELIVERY, endpoint(agent.url))
        time.sleep(0.1)
        assert elsewhere.requests == []
    assert not error.retryable and error.message.startswith(f"agent answered {status}")
    assert len(agent.requests) == 1


def test_timeout_is_retryable(agent: AgentServer) -> None:
    agent.respond_with(200, delay_s=10)  # far from the 300 ms: a busy machine cannot blur the two
    started = time.monotonic()
    error = fail(DELIVERY, endpoint(agent.url, timeout_ms=300))
    assert time.monotonic() - started < 5
    assert error.retryable and error.message == "agent timed out after 300 ms"


def test_connection_refused_is_retryable() -> None:
    error = fail(DELIVERY, endpoint(f"http://127.0.0.1:{unused_port()}/jobs"))
    assert error.retryable and error.message.startswith("agent unreachable")


@pytest.mark.parametrize("value", [None, ""])
def test_missing_secret_env_never_sends_unsigned(agent: AgentServer, monkeypatch: pytest.MonkeyPatch,
                                                  value: str | None) -> None:
    monkeypatch.delenv("MISSING_SECRET", raising=False)
    if value is not None:
        monkeypatch.setenv("MISSING_SECRET", value)
    error = fail(DELIVERY, endpoint(agent.url, "MISSING_SECRET"))
    assert not error.retryable and error.message == "secret env MISSING_SECRET is not set"
    assert agent.requests == []


def test_secret_and_signature_never_appear_in_messages(signed_agent: AgentServer) -> None:
    sent_at = now()
    signature = sign(SECRET.encode(), sent_at, DELIVERY.body())
    # An agent that echoes what it got (secret and signature) in its error answer.
    signed_agent.respond_with(500, body=f"got {signature} with {SECRET}")
    with pytest.raises(DeliveryFailed) as info:
        post_to_agent(DELIVERY, endpoint(signed_agent.url, "AGENT_SECRET"), sent_at)
    text = str(info.value)
    assert SECRET not in text and signature.split("v1=")[1] not in text
    assert info.value.retryable and "[redacted]" in text


# --- agent secrets from SSM (docs/reliability.md, section 8, item 10)

PARAM = "/agentos-jobs/dev/agents/nightly"


@pytest.fixture
def ssm_secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """moto SSM holding SECRET under PARAM; yields the names of every GetParameter call."""
    import boto3
    from botocore.client import BaseClient
    from moto import mock_aws

    from chalicelib.engine import agent_secrets

    called: list[str] = []
    original = BaseClient._make_api_call

    def spy(client: BaseClient, operation: str, params: dict) -> object:
        if operation == "GetParameter":
            called.append(params["Name"])
        return original(client, operation, params)

    with mock_aws():
        boto3.client("ssm", region_name="us-east-1").put_parameter(Name=PARAM, Type="SecureString", Value=SECRET)
        monkeypatch.setattr(BaseClient, "_make_api_call", spy)
        agent_secrets.forget()
        yield called
        agent_secrets.forget()


def test_secret_from_an_ssm_parameter_is_read_once_and_signs(ssm_secret: list[str]) -> None:
    """``secretParam``: the HMAC secret is fetched lazily, once per process, and signs deliveries."""
    with AgentServer(secret=SECRET.encode()) as server:
        where = endpoint(server.url, secretParam=PARAM)
        assert ssm_secret == []  # nothing read before the first delivery
        for _ in range(3):
            post_to_agent(DELIVERY, where, now())
        assert [r.signature_valid for r in server.requests] == [True, True, True]
    assert ssm_secret == [PARAM]


def test_a_missing_secret_parameter_fails_the_delivery_without_naming_it(ssm_secret: list[str]) -> None:
    with AgentServer() as server:
        failure = fail(DELIVERY, endpoint(server.url, secretParam=PARAM + "-gone"))
        assert server.requests == []  # never an unsigned request
    assert not failure.retryable and PARAM not in failure.message


def test_secret_env_and_param_are_exclusive() -> None:
    from chalicelib.config import parse_config
    from chalicelib.errors import ConfigError

    with pytest.raises(ConfigError, match="secretEnv or secretParam"):
        parse_config({"agents": {"550e8400-e29b-41d4-a716-446655440000": {
            "url": "https://a.example", "secretEnv": "X", "secretParam": PARAM}}})
