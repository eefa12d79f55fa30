"""Both kits against the real local stack (``make run``'s, as a subprocess; contract section 14).

- The TypeScript example (examples/typescript: the seed's CustomTaskPlugin) is compiled, started as
  a Node process, declares its job, and its callback answers a delivery; restarted twice, it leaves
  one job whose ``nextRunAt`` and ``updatedAt`` did not move.
- A Python agent on the kit's JobManager: a quick callback ends ``succeeded`` with its output, a slow
  one is accepted (202), heartbeats and completes, an exception fails the run with its text, and a
  ``complete`` that meets 503s, or a restart of the whole stack, still lands.

The stack's callback URLs go through :class:`ReportGate`, a pass-through proxy on 127.0.0.1 that
can answer the next reports 503, as an API behind a load balancer does while it restarts.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.agent_server import unused_port
from e2e_stack import SECRET, SECRET_ENV, LocalStack
from kit_tools import build_ts_example, tsc_missing

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sdk" / "python"))
import agentos_agent as kit

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
TOKEN = "kits-e2e-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ENDED = ("succeeded", "failed", "cancelled")


class ReportGate:
    """A pass-through proxy to the stack for the agents' callbacks; ``fail_reports`` answers the
    next that many ``complete`` calls 503; 502 while the stack is down."""

    def __init__(self) -> None:
        self.upstream_port = 0
        self.fail_reports = 0
        self.seen: list[tuple[str, int]] = []  # (path, status answered)
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = gate.forward(self.path, dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        """The public URL the stack puts in callbackUrl."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def forward(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        """The stack's answer to one callback, or a scripted failure."""
        if path.endswith("/complete") and self.fail_reports > 0:
            self.fail_reports -= 1
            self.seen.append((path, 503))
            return 503, b'{"Code": "ServiceUnavailable", "Message": "scripted"}'
        connection = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=10)
        try:
            connection.request("POST", path, body=body, headers={k: v for k, v in headers.items()
                                                                 if k.lower() != "host"})
            answer = connection.getresponse()
            status, data = answer.status, answer.read()
        except OSError:
            status, data = 502, b'{"Code": "BadGateway", "Message": "the API is down"}'
        finally:
            connection.close()
        self.seen.append((path, status))
        return status, data


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("kits-e2e")
    gate = ReportGate()
    ids, ts_port = {"ts": str(uuid.uuid4()), "py": str(uuid.uuid4())}, unused_port()
    local = LocalStack(home / "state", home / "agentos.config.json", home / "stack.log",
                       env={"AGENTOS_API_TOKENS": TOKEN, "AGENTOS_PUBLIC_URL": gate.url})
    gate.upstream_port = local.port
    jobs = kit.JobManager(kit.Client(local.base, token=TOKEN), agent_id=ids["py"], secret=SECRET,
                          answer_within_s=2.0, heartbeat_every_s=1.0, backoff=kit.Backoff(first_s=0.2, max_s=2.0))
    agent = jobs.server(port=0)
    threading.Thread(target=agent.serve_forever, args=(0.05,), daemon=True).start()
    config = {"logs": {"dir": str(home / "logs")}, "security": {"enabled": True}, "agents": {
        ids["ts"]: {"url": f"http://127.0.0.1:{ts_port}/", "secretEnv": SECRET_ENV, "timeoutMs": 5000},
        ids["py"]: {"url": f"http://127.0.0.1:{agent.server_address[1]}/", "secretEnv": SECRET_ENV,
                    "timeoutMs": 5000}}}
    (home / "agentos.config.json").write_text(json.dumps(config))
    try:
        local.start()
        yield {"stack": local, "gate": gate, "jobs": jobs, "ids": ids, "ts_port": ts_port, "home": home}
        assert local.stop(signal.SIGINT) == 0, local.log_tail()
    finally:
        local.kill()
        agent.shutdown()
        gate.server.shutdown()


def api(stack: dict[str, Any], method: str, path: str, body: Any = None) -> Any:
    """One API call with the test's token; the JSON answer (AssertionError on a non-2xx)."""
    answer = requests.request(method, f"{stack['stack'].base}{path}", json=body, headers=AUTH, timeout=10)
    assert answer.ok, f"{method} {path}: {answer.status_code} {answer.text}"
    return answer.json() if answer.content else None


