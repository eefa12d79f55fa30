"""The Python agent kit's job manager, request handler, reports and API client (contract section 14),
against a fake API on 127.0.0.1 (tests/kit_fake_api.py). The local stack: tests/test_e2e_kits.py."""
from __future__ import annotations

import json
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kit_fake_api import FakeApi, start_fake_api

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sdk" / "python"))
import agentos_agent as kit

SECRET = "py-kit-secret"
AGENT = "550e8400-e29b-41d4-a716-446655440000"
QUICK = kit.Backoff(first_s=0.02, max_s=0.1)


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = start_fake_api()
    yield fake
    assert fake.server is not None
    fake.server.shutdown()
    fake.server.server_close()


def manager(api: FakeApi, **options: Any) -> kit.JobManager:
    settings: dict[str, Any] = {"answer_within_s": 0.2, "heartbeat_every_s": 0.04, "backoff": QUICK, **options}
    return kit.JobManager(kit.Client(api.base, token="kit-token-7a1e"), agent_id=AGENT, secret=SECRET, **settings)


def delivery(api: FakeApi, job: dict[str, Any], **extra: Any) -> tuple[dict[str, str], bytes]:
    """A signed delivery of ``job`` whose reports go to ``api``."""
    timeout_at = (datetime.now(UTC) + timedelta(seconds=60)).isoformat().replace("+00:00", "Z")
    body = json.dumps({"jobId": job["id"], "jobName": job["name"], "runId": "run-1", "agentId": AGENT,
                       "scheduledAt": "2030-01-01T00:00:00Z", "attempt": 1, "trigger": "manual", "payload": {"n": 2},
                       "callbackUrl": f"{api.base}/runs/run-1", "callbackToken": "cb-token", "timeoutAt": timeout_at,
                       **extra}).encode()
    return {"X-AgentOS-Signature": kit.sign(SECRET, int(time.time()), body)}, body


def settled(jobs: kit.JobManager, timeout_s: float = 10.0) -> kit.Delivery:
    """Wait for the last accepted attempt's outcome to be reported; its delivery."""
    accepted = jobs.accepted[-1]
    deadline = time.monotonic() + timeout_s
    while not accepted.reports and time.monotonic() < deadline:
        time.sleep(0.02)
    assert accepted.reports, "no outcome was reported"
    return accepted.context.delivery


def test_create_job_declares_it_by_name_with_the_kit_header_and_is_idempotent(api: FakeApi) -> None:
    jobs = manager(api)
    job = jobs.create_job(name="nightly report/eu", interval=3_600_000, timeoutMs=60_000, callback=lambda: 1)
    again = jobs.create_job(name="nightly report/eu", interval=3_600_000, timeoutMs=60_000, callback=lambda: 1)
    assert again["id"] == job["id"]
    put = api.requests[0]
    assert (put.method, put.path) == ("PUT", "/api/jobs/by-name/nightly%20report%2Feu")
    assert put.headers["x-agentos-client"] == "kit" and put.headers["authorization"] == "Bearer kit-token-7a1e"
    assert put.body == {"name": "nightly report/eu", "agentId": AGENT, "payload": {}, "timeoutMs": 60_000,
                        "interval": 3_600_000}
    with pytest.raises(TypeError, match="callable"):
        jobs.create_job(name="x", interval=1000, callback=None)  # type: ignore[arg-type]


def test_create_job_retries_its_declaration_on_5xx_not_on_4xx(api: FakeApi) -> None:
    jobs = manager(api)
    api.fail_declares.extend([503, 502])
    job = jobs.create_job(name="declared", interval=60_000, callback=lambda: None)
    assert job["id"] == "job-1" and sum(r.method == "PUT" for r in api.requests) == 3
    api.fail_declares.append(409)
    with pytest.raises(kit.AgentOSError) as refused:
        jobs.create_job(name="declared", interval=60_000, callback=lambda: None)
    assert refused.value.status == 409 and sum(r.method == "PUT" for r in api.requests) == 4


