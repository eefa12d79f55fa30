"""The agent kits: sdk/python/agentos_agent.py here, sdk/typescript/ through ``node --test``.

The Python kit is checked against the server's own signer and verifier (chalicelib.engine.delivery),
then both kits end to end against the local stack: an agent built on each receives a signed
delivery, answers 202, sends a heartbeat and reports its outcome with its callback token.
"""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.engine import delivery as server
from devtools.agent_server import unused_port
from e2e_stack import SECRET, SECRET_ENV, LocalStack
from required import NODE_SKIP  # a skip carrying it fails CI (AGENTOS_REQUIRE_ALL)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "sdk" / "python"))
import agentos_agent as kit  # noqa: E402

NOW = 1_900_000_000
BODY = json.dumps({"jobId": "job-1", "jobName": "n", "runId": "run-1", "agentId": str(uuid.uuid4()),
                   "scheduledAt": "2030-03-17T09:00:00.000Z", "attempt": 1, "trigger": "manual",
                   "payload": {"a": [1, 2]}, "callbackUrl": "http://127.0.0.1:9/api/runs/run-1",
                   "callbackToken": "cb-token", "timeoutAt": "2030-03-17T09:15:00.000Z"}).encode()
TOKEN = "kit-e2e-token"


# --- the Python kit, against the server's signer ------------------------------------------

def test_kit_accepts_what_the_server_signs_and_nothing_else() -> None:
    header = server.sign(SECRET.encode(), NOW, BODY)
    assert kit.sign(SECRET, NOW, BODY) == header
    assert kit.verify_signature(SECRET, header, BODY, now=NOW)
    assert kit.verify_signature(SECRET.encode(), header, BODY, now=NOW + 300)
    assert not kit.verify_signature(SECRET, header, BODY + b" ", now=NOW)
    assert not kit.verify_signature("other", header, BODY, now=NOW)
    assert not kit.verify_signature(SECRET, header, BODY, now=NOW + 301)


HEADER_PARTS = st.sampled_from(["t=1900000000", "t=1899999000", "t=abc", "t=", "v1=", "x=1", "garbage", " t=1900000000",
                                "v1=" + "0" * 64, "v1=" + server.sign(b"s", NOW, b"{}").split("v1=")[1]])


@settings(max_examples=300, deadline=None)
@given(st.lists(HEADER_PARTS, max_size=4), st.sampled_from([b"{}", b"{ }"]), st.integers(NOW - 400, NOW + 400))
def test_kit_verifies_exactly_like_the_server(parts: list[str], body: bytes, now: int) -> None:
    header = ",".join(parts)
    assert kit.verify_signature(b"s", header, body, now=now) == server.verify(b"s", header, body, now)


def test_receive_verifies_then_parses_and_keeps_the_token_out_of_repr() -> None:
    headers = {"x-agentos-signature": kit.sign(SECRET, NOW, BODY)}
    got = kit.receive(BODY, headers, SECRET, now=NOW)
    assert (got.run_id, got.attempt, got.payload, got.callback_token) == ("run-1", 1, {"a": [1, 2]}, "cb-token")
    assert got.callback_url == "http://127.0.0.1:9/api/runs/run-1" and (got.timeout_at or "").endswith("Z")
    assert "cb-token" not in repr(got)
    with pytest.raises(kit.SignatureError):
        kit.receive(BODY.replace(b"run-1", b"run-2"), headers, SECRET, now=NOW)
    with pytest.raises(kit.SignatureError):
        kit.receive(BODY, {}, SECRET, now=NOW)
    assert kit.receive(BODY, {}, None).job_id == "job-1"  # an agent without a secret


@pytest.mark.parametrize("body, field", [(b"[]", "object"), (b'{"runId": "r", "attempt": 1, "payload": {}}', "jobId"),
                                         (b'{"jobId": "j", "runId": "r", "attempt": true, "payload": {}}', "attempt")])