def run_ended(stack: dict[str, Any], run_id: str, timeout_s: float = 40.0) -> dict[str, Any]:
    """Poll the run until it ended; the run."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run: dict[str, Any] = api(stack, "GET", f"/runs/{run_id}")
        if run["status"] in ENDED:
            return run
        time.sleep(0.25)
    raise AssertionError(f"run {run_id} still {run['status']} after {timeout_s} s:\n{stack['stack'].log_tail()}")


# --- the TypeScript example -----------------------------------------------------------------------

class NodeAgent:
    """The compiled TypeScript example as a process."""

    def __init__(self, main: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(["node", str(main)], env={**os.environ, **env}, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines: list[str] = []

    def wait_listening(self, timeout_s: float = 30.0) -> None:
        """Read its output until it says it listens (its job is declared by then)."""
        deadline = time.monotonic() + timeout_s
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"the example exited ({self.proc.wait()}):\n{''.join(self.lines)}")
            self.lines.append(line)
            if line.startswith("agent listening"):
                threading.Thread(target=self._drain, daemon=True).start()
                return
        raise AssertionError(f"the example did not listen in {timeout_s} s:\n{''.join(self.lines)}")

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def stop(self) -> int:
        """SIGTERM, as a service manager would; its exit code."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(5)


@pytest.fixture(scope="module")
def ts_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if (why := tsc_missing()) is not None:
        pytest.skip(why)
    return build_ts_example(tmp_path_factory.mktemp("ts-example"))


def start_example(stack: dict[str, Any], main: Path) -> NodeAgent:
    """The example agent, pointed at the stack as its README says (environment only)."""
    agent = NodeAgent(main, {"AGENTOS_URL": stack["stack"].base, "AGENTOS_TOKEN": TOKEN, "AGENT_SECRET": SECRET,
                             "AGENTOS_AGENT_ID": stack["ids"]["ts"], "PORT": str(stack["ts_port"])})
    agent.wait_listening()
    return agent


def example_jobs(stack: dict[str, Any]) -> list[dict[str, Any]]:
    """The example agent's jobs."""
    return list(api(stack, "GET", f"/jobs?agentId={stack['ids']['ts']}"))


def test_ts_example_declares_its_job_and_its_callback_answers_a_delivery(stack: dict[str, Any],
                                                                          ts_example: Path) -> None:
    agent = start_example(stack, ts_example)
    try:
        [job] = example_jobs(stack)
        assert (job["name"], job["interval"], job["origin"]["via"]) == ("AutonomousReflexion", 3_600_000, "kit")
        assert any(f"Job started with ID: {job['id']}" in line for line in agent.lines), agent.lines
        run = run_ended(stack, api(stack, "POST", f"/jobs/{job['id']}/run")["id"])
        assert run["status"] == "succeeded", run
        assert run["output"] == {"reflectedOn": 1, "latest": "a user asked for a weekly digest"}
    finally:
        assert agent.stop() == 0, "".join(agent.lines)
    assert any("agentOS is reflecting" in line for line in agent.lines), agent.lines


def test_restarting_the_ts_example_twice_leaves_one_job_whose_next_run_did_not_move(stack: dict[str, Any],
                                                                                    ts_example: Path) -> None:
    first = start_example(stack, ts_example)  # declares the job if no test did before (the tests may run apart)
    assert first.stop() == 0, "".join(first.lines)
    [before] = example_jobs(stack)
    time.sleep(1.1)  # a rewrite would show in updatedAt, whose resolution is the millisecond
    for _ in range(2):
        agent = start_example(stack, ts_example)
        assert agent.stop() == 0, "".join(agent.lines)
        assert any(f"Job started with ID: {before['id']}" in line for line in agent.lines), agent.lines
    [after] = example_jobs(stack)
    assert after["id"] == before["id"]
    assert (after["nextRunAt"], after["updatedAt"]) == (before["nextRunAt"], before["updatedAt"])


# --- the Python kit's handler -------------------------------------------------------------------------

