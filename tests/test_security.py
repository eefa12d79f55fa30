"""Security: authentication on every route, constant-time token checks, no secret anywhere
(responses, logs, run records, queues), agent URLs from configuration only, no redirects
followed, the signature's replay window, and size limits enforced before any write.
"""
from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient

from chalicelib import runtime
from chalicelib.engine.delivery import sign, verify
from chalicelib.store.models import JobModel, RunModel
from conftest import AGENT_ID, call, job_body, pump, receive_all
from test_faults import ledger

TOKENS = ("s3cret-token-alpha", "s3cret-token-beta")
GOOD = {"Authorization": f"Bearer {TOKENS[1]}"}
AGENT_SECRET = "agent-hmac-key-never-shown-9f3a"
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem",
          "SendMessage", "SendMessageBatch"}


@pytest.fixture
def secured(client: Any, configure: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The test client with security on and two accepted tokens."""
    monkeypatch.setenv("AGENTOS_API_TOKENS", ",".join(TOKENS))
    configure({"security": {"enabled": True}})
    return client


@pytest.fixture
def aws_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every AWS operation called during the test, in order ("dynamodb.PutItem"...)."""
    seen: list[str] = []
    original = BaseClient._make_api_call

    def counting(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        seen.append(f"{client.meta.service_model.service_name}.{operation}")
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counting)
    return seen


def app_routes() -> list[tuple[str, str]]:
    """Every (method, path) the Chalice app serves, with a concrete job id."""
    from app import app

    return [(method, path.replace("{job_id}", "job-0000000000000000"))
            for path, entries in sorted(app.routes.items()) for method in sorted(entries)]


# README, "Console": the console's page and files need no token (the page asks for one on a 401).
CONSOLE_ROUTES = {("GET", "/console"), ("GET", "/console/{name}")}  # {name}: one of its modules or its style
CONSOLE_FILES = [("GET", "/console"), ("GET", "/console/app.js"), ("GET", "/console/api.js"),
                 ("GET", "/console/app.css")]
OPEN_ROUTES = {("GET", "/api/health")} | CONSOLE_ROUTES
BAD_HEADERS: list[dict[str, str]] = [
    {}, {"Authorization": ""}, {"Authorization": "Bearer"}, {"Authorization": "Bearer "},
    {"Authorization": f"Basic {TOKENS[0]}"}, {"Authorization": TOKENS[0]}, {"Authorization": f"Token {TOKENS[0]}"},
    {"Authorization": f"Bearer {TOKENS[0][:-1]}"}, {"Authorization": f"Bearer {TOKENS[0]}x"},
    {"Authorization": f"Bearer {TOKENS[0].upper()}"}, {"Authorization": f"Bearer {','.join(TOKENS)}"},
    {"Authorization": f"Bearer {TOKENS[0]} {TOKENS[1]}"}, {"Authorization": "Bearer " + "A" * 8192},
    {"X-Api-Key": TOKENS[0]}, {"Cookie": f"token={TOKENS[0]}"},
]


# --- authentication -------------------------------------------------------------------------------

def assert_401(response: Any) -> None:
    """Chalice's error shape, a Bearer challenge, and nothing of any token."""
    assert response.status_code == 401, response.body
    assert set(json.loads(response.body)) == {"Code", "Message"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert not any(t in response.body.decode() for t in TOKENS)


@pytest.mark.parametrize("method, path", [r for r in app_routes() if r not in OPEN_ROUTES])
def test_every_route_refuses_bad_credentials_before_any_io(secured: Any, aws_calls: list[str],
                                                           request: pytest.FixtureRequest,
                                                           method: str, path: str) -> None:
    # Given a malformed body too: the 401 must come first, for a job that does not exist too
    body = b'{"not": json' if method in ("POST", "PATCH") else None
    for headers in BAD_HEADERS:
        del aws_calls[:]
        # When the route is called with bad or missing credentials
        response = call(secured, method, path, body, headers=headers)
        # Then it is a 401 before any AWS call: no work, and no existence oracle, for anonymous callers
        assert_401(response)
        assert aws_calls == [], (headers, aws_calls)
    ledger("security", request.node.name, cases=len(BAD_HEADERS))


@pytest.mark.parametrize("method, path", CONSOLE_FILES)
def test_console_files_are_open_static_and_touch_no_aws(secured: Any, aws_calls: list[str], method: str,
                                                        path: str) -> None:
    response = call(secured, method, path)
    assert response.status_code == 200 and aws_calls == []
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert not any(t in response.body.decode() for t in TOKENS)


def test_good_tokens_pass_and_health_is_open(secured: Any, request: pytest.FixtureRequest) -> None:
    for token in TOKENS:
        assert call(secured, "GET", "/api/jobs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert call(secured, "GET", "/api/jobs", headers={"Authorization": f"bearer  {token} "}).status_code == 200
    for headers in BAD_HEADERS:
        assert call(secured, "GET", "/api/health", headers=headers).status_code == 200
    ledger("security", request.node.name, cases=2 * len(TOKENS) + len(BAD_HEADERS))


def test_security_on_without_tokens_refuses_everything(client: Any, configure: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTOS_API_TOKENS", raising=False)
    configure({"security": {"enabled": True}})
    for header in ["Bearer ", "Bearer x", "Bearer undefined", "Bearer null"]:
        assert_401(call(client, "GET", "/api/jobs", headers={"Authorization": header}))


def test_token_comparison_is_constant_time_over_every_token(secured: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a spy on hmac.compare_digest (and no other comparison can accept a token)
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    for token, status in [("wrong", 401), (TOKENS[0], 200), (TOKENS[1], 200), (TOKENS[0][:-1], 401)]:
        del compared[:]
        # When a token is presented
        response = call(secured, "GET", "/api/jobs", headers={"Authorization": f"Bearer {token}"})
        # Then every configured token was compared in constant time, with no early exit
        assert response.status_code == status
        assert sorted(b for _, b in compared) == sorted(t.encode() for t in TOKENS)
        assert {a for a, _ in compared} == {token.encode()}


# --- no token in any response or log line -------------------------------------------------------

def texts_of(records: list[logging.LogRecord]) -> list[str]:
    """Every log line as it would be written, with its traceback."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return [formatter.format(record) for record in records]


def api_session(client: Any, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """A whole session of requests: successes, 400, 401, 404, 409, 413, 500 and 503 answers."""
    from chalicelib.errors import StoreUnavailable

    near_miss = {"Authorization": f"Bearer {TOKENS[0][:-1]}"}
    answers = [call(client, "POST", "/api/jobs", job_body(), headers=GOOD)]
    job_id = json.loads(answers[0].body)["id"]
    for method, path, body, headers in [
            ("GET", "/api/jobs", None, GOOD), ("GET", f"/api/jobs/{job_id}", None, GOOD),
            ("PATCH", f"/api/jobs/{job_id}", {"description": "x"}, GOOD),
            ("POST", f"/api/jobs/{job_id}/run", None, GOOD),
            ("GET", f"/api/jobs/{job_id}/runs", None, GOOD), ("POST", "/api/jobs", b"{bad", GOOD),
            ("POST", "/api/jobs", job_body(), GOOD), ("GET", "/api/jobs/job-404", None, GOOD),
            ("GET", "/api/jobs", None, near_miss), ("GET", "/api/openapi.json", None, {}),
            ("POST", "/api/jobs", job_body(payload={"x": "y" * 100_000}), GOOD)]:
        answers.append(call(client, method, path, body, headers=headers))
    service = runtime.jobs()
    monkeypatch.setattr(service, "get", lambda job_id: (_ for _ in ()).throw(RuntimeError(f"boom {job_id}")))
    monkeypatch.setattr(service, "list", lambda *a: (_ for _ in ()).throw(StoreUnavailable("jobs table down")))
    answers += [call(client, "GET", f"/api/jobs/{job_id}", headers=GOOD),
                call(client, "GET", "/api/jobs", headers=GOOD)]
    answers.append(call(client, "DELETE", f"/api/jobs/{job_id}", headers=GOOD))
    return answers


def test_no_token_in_any_response_or_log_line(secured: Any, monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest) -> None:
    # Given every logger at DEBUG (botocore included)
    caplog.set_level(logging.DEBUG)
    # When a whole session of requests runs, errors included
    answers = api_session(secured, monkeypatch)
    statuses = sorted({a.status_code for a in answers})
    assert statuses == [200, 201, 202, 204, 400, 401, 404, 409, 413, 500, 503], statuses
    # Then no token (nor a near miss of one) is in any body, header or log line
    seen = [a.body.decode(errors="replace") + json.dumps(dict(a.headers)) for a in answers] + texts_of(caplog.records)
    secrets = [*TOKENS, TOKENS[0][:-1]]
    leaks = [line[:200] for line in seen for secret in secrets if secret in line]
    ledger("security", request.node.name, responses=len(answers), log_lines=len(caplog.records), leaks=len(leaks))
    assert not leaks, leaks
    assert "Traceback" not in "".join(a.body.decode(errors="replace") for a in answers)


# --- the agent's secret: never in a response, log line, run record or message ------------------------

@pytest.fixture
def signed_stack(aws: dict[str, str], configure: Any, no_sqs_delay: None, tmp_path: Any,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto, real time, and a signing test agent configured for AGENT_ID (no retries)."""
    from devtools.agent_server import AgentServer

    monkeypatch.setenv("AGENT_HMAC_SECRET", AGENT_SECRET)
    with AgentServer(secret=AGENT_SECRET.encode()) as agent:
        configure({"agents": {AGENT_ID: {"url": agent.url, "secretEnv": "AGENT_HMAC_SECRET", "timeoutMs": 5000}}})
        yield agent


def run_manually(job_id: str, queue_url: str) -> dict[str, Any]:
    """POST /run through the service, then let the executor take it."""
    run = runtime.jobs().run_now(job_id)
    pump(queue_url)
    return run


def everything_stored(aws: dict[str, str], tmp_path: Any) -> list[str]:
    """Every item of both tables, every queued message (jobs queue and DLQ), the failure log."""
    dynamodb = boto3.client("dynamodb")
    found = [json.dumps(item) for table in (aws["jobs_table"], aws["runs_table"])
             for item in dynamodb.scan(TableName=table)["Items"]]
    found += [r["body"] for url in (aws["queue_url"], aws["dlq_url"]) for r in receive_all(url)]
    failures = tmp_path / "logs" / "failures.jsonl"
    return found + ([failures.read_text()] if failures.exists() else [])


def test_agent_secret_never_leaks(signed_stack: Any, aws: dict[str, str], tmp_path: Any,
                                  caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest) -> None:
    from devtools.agent_server import Response

    caplog.set_level(logging.DEBUG)
    # Given an agent that echoes the secret it knows, on success and on failure
    echo = f"my secret is {AGENT_SECRET}".encode()
    signed_stack.script(Response(200), Response(200, echo), Response(500, echo), Response(400, echo),
                        Response(302, echo, {"Location": "http://127.0.0.1:9/x"}))
    job = runtime.jobs().create(job_body(name="signed"))
    # When five manual runs are delivered, one per scripted answer
    runs = [run_manually(job["id"], aws["queue_url"]) for _ in range(5)]
    assert [r.signature_valid for r in signed_stack.requests] == [True] * 5
    # Then the secret is in no API answer, stored item, queued message, failure line or log line
    answers = [json.dumps(runtime.jobs().get(job["id"])), json.dumps(runtime.jobs().runs_of(job["id"], 100, None))]
    places = answers + everything_stored(aws, tmp_path) + texts_of(caplog.records)
    leaks = [place[:200] for place in places if AGENT_SECRET in place]
    ledger("security", request.node.name, deliveries=len(runs), places=len(places), leaks=len(leaks))
    assert not leaks, leaks


# --- agent URLs come from configuration only; redirects are not followed ------------------------------

URL_KEYS = ("url", "callbackUrl", "callback_url", "agentUrl", "webhook", "endpoint", "target", "redirect")


@pytest.mark.parametrize("configured", [True, False])
def test_urls_in_the_payload_are_never_called(aws: dict[str, str], configure: Any, no_sqs_delay: None,
                                              request: pytest.FixtureRequest, configured: bool) -> None:
    from devtools.agent_server import AgentServer

    with AgentServer() as agent, AgentServer() as canary:
        # Given a job whose payload names a second server under every usual key
        configure({"agents": {AGENT_ID: {"url": agent.url}}} if configured else {})
        payload = {"action": "NO_SUCH_ACTION", **{key: canary.url for key in URL_KEYS}}
        job = runtime.jobs().create(job_body(name="lure", payload=payload))
        # When it runs
        run_manually(job["id"], aws["queue_url"])
        time.sleep(0.2)
        # Then only the configured agent (if any) was called, never the payload's URL
        assert canary.requests == []
        assert len(agent.requests) == (1 if configured else 0)
    ledger("security", request.node.name, cases=len(URL_KEYS), leaks=0)


@pytest.mark.parametrize("field", ["url", "callbackUrl", "agentUrl", "callback"])
def test_api_never_accepts_a_url_or_callback_field(client: Any, field: str) -> None:
    response = call(client, "POST", "/api/jobs", job_body(**{field: "http://127.0.0.1:9/steal"}))
    assert response.status_code == 400 and field in json.loads(response.body)["Message"]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_to_another_server_are_not_followed(aws: dict[str, str], configure: Any, no_sqs_delay: None,
                                                      request: pytest.FixtureRequest, status: int) -> None:
    from devtools.agent_server import AgentServer

    with AgentServer() as agent, AgentServer() as elsewhere:
        # Given an agent that redirects to another server, and retries allowed
        retry = {"maxAttempts": 3, "initialDelayMs": 0, "maxDelayMs": 0, "jitter": False}
        configure({"agents": {AGENT_ID: {"url": agent.url}}, "retryPolicy": retry})
        agent.respond_with(status, redirect_to=elsewhere.url)
        job = runtime.jobs().create(job_body(name="redirected"))
        # When a run is delivered
        run = run_manually(job["id"], aws["queue_url"])
        time.sleep(0.2)
        # Then nothing reached the other server, and the run failed at once (no retry)
        assert elsewhere.requests == [] and len(agent.requests) == 1
        stored = RunModel.get(job["id"], run["id"])
        assert stored.status == "failed" and "redirects are not followed" in stored.error
    ledger("security", request.node.name, cases=1, leaks=0)


# --- the signature's replay window --------------------------------------------------------------------

def test_signature_verifies_only_inside_the_replay_window(signed_stack: Any, aws: dict[str, str],
                                                          request: pytest.FixtureRequest) -> None:
    from devtools.agent_server import check_signature

    # Given one real signed delivery, as the agent received it
    job = runtime.jobs().create(job_body(name="replayed"))
    run_manually(job["id"], aws["queue_url"])
    (delivered,) = signed_stack.requests
    header, body, secret = delivered.header("X-AgentOS-Signature"), delivered.body, AGENT_SECRET.encode()
    t = int(header.split(",")[0].removeprefix("t="))
    assert abs(t - time.time()) < 5 and check_signature(secret, header, body, time.time())
    # Then a receiver accepts it for 300 s either way, and never altered or under another key
    for age, accepted in [(0, True), (299, True), (300, True), (301, False), (-300, True), (-301, False),
                          (86_400, False)]:
        assert verify(secret, header, body, t + age) is accepted, age
    assert not verify(secret, header, body.replace(b'"attempt":1', b'"attempt":2'), t)
    assert not verify(b"another-key", header, body, t)
    assert not verify(secret, header.replace(f"t={t}", f"t={t + 1}"), body, t)  # t is signed too
    assert verify(secret, f"t={t},v1={'0' * 64},{header.split(',')[1]}", body, t)  # rotation: any v1 matches
    assert sign(secret, t, body) == header
    ledger("security", request.node.name, cases=11)


# --- size limits before any write ----------------------------------------------------------------------

def test_oversized_requests_are_refused_before_any_write(client: Any, configure: Any, aws_calls: list[str],
                                                         request: pytest.FixtureRequest) -> None:
    configure({"limits": {"maxPayloadBytes": 1000}})
    job_id = json.loads(call(client, "POST", "/api/jobs", job_body()).body)["id"]
    cases = [("POST", "/api/jobs", job_body(name="big", payload={"x": "y" * 1200}), "payload"),
             ("PATCH", f"/api/jobs/{job_id}", {"payload": {"x": "y" * 1200}}, "payload"),
             ("PATCH", f"/api/jobs/{job_id}", {"payload": {"x": "\u00e9" * 600}}, "payload"),  # 1200 UTF-8 bytes
             ("POST", "/api/jobs", job_body(name="huge", payload={"x": "y" * 200_000}), "body")]
    for method, path, body, field in cases:
        del aws_calls[:]
        response = call(client, method, path, body)
        assert response.status_code == 413 and field in json.loads(response.body)["Message"], response.body
        writes = [c for c in aws_calls if c.split(".")[1] in WRITES]
        assert writes == [], (method, field, writes)
        if field == "body":
            assert aws_calls == []  # refused before it was even parsed
    assert JobModel.count() == 2  # the job and its name claim, unchanged
    ledger("security", request.node.name, cases=len(cases), writes=0)


def test_a_config_error_answers_500_without_naming_the_parameter(client: Any, configure: Any,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Deployed, security on, the token parameter missing: a generic 500; the log names it."""
    from chalicelib import telemetry
    from chalicelib.api.auth import reset_tokens

    logger = logging.getLogger(telemetry.ROOT_LOGGER)
    saved = (list(logger.handlers), list(logger.filters), logger.level, logger.propagate)
    configure({"security": {"enabled": True}})
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "agentos-jobs-dev")
    reset_tokens()
    try:
        response = call(client, "GET", "/api/jobs", headers={"Authorization": "Bearer anything"})
    finally:
        reset_tokens()
        logger.handlers, logger.filters, logger.level, logger.propagate = saved
    assert response.status_code == 500
    assert json.loads(response.body) == {"Code": "InternalError", "Message": "internal error; it has been logged"}
    assert "/agentos-jobs/dev/api-tokens" in capsys.readouterr().out  # moto's SSM has no such parameter
