"""What test_mcp.py and test_mcp_stdio.py share: the tool names, the tokens, the local stack
(``python -m scripts.devstack``, security on; one per module that uses it) and the official MCP
client over both transports."""
from __future__ import annotations

import json
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")
TOOL_NAMES = ["list_jobs", "get_job", "ensure_job", "update_job", "pause_job", "resume_job", "delete_job", "run_job",
              "list_runs", "get_run", "cancel_run", "replay_run", "preview_schedule"]
READ_TOOLS = {"list_jobs", "get_job", "list_runs", "get_run", "preview_schedule"}
MINE = "11111111-1111-4111-8111-111111111111"
OTHER = "22222222-2222-4222-8222-222222222222"
ADMIN, SCOPED = "mcp-admin-token-0123456789", "mcp-scoped-token-0123456789"


@pytest.fixture(scope="session", name="mcp_stack")
def mcp_stack_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The local stack with security on, an admin token and one scoped to MINE; SIGINT at the end."""
    from e2e_stack import LocalStack

    home = tmp_path_factory.mktemp("mcp")
    config = home / "agentos.config.json"
    config.write_text(json.dumps({"security": {"enabled": True}, "logs": {"dir": str(home / "logs")}}))
    stack = LocalStack(home / "state", config, home / "stack.log",
                       env={"AGENTOS_API_TOKENS": f"{ADMIN},{SCOPED}:{MINE}"}).start()
    try:
        yield stack
        assert stack.stop(signal.SIGINT) == 0, stack.log_tail()
    finally:
        stack.kill()


def sdk_http(url: str, token: str | None, use: Callable[[Any], Awaitable[T]]) -> T:
    """``use(client)`` with the official MCP client connected to ``url`` over Streamable HTTP."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async def run() -> T:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http, \
                Client(streamable_http_client(url, http_client=http)) as client:
            return await use(client)

    return anyio.run(run)


def sdk_stdio(base: str, token: str | None, use: Callable[[Any], Awaitable[T]], *flags: str) -> T:
    """``use(client)`` with the official MCP client running ``python -m agentos_jobs.mcp *flags``."""
    from mcp import Client, StdioServerParameters

    env = {"AGENTOS_URL": base, "PYTHONPATH": str(ROOT), **({"AGENTOS_TOKEN": token} if token else {})}
    params = StdioServerParameters(command=sys.executable, args=["-m", "agentos_jobs.mcp", *flags], env=env,
                                   cwd=ROOT)

    async def run() -> T:
        async with Client(params, read_timeout_seconds=60) as client:
            return await use(client)

    return anyio.run(run)


def text_of(result: Any) -> Any:
    """The API answer a successful CallToolResult carries as JSON text."""
    assert result.is_error is False, result
    return json.loads(result.content[0].text)


def error_of(result: Any) -> str:
    """The API's Message an isError CallToolResult carries."""
    assert result.is_error is True, result
    text: str = result.content[0].text
    return text