def test_a_quick_callback_answers_200_with_its_value_and_state_none_answers_204(api: FakeApi) -> None:
    jobs = manager(api)
    job = jobs.create_job(name="quick", interval=60_000, callback=lambda ctx: {
        "doubled": ctx.payload["n"] * 2, "seen": ctx.state, "state": {"cursor": 7}})
    answer = jobs.handle(*delivery(api, job, state={"cursor": 6}))
    assert answer.status == 200
    assert json.loads(answer.body) == {"doubled": 4, "seen": {"cursor": 6}, "state": {"cursor": 7}}
    silent = jobs.create_job(name="silent", interval=60_000, callback=lambda: None)
    assert jobs.handle(*delivery(api, silent)).status == 204
    scalar = jobs.create_job(name="scalar", interval=60_000, callback=lambda: "done")
    assert json.loads(jobs.handle(*delivery(api, scalar)).body) == {"value": "done"}

    async def coroutine(ctx: kit.JobContext) -> dict[str, Any]:
        return {"async": ctx.delivery.attempt}

    asynchronous = jobs.create_job(name="async", interval=60_000, callback=coroutine)
    assert json.loads(jobs.handle(*delivery(api, asynchronous)).body) == {"async": 1}


def test_a_quick_exception_answers_500_with_its_text_a_final_one_422(api: FakeApi) -> None:
    jobs = manager(api)

    def boom() -> None:
        raise TimeoutError("the model took too long")  # not taken for the kit's own quick window

    answer = jobs.handle(*delivery(api, jobs.create_job(name="boom", interval=60_000, callback=boom)))
    assert (answer.status, answer.body) == (500, b"TimeoutError: the model took too long")

    def final() -> None:
        raise kit.JobFailed("bad input", retryable=False)

    refused = jobs.handle(*delivery(api, jobs.create_job(name="final", interval=60_000, callback=final)))
    assert (refused.status, refused.body) == (422, b"JobFailed: bad input")


def test_a_slow_callback_is_accepted_heartbeats_then_completes(api: FakeApi) -> None:
    jobs = manager(api)

    def slow(ctx: kit.JobContext) -> dict[str, Any]:
        ctx.report_progress({"step": 1})
        time.sleep(0.4)
        return {"summary": "ok", "usage": {"inputTokens": 5}, "state": {"page": 2}}

    answer = jobs.handle(*delivery(api, jobs.create_job(name="slow", interval=60_000, callback=slow)))
    assert answer.status == 202
    settled(jobs)
    assert len(api.heartbeats) >= 2 and api.heartbeats[0] == {"progress": {"step": 1}}
    assert api.completes == [{"status": "succeeded", "output": {"summary": "ok", "usage": {"inputTokens": 5},
                                                                "state": {"page": 2}},
                              "usage": {"inputTokens": 5}, "state": {"page": 2}}]
    report = next(r for r in api.requests if r.path.endswith("/complete"))
    assert report.headers["authorization"] == "Bearer cb-token" and report.headers["x-agentos-client"] == "kit"


def test_a_slow_callback_that_raises_completes_failed_with_its_text(api: FakeApi) -> None:
    jobs = manager(api)

    def slow_boom() -> None:
        time.sleep(0.3)
        raise RuntimeError("model unavailable")

    job = jobs.create_job(name="slow-boom", interval=60_000, callback=slow_boom)
    assert jobs.handle(*delivery(api, job)).status == 202
    settled(jobs)
    assert api.completes == [{"status": "failed", "error": "RuntimeError: model unavailable", "retryable": True}]


def test_heartbeats_come_every_third_of_the_jobs_heartbeat_timeout(api: FakeApi) -> None:
    jobs = manager(api, heartbeat_every_s=10.0)
    job = jobs.create_job(name="beats", interval=60_000, heartbeatTimeoutMs=1500, callback=lambda: time.sleep(1.6))
    assert jobs.handle(*delivery(api, job)).status == 202
    settled(jobs)
    assert 2 <= len(api.heartbeats) <= 3, api.heartbeats  # every 0.5 s over about 1.4 s after the 202


def test_a_complete_meeting_503s_is_retried_until_it_lands_a_409_or_400_is_final(api: FakeApi) -> None:
    jobs = manager(api, heartbeat_every_s=60.0)  # every scripted failure meets the complete
    def slow() -> dict[str, int]:
        time.sleep(0.3)
        return {"ok": 1}

    job = jobs.create_job(name="retried", interval=60_000, callback=slow)
    api.fail_reports.extend([503, 502, 503, 503, 503])
    assert jobs.handle(*delivery(api, job)).status == 202
    settled(jobs)
    assert api.completes == [{"status": "succeeded", "output": {"ok": 1}}]
    assert sum(r.path.endswith("/complete") for r in api.requests) == 6
    got = kit.Delivery.parse(delivery(api, job)[1])
    api.fail_reports.append(409)
    with pytest.raises(kit.AttemptEnded):
        got.complete("succeeded")
    api.fail_reports.append(400)
    with pytest.raises(kit.AgentOSError) as refused:
        got.complete("succeeded")
    assert refused.value.status == 400 and not isinstance(refused.value, kit.AttemptEnded)
    assert sum(r.path.endswith("/complete") for r in api.requests) == 8  # one try each