def test_parse_names_the_bad_field(body: bytes, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        kit.Delivery.parse(body)


def test_complete_refuses_an_unknown_outcome_and_needs_callbacks() -> None:
    got = kit.Delivery.parse(BODY)
    with pytest.raises(ValueError, match="status must be one of"):
        got.complete("done")
    bare = kit.Delivery.parse({**json.loads(BODY), "callbackUrl": None})
    with pytest.raises(kit.AgentOSError, match="NoCallback"):
        bare.heartbeat()


def test_the_kits_copies_of_the_servers_signing_and_outcomes_are_the_servers() -> None:
    """The kits depend on nothing of the project on purpose (test below): they keep copies of the
    signature header, its tolerance and the outcomes an agent may report. The copies stay equal."""
    from typing import get_args

    from chalicelib.vocab import ReportedRunStatus

    outcomes = get_args(ReportedRunStatus)
    assert (kit.SIGNATURE_HEADER, kit.TOLERANCE_S, kit.OUTCOMES) == (
        server.SIGNATURE_HEADER, server.SIGNATURE_TOLERANCE_S, outcomes)
    source = (Path(__file__).resolve().parents[1] / "sdk" / "typescript" / "agentos-agent.mjs").read_text()
    assert f"export const SIGNATURE_HEADER = '{server.SIGNATURE_HEADER}';" in source
    assert f"export const TOLERANCE_S = {server.SIGNATURE_TOLERANCE_S};" in source
    assert "const OUTCOMES = [" + ", ".join(f"'{o}'" for o in outcomes) + "];" in source


def test_kit_imports_nothing_of_the_project() -> None:
    code = ("import sys; sys.path.insert(0, 'sdk/python'); import agentos_agent; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('chalicelib', 'pydantic', 'boto3', 'requests', 'urllib3')))")
    out = subprocess.run([sys.executable, "-I", "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- the TypeScript kit ----------------------------------------------------------------------

def node_missing() -> str | None:
    """Why node's test runner cannot run here (Node.js 20+ needed), or None."""
    node = shutil.which("node")
    if node is None:
        return f"{NODE_SKIP}: no node on PATH"
    major = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip().lstrip("v").split(".")[0]
    return None if major.isdigit() and int(major) >= 20 else f"{NODE_SKIP}: node {major} is older than 20"


def run_node_tests(env: dict[str, str] | None = None) -> str:
    """``node --test sdk/typescript/test/``; fails the test with node's report on a failure."""
    import os

    answer = subprocess.run(["node", "--test", "sdk/typescript/test/"], cwd=ROOT, capture_output=True, text=True,
                            timeout=180, env={**os.environ, "PYTHON": sys.executable, **(env or {})})
    assert answer.returncode == 0, answer.stdout[-6000:] + answer.stderr[-2000:]
    return answer.stdout


@pytest.mark.skipif(node_missing() is not None, reason=str(node_missing()))
def test_typescript_kit_under_node_test_runner() -> None:
    import re

    report = run_node_tests({"AGENTOS_E2E_URL": ""})
    passed = re.search(r"^# pass (\d+)$", report, flags=re.M)
    assert "# fail 0" in report and passed and int(passed.group(1)) >= 19, report[-2000:]


# --- both kits end to end against the local stack -------------------------------------------------

class KitAgent:
    """An agent built on the Python kit: answers 202, then heartbeats and completes in a thread."""

    def __init__(self) -> None:
        self.seen: list[kit.Delivery] = []
        self.results: list[Any] = []
        self.done = threading.Event()
        agent = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    got = kit.receive(body, dict(self.headers), SECRET)
                except kit.SignatureError:
                    self.send_response(401)
                    self.end_headers()
                    return
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                agent.seen.append(got)
                threading.Thread(target=agent.work, args=(got,), daemon=True).start()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def work(self, got: kit.Delivery) -> None:
        try:
            self.results.append(got.heartbeat(progress={"step": 1}))
            self.results.append(got.complete("succeeded", output={"from": "python"}, usage={"inputTokens": 7}))
        except Exception as exc:  # recorded for the test to show
            self.results.append(exc)
        self.done.set()


@pytest.fixture(scope="module")
def kit_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("kits")
    py_agent, ts_port = KitAgent(), unused_port()
    ids = {"py": str(uuid.uuid4()), "ts": str(uuid.uuid4())}
    config = {"logs": {"dir": str(home / "logs")}, "security": {"enabled": True}, "agents": {
        ids["py"]: {"url": py_agent.url, "secretEnv": SECRET_ENV, "timeoutMs": 5000},
        ids["ts"]: {"url": f"http://127.0.0.1:{ts_port}/", "secretEnv": SECRET_ENV, "timeoutMs": 5000}}}
    (home / "agentos.config.json").write_text(json.dumps(config))
    stack = LocalStack(home / "state", home / "agentos.config.json", home / "stack.log",
                       env={"AGENTOS_API_TOKENS": TOKEN})
    try:
        stack.start()
        yield {"stack": stack, "py": py_agent, "ids": ids, "ts_port": ts_port}
        assert stack.stop(signal.SIGINT) == 0, stack.log_tail()
    finally:
        stack.kill()
        py_agent.server.shutdown()


@pytest.mark.e2e
@pytest.mark.slow
def test_python_kit_end_to_end(kit_stack: dict[str, Any]) -> None:
    stack, agent = kit_stack["stack"], kit_stack["py"]
    auth = {"Authorization": f"Bearer {TOKEN}"}
    job = requests.post(f"{stack.base}/jobs", headers=auth, timeout=10, json={
        "name": f"py-kit-{time.time_ns()}", "agentId": kit_stack["ids"]["py"], "schedule": "0 0 1 1 *",
        "payload": {"from": "pytest"}}).json()
    run = requests.post(f"{stack.base}/jobs/{job['id']}/run", headers=auth, timeout=10).json()
    assert agent.done.wait(15), stack.log_tail()
    beat, done = agent.results
    assert (beat["status"], beat["cancelRequested"], beat["progress"]) == ("running", False, {"step": 1})
    assert done["status"] == "succeeded"
    final = requests.get(f"{stack.base}/runs/{run['id']}", headers=auth, timeout=10).json()
    assert (final["status"], final["output"], final["usage"]) == ("succeeded", {"from": "python"}, {"inputTokens": 7})
    # the callback token is good for its own run's callbacks only
    got = agent.seen[0]
    refused = requests.get(f"{stack.base}/jobs", headers={"Authorization": f"Bearer {got.callback_token}"}, timeout=10)
    assert refused.status_code == 401


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.skipif(node_missing() is not None, reason=str(node_missing()))
def test_typescript_kit_end_to_end(kit_stack: dict[str, Any]) -> None:
    report = run_node_tests({"AGENTOS_E2E_URL": kit_stack["stack"].base, "AGENTOS_E2E_TOKEN": TOKEN,
                             "AGENTOS_E2E_AGENT_ID": kit_stack["ids"]["ts"],
                             "AGENTOS_E2E_AGENT_PORT": str(kit_stack["ts_port"]), "AGENTOS_E2E_SECRET": SECRET})
    assert "# skipped 0" in report and "# fail 0" in report, report[-3000:]


def readme_agents() -> dict[str, str]:
    """The code blocks of the README's "Write an agent" section, by language."""
    import re

    text = (ROOT / "README.md").read_text()
    section = text.split("## Write an agent", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"```(python|js)\n(.*?)```", section, flags=re.S))


def test_readme_agents_are_short_and_valid() -> None:
    agents = readme_agents()
    assert set(agents) == {"python", "js"}
    assert all(len(code.strip().splitlines()) <= 30 for code in agents.values())
    compile(agents["python"], "README python agent", "exec")
    if node_missing() is None:
        checked = subprocess.run(["node", "--check", "--input-type=module"], input=agents["js"], text=True,
                                 capture_output=True)
        assert checked.returncode == 0, checked.stderr
