"""The local stack (``python -m scripts.devstack``) as a subprocess, for end-to-end tests.

Each stack gets free ports, its own state dir and config file, and its own session
(process group), so a test can check that a signal leaves no process behind.
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from devtools.agent_server import AgentServer, RecordedRequest, unused_port

ROOT = Path(__file__).resolve().parent.parent
SECRET_ENV = "E2E_AGENT_SECRET"
SECRET = "e2e-shared-secret"
READY_TIMEOUT_S = 90.0  # moto's CloudFormation import alone takes seconds on a busy 2-core box
STOP_TIMEOUT_S = 30.0


@dataclass
class Agent:
    """A test HTTP agent and the agentId that the stack's config routes to it."""

    id: str
    server: AgentServer

    def deliveries(self) -> list[RecordedRequest]:
        """Every request received so far."""
        return list(self.server.requests)

    def wait_for(self, count: int, timeout_s: float) -> list[RecordedRequest]:
        """Block until ``count`` requests arrived; AssertionError on timeout."""
        return self.server.wait_for(count, max(0.0, timeout_s))


def start_agents(names: list[str]) -> dict[str, Agent]:
    """One signed agent server per name, each with a fresh agentId."""
    agents = {}
    for name in names:
        server = AgentServer(secret=SECRET.encode())
        server.__enter__()
        agents[name] = Agent(str(uuid.uuid4()), server)
    return agents


def write_config(directory: Path, agents: dict[str, Agent], limits: dict[str, dict[str, Any]] | None = None) -> Path:
    """An agentos.config.json routing every agent id to its server, signed with SECRET, with
    ``limits`` (by agent name: maxConcurrent, budget) where given."""
    limits = limits or {}
    config = {
        "logs": {"dir": str(directory / "logs")},
        "agents": {a.id: {"url": a.server.url, "secretEnv": SECRET_ENV, "timeoutMs": 5000, **limits.get(name, {})}
                   for name, a in agents.items()},
    }
    path = directory / "agentos.config.json"
    path.write_text(json.dumps(config, indent=2))
    return path


try:  # resolved here, not in the forked child, which must not import or load anything
    _PRCTL: Any = ctypes.CDLL(None).prctl
except (OSError, AttributeError):
    _PRCTL = None


def _die_with_parent() -> None:
    # A crashed test run must not leave a stack holding ports (Linux; elsewhere a no-op).
    if _PRCTL is not None:
        _PRCTL(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


@dataclass
class LocalStack:
    """One ``scripts.devstack`` process."""

    state_dir: Path
    config: Path
    log_path: Path
    port: int = field(default_factory=unused_port)
    aws_port: int = field(default_factory=unused_port)
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)  # extra environment (e.g. AGENTOS_API_TOKENS)

    @property
    def base(self) -> str:
        """The API base URL."""
        return f"http://localhost:{self.port}/api"

    def start(self) -> LocalStack:
        """Start the process and wait until GET /api/health answers."""
        # AGENTOS_PUBLIC_URL: the stack's own address in callback URLs (conftest sets one for in-process tests).
        env = {**os.environ, "AGENTOS_CONFIG": str(self.config), SECRET_ENV: SECRET, "PYTHONUNBUFFERED": "1",
               "AGENTOS_PUBLIC_URL": f"http://localhost:{self.port}", **self.env}
        command = [sys.executable, "-m", "scripts.devstack", "--port", str(self.port),
                   "--aws-port", str(self.aws_port), "--state-dir", str(self.state_dir)]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         preexec_fn=_die_with_parent)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, f"stack exited:\n{self.log_tail()}"
            try:
                if requests.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError(f"stack not ready after {READY_TIMEOUT_S} s:\n{self.log_tail()}")

    def stop(self, signum: int = signal.SIGINT) -> int:
        """Send ``signum`` to the stack (as Ctrl-C would) and return its exit code."""
        assert self.proc is not None
        self.proc.send_signal(signum)
        try:
            return self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"stack still running {STOP_TIMEOUT_S} s after {signum}:\n{self.log_tail()}") from None

    def kill(self) -> None:
        """Last resort for a teardown: kill the whole process group."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def group_alive(self) -> bool:
        """True if any process of the stack's session/group still exists."""
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def log_tail(self, lines: int = 60) -> str:
        """The end of the stack's output, for failure messages."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        """One API request (``path`` below /api); dicts are sent as JSON."""
        data = None if body is None else json.dumps(body)
        return requests.request(method, f"{self.base}{path}", data=data, timeout=10,
                                headers={"Content-Type": "application/json"})

    def create(self, **fields: Any) -> dict[str, Any]:
        """POST /api/jobs; asserts 201 and returns the job."""
        answer = self.call("POST", "/jobs", fields)
        assert answer.status_code == 201, answer.text
        return answer.json()


def iso_in(seconds: float) -> str:
    """An ISO-8601 UTC date ``seconds`` from now, on a whole second, ending in Z."""
    moment = datetime.fromtimestamp(int(time.time() + seconds) + 1, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_of(iso: str) -> float:
    """Epoch seconds of an ISO string ending in Z."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