def declare(stack: dict[str, Any], name: str, callback: Callable[..., Any], **fields: Any) -> dict[str, Any]:
    """A job of the Python agent, declared through the kit; it never runs on its own (once a year)."""
    jobs: kit.JobManager = stack["jobs"]
    return jobs.create_job(name=f"{name}-{time.time_ns()}", callback=callback, schedule="0 0 1 1 *", **fields)


def run_now(stack: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    """Run the job now and wait for the run to end."""
    return run_ended(stack, api(stack, "POST", f"/jobs/{job['id']}/run", {"payload": {"n": 21}})["id"])


def test_python_quick_callback_succeeds_with_its_output(stack: dict[str, Any]) -> None:
    job = declare(stack, "py-quick", lambda ctx: {"answer": ctx.payload["n"] * 2, "usage": {"inputTokens": 3}})
    assert job["origin"]["via"] == "kit"
    run = run_now(stack, job)
    assert (run["status"], run["output"]["answer"], run["usage"]) == ("succeeded", 42, {"inputTokens": 3})
    assert run["heartbeatAt"] is None  # answered at once: no heartbeat


def test_python_slow_callback_is_accepted_heartbeats_and_completes(stack: dict[str, Any]) -> None:
    def slow(ctx: kit.JobContext) -> dict[str, Any]:
        ctx.report_progress({"step": 1, "of": 2})
        time.sleep(4.5)
        return {"summary": "slow and done"}

    job = declare(stack, "py-slow", slow, heartbeatTimeoutMs=3000)
    run = run_now(stack, job)
    assert (run["status"], run["output"]) == ("succeeded", {"summary": "slow and done"}), run
    assert run["heartbeatAt"] is not None and run["progress"] == {"step": 1, "of": 2}
    assert run["attempt"] == 1  # no heartbeat timeout: beats came every second, the limit is 3


def test_python_exception_fails_the_run_with_its_text(stack: dict[str, Any]) -> None:
    def quick_boom() -> None:
        raise ValueError("the feed is empty")

    def slow_boom() -> None:
        time.sleep(3)
        raise RuntimeError("the model refused")

    quick = run_now(stack, declare(stack, "py-boom", quick_boom))
    assert quick["status"] == "failed" and "ValueError: the feed is empty" in quick["error"], quick
    slow = run_now(stack, declare(stack, "py-slow-boom", slow_boom))
    assert slow["status"] == "failed" and "RuntimeError: the model refused" in slow["error"], slow


def test_python_complete_retried_through_503s_lands(stack: dict[str, Any]) -> None:
    def slow() -> dict[str, str]:
        time.sleep(3)
        return {"through": "503s"}

    job = declare(stack, "py-503", slow)
    stack["gate"].fail_reports = 3
    run = run_now(stack, job)
    assert (run["status"], run["output"]) == ("succeeded", {"through": "503s"}), run
    completes = [status for path, status in stack["gate"].seen if path == f"/api/runs/{run['id']}/complete"]
    assert completes == [503, 503, 503, 200]


def test_python_complete_retried_through_a_stack_restart_lands(stack: dict[str, Any]) -> None:
    """The bug found: an API restart lost a ``complete``. Here the stack is stopped while the callback
    runs and started again: the report, retried meanwhile, lands on the restarted stack."""
    release = threading.Event()
    job = declare(stack, "py-restart", lambda: release.wait(120) and {"after": "restart"})
    run_id = api(stack, "POST", f"/jobs/{job['id']}/run")["id"]
    deadline = time.monotonic() + 20
    while api(stack, "GET", f"/runs/{run_id}")["heartbeatAt"] is None:  # accepted, and the API knows it
        assert time.monotonic() < deadline, "the run was not accepted"
        time.sleep(0.2)
    local: LocalStack = stack["stack"]
    assert local.stop(signal.SIGINT) == 0, local.log_tail()
    release.set()  # the outcome is reported while the API is down
    time.sleep(2)
    assert any(status == 502 for path, status in stack["gate"].seen if path.endswith(f"{run_id}/complete"))
    local.start()
    run = run_ended(stack, run_id, timeout_s=60)
    assert (run["status"], run["output"]) == ("succeeded", {"after": "restart"}), run


# --- the Python kit's API client against the real API ---------------------------------------------

def test_python_client_routes_against_the_stack(stack: dict[str, Any]) -> None:
    client = kit.Client(stack["stack"].base, token=TOKEN)
    name = f"client e2e/{time.time_ns()}"
    fields = {"agentId": stack["ids"]["py"], "schedule": "0 0 1 1 *", "payload": {"from": "client"}}
    job = client.create_job(idempotency_key=f"key-{name}", name=name, **fields)
    again = client.create_job(idempotency_key=f"key-{name}", name=name, **fields)
    assert again["id"] == job["id"], "the same Idempotency-Key made one job"
    assert client.get_job_by_name(name)["id"] == job["id"] == client.ensure_job(name, **fields)["id"]
    with pytest.raises(kit.AgentOSError) as duplicate:
        client.create_job(name=name, **fields)
    assert (duplicate.value.status, duplicate.value.code) == (409, "ConflictError"), duplicate.value
    assert client.pause_job(job["id"])["status"] == "paused" and client.resume_job(job["id"])["status"] == "active"
    assert client.update_job(job["id"], description="patched")["description"] == "patched"
    assert len(client.preview_schedule(interval=60_000, count=3)["next"]) == 3
    assert any(agent["id"] == stack["ids"]["py"] for agent in client.list_agents())
    assert client.get_agent(stack["ids"]["py"])["jobs"] >= 1
    assert any(j["id"] == job["id"] for j in client.iter_jobs(agent_id=stack["ids"]["py"], limit=2))
    client.delete_job(job["id"])
    with pytest.raises(kit.AgentOSError) as gone:
        client.get_job(job["id"])
    assert gone.value.status == 404 and gone.value.message


def test_python_client_runs_replays_and_cancels_against_the_stack(stack: dict[str, Any]) -> None:
    client = kit.Client(stack["stack"].base, token=TOKEN)
    job = declare(stack, "py-client-runs", lambda ctx: {"echo": ctx.payload})
    first = client.run_job(job["id"], payload={"take": 1}, idempotency_key=f"run-{job['id']}")
    assert client.run_job(job["id"], payload={"take": 1}, idempotency_key=f"run-{job['id']}")["id"] == first["id"]
    assert run_ended(stack, first["id"])["output"] == {"echo": {"take": 1}}
    replay = client.replay_run(first["id"], idempotency_key=f"replay-{first['id']}")
    assert (replay["trigger"], replay["replayOf"]) == ("replay", first["id"])
    assert run_ended(stack, replay["id"])["output"] == {"echo": {"take": 1}}
    assert [run["id"] for run in client.list_job_runs(job["id"])][:2] == [replay["id"], first["id"]]
    assert [run["id"] for run in client.iter_job_runs(job["id"])] == [replay["id"], first["id"]]
    assert client.get_run(first["id"])["status"] == "succeeded"
    with pytest.raises(kit.AgentOSError) as ended:
        client.cancel_run(first["id"])
    assert ended.value.status == 409


def test_python_callbacks_see_and_save_the_state_answered_at_once_or_reported(stack: dict[str, Any]) -> None:
    # Contract section 12 through the kit: a callback's returned "state" is saved, whether the kit
    # answered at once (200) or accepted the work (202) and reported it with complete
    seen: list[tuple[Any, Any]] = []

    def counting(ctx: kit.JobContext) -> dict[str, Any]:
        seen.append((ctx.state, ctx.last_success))
        if len(seen) == 2:
            time.sleep(4.5)  # long: answered 202, its outcome (and state) reported with complete
        n = (ctx.state or {}).get("n", 0) + 1
        return {"n": n, "state": {"n": n}}

    job = declare(stack, "py-state", counting, heartbeatTimeoutMs=3000)
    runs = [run_now(stack, job) for _ in range(3)]
    assert [state for state, _ in seen] == [None, {"n": 1}, {"n": 2}]
    assert seen[0][1] is None and [last["runId"] for _, last in seen[1:]] == [runs[0]["id"], runs[1]["id"]]
    assert [r["output"] for r in runs] == [{"n": 1}, {"n": 2}, {"n": 3}]  # the state is the job's, not the output's
    assert runs[1]["heartbeatAt"] is not None  # the accepted one
    assert api(stack, "GET", f"/jobs/{job['id']}")["state"] == {"n": 3}