def test_a_report_retried_through_refused_connections_lands_when_the_api_is_back() -> None:
    probe = start_fake_api()
    assert probe.server is not None
    port = probe.server.server_address[1]
    probe.server.shutdown()
    probe.server.server_close()  # nothing listens there now: connection refused
    got = kit.Delivery.parse(delivery(probe, {"id": "job-1", "name": "n"})[1])
    got = kit.Delivery(**{**got.__dict__, "backoff": kit.Backoff(first_s=0.05, max_s=0.2)})
    outcome: list[Any] = []
    reporter = threading.Thread(target=lambda: outcome.append(got.complete("succeeded", output={"after": "restart"})))
    reporter.start()
    time.sleep(0.5)
    back = start_fake_api(port)
    back.fail_reports.append(503)
    reporter.join(10)
    assert back.server is not None
    back.server.shutdown()
    back.server.server_close()
    assert outcome == [{"id": "run-1", "status": "succeeded"}]
    assert back.completes == [{"status": "succeeded", "output": {"after": "restart"}}]


def test_retrying_stops_at_the_deadline_and_tries_once_past_it() -> None:
    calls: list[float] = []
    clock = [100.0]

    def send() -> None:
        calls.append(clock[0])
        raise kit.ConnectionFailed("refused")

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    from agentos_agent.retry import retrying

    with pytest.raises(kit.ConnectionFailed):
        retrying(send, 110.0, kit.Backoff(first_s=1, max_s=4), sleep=sleep, clock=lambda: clock[0])
    assert calls[0] == 100.0 and calls[-1] == pytest.approx(110.0) and 4 <= len(calls) <= 9
    assert all(b - a <= 4 for a, b in zip(calls, calls[1:], strict=False))
    calls.clear()
    with pytest.raises(kit.ConnectionFailed):
        retrying(send, 50.0, sleep=sleep, clock=lambda: clock[0])
    assert len(calls) == 1


def test_a_cancel_seen_on_a_heartbeat_sets_the_context_and_reports_cancelled(api: FakeApi) -> None:
    jobs = manager(api)
    seen: list[bool] = []

    def cancellable(ctx: kit.JobContext) -> dict[str, Any]:
        seen.append(ctx.cancelled.wait(5))
        return {"stopped": True}

    api.cancel = True
    job = jobs.create_job(name="cancel", interval=60_000, callback=cancellable)
    assert jobs.handle(*delivery(api, job)).status == 202
    settled(jobs)
    time.sleep(0.05)
    assert seen == [True] and api.completes == [{"status": "cancelled"}]


