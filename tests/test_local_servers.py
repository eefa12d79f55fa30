"""The local servers answer a method a route lacks with 405 and ``Allow``, as a route table should.

Both are ``chalice local``'s server: the one ``make run`` embeds (scripts/local_api.py) and the
``chalice local`` command itself (app.py installs devtools/chalice_local.py when it is served).
http.server alone would answer ``TRACE`` with a bare 501.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devtools.agent_server import unused_port

ROOT = Path(__file__).resolve().parent.parent
# (method, path, the Allow header's methods)
UNSUPPORTED = [("TRACE", "/api/health", {"GET"}), ("DELETE", "/api/health", {"GET"}),
               ("TRACE", "/api/jobs", {"GET", "POST"}), ("PUT", "/api/jobs/job-1", {"GET", "PATCH", "DELETE"}),
               ("TRACE", "/api/jobs/job-1/run", {"POST"}), ("PURGE", "/api/jobs/job-1/runs", {"GET"})]


def assert_405s(base: str) -> None:
    """Every unsupported method gets Chalice's JSON 405 with the route's methods in Allow."""
    for method, path, allowed in UNSUPPORTED:
        answer = requests.request(method, f"{base}{path}", timeout=10)
        assert answer.status_code == 405, (method, path, answer.status_code, answer.text[:200])
        assert set(answer.headers["Allow"].replace(" ", "").split(",")) == allowed, (method, path)
        assert answer.json()["Code"] == "MethodNotAllowedError"
    assert requests.get(f"{base}/api/health", timeout=10).json() == {"status": "ok"}


@pytest.fixture
def api_server() -> Iterator[str]:
    """The local stack's API server (scripts/local_api.py) on a free port."""
    from app import app
    from scripts.local_api import ApiServer

    server = ApiServer(app, "127.0.0.1", unused_port())
    server.start()
    try:
        yield f"http://127.0.0.1:{server.server.port}"
    finally:
        server.stop()


def test_make_run_api_answers_405_with_allow(api_server: str) -> None:
    assert_405s(api_server)


def test_the_openapi_document_names_the_port_it_was_asked_on(api_server: str) -> None:
    # Given the API on a port other than 3000 (issue 27: the document always said 3000)
    document = requests.get(f"{api_server}/api/openapi.json", timeout=30).json()
    # Then its server is where it was asked, so a client generated from it calls this API
    assert document["servers"] == [{"url": api_server}]
    assert "/api/jobs" in document["paths"]


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    """Until something listens on ``port`` (AssertionError if ``proc`` exits or time runs out)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode(errors="replace") if proc.stdout else ""
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"chalice local not listening on {port} after {timeout_s} s")


@pytest.mark.slow
def test_chalice_local_answers_405_with_allow(tmp_path: Path) -> None:
    # Given the `chalice local` command itself, serving this project
    chalice = shutil.which("chalice", path=str(Path(sys.executable).parent))
    assert chalice, "chalice is installed with requirements-dev.txt"
    port = unused_port()
    env = {**os.environ, "AGENTOS_CONFIG": str(tmp_path / "none.json"), "AWS_DEFAULT_REGION": "us-east-1"}
    proc = subprocess.Popen([chalice, "local", "--no-autoreload", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc)
        # Then unsupported methods are 405s naming the route's methods, not 501s
        assert_405s(f"http://127.0.0.1:{port}")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