def test_the_http_server_handler_answers_and_refuses(api: FakeApi) -> None:
    jobs = manager(api)
    job = jobs.create_job(name="served", interval=60_000, callback=lambda ctx: {"got": ctx.payload["n"]})
    server = jobs.server(port=0)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"

    def post(body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    try:
        headers, body = delivery(api, job)
        assert post(body, headers) == (200, b'{"got": 2}')
        assert post(body, {})[0] == 401
        not_delivery = b'{"hello": 1}'
        assert post(not_delivery, {"X-AgentOS-Signature": kit.sign(SECRET, int(time.time()), not_delivery)})[0] == 400
        other_headers, other = delivery(api, {"id": "job-unknown", "name": "unknown"})
        status, text = post(other, other_headers)
        assert status == 404 and b"no callback registered for job 'unknown'" in text
        try:  # refused before it is read: a 413, or (the client still sending) the connection cut
            assert post(b"x" * (2 * 1024 * 1024), headers)[0] == 413
        except urllib.error.URLError as cut:
            assert isinstance(cut.reason, (BrokenPipeError, ConnectionResetError)), cut
    finally:
        server.shutdown()
        server.server_close()


def test_a_manager_needs_a_secret_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENT_SECRET", raising=False)
    with pytest.raises(ValueError, match="no secret"):
        kit.JobManager(agent_id=AGENT)
    assert kit.JobManager(agent_id=AGENT, allow_unsigned=True).secret is None
    monkeypatch.setenv("AGENT_SECRET", "from-env")
    assert kit.JobManager(agent_id=AGENT).secret == "from-env"


def test_the_client_pages_sends_idempotency_keys_and_raises_the_apis_error(api: FakeApi) -> None:
    client = kit.Client(api.base, token="t")
    assert [job["id"] for job in client.iter_jobs(limit=1)] == ["job-1", "job-2"]
    assert api.requests[1].path == "/api/jobs?limit=1&cursor=abc"
    first = client.list_jobs(limit=1)
    assert first.next_url == f"{api.base[:-4]}/api/jobs?limit=1&cursor=abc"
    run = client.run_job("job-1", payload={"a": 1}, idempotency_key="k-1")
    assert run["payload"] == {"a": 1} and api.requests[-1].headers["idempotency-key"] == "k-1"
    with pytest.raises(kit.AgentOSError) as error:
        client.get_job("job-nope")
    assert (error.value.status, error.value.code, error.value.message) == (
        404, "NotFoundError", "no route GET /api/jobs/job-nope")


def test_the_client_reads_its_url_and_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTOS_URL", "http://127.0.0.1:9/api/")
    monkeypatch.setenv("AGENTOS_TOKEN", "env-token")
    client = kit.Client()
    assert (client.base_url, client.token) == ("http://127.0.0.1:9/api", "env-token")
    monkeypatch.delenv("AGENTOS_URL")
    assert kit.Client().base_url == "http://localhost:3000/api"
    with pytest.raises(kit.ConnectionFailed):
        client.health()


def test_a_delivery_carries_the_jobs_state_and_last_success_to_the_callback(api: FakeApi) -> None:
    jobs = manager(api)
    seen: list[Any] = []
    job = jobs.create_job(name="continuity", interval=60_000,
                          callback=lambda ctx: seen.append((ctx.state, ctx.last_success)))
    last = {"runId": "run-0", "scheduledAt": "2030-01-01T00:00:00Z", "finishedAt": "2030-01-01T00:00:01Z",
            "output": {"n": 1}}
    assert jobs.handle(*delivery(api, job, state={"cursor": 3}, lastSuccess=last)).status == 204
    assert jobs.handle(*delivery(api, job)).status == 204  # before any success: both None
    assert seen == [({"cursor": 3}, last), (None, None)]


def test_the_python_example_declares_two_jobs_and_its_digest_keeps_state(api: FakeApi,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "examples" / "python" / "agent.py"
    spec = importlib.util.spec_from_file_location("example_agent", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    first = example.digest(kit.JobContext(kit.Delivery.parse(delivery(api, {"id": "j", "name": "d"})[1])))
    assert first == {"summary": "digest #1 for everyone", "state": {"sent": 1}}
    again = kit.Delivery.parse(delivery(api, {"id": "j", "name": "d"}, state=first["state"])[1])
    assert example.digest(kit.JobContext(again))["state"] == {"sent": 2}
    monkeypatch.setenv("AGENTOS_URL", api.base)
    monkeypatch.setenv("AGENTOS_AGENT_ID", AGENT)
    monkeypatch.setenv("AGENT_SECRET", SECRET)
    monkeypatch.setenv("PORT", "0")
    monkeypatch.setattr(kit.JobManager, "server", lambda self, port: type("S", (), {"serve_forever": lambda s: None})())
    example.main()
    assert sorted(api.jobs) == ["daily-digest", "reindex"]
    assert api.jobs["reindex"]["heartbeatTimeoutMs"] == 60_000
    assert api.jobs["daily-digest"]["timezone"] == "Europe/Paris"


def test_an_output_that_is_not_json_fails_the_run_and_says_why(api: FakeApi) -> None:
    jobs = manager(api)
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    quick = jobs.handle(*delivery(api, jobs.create_job(name="cycle", interval=60_000, callback=lambda: cycle)))
    assert quick.status == 422 and b"not JSON" in quick.body

    def slow() -> dict[str, Any]:
        time.sleep(0.3)
        return cycle

    assert jobs.handle(*delivery(api, jobs.create_job(name="slow-cycle", interval=60_000, callback=slow))).status == 202
    settled(jobs)
    [report] = api.completes
    assert (report["status"], report["retryable"]) == ("failed", False)
    assert report["error"].startswith("the outcome could not be sent as JSON")
    dated = jobs.handle(*delivery(api, jobs.create_job(name="dated", interval=60_000,
                                                        callback=lambda: {"at": datetime(2030, 1, 1, tzinfo=UTC)})))
    assert json.loads(dated.body) == {"at": "2030-01-01 00:00:00+00:00"}  # sent as its text
