"""The MCP server over stdio, ``python -m agentos_jobs.mcp`` (contract section 11, "MCP").

The official MCP client spawns it, pointed at a running local stack (mcp_stack.py: security on);
it forwards tools/list and tools/call to the stack's ``POST /api/mcp`` with ``AGENTOS_TOKEN``.
The proxy's own refusals and error paths are tested in process first, against a fake API.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
import requests
from mcp import Client
from mcp.shared.exceptions import MCPError

from agentos_jobs.mcp import Proxy, Refused, Upstream, server
from conftest import job_body
from mcp_stack import (  # noqa: F401  (mcp_stack_fixture: the fixture)
    ADMIN,
    MINE,
    OTHER,
    READ_TOOLS,
    SCOPED,
    TOOL_NAMES,
    error_of,
    mcp_stack_fixture,
    sdk_stdio,
    text_of,
)


class FakeApi(Upstream):
    """The API's MCP server as the proxy sees it: two tools, or a refusal."""

    def __init__(self, refusal: Exception | None = None) -> None:
        super().__init__("http://127.0.0.1:9/api", None)
        self.refusal = refusal
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((method, params))
        if self.refusal is not None:
            raise self.refusal
        if method == "tools/list":
            return {"tools": [{"name": "get_job", "inputSchema": {"type": "object"},
                               "annotations": {"readOnlyHint": True}},
                              {"name": "delete_job", "inputSchema": {"type": "object"},
                               "annotations": {"readOnlyHint": False, "destructiveHint": True}}]}
        if params["name"] not in ("get_job", "delete_job"):
            raise MCPError(-32602, f"Unknown tool: {params['name']}")
        return {"content": [{"type": "text", "text": "{}"}], "structuredContent": {}, "isError": False}


def in_process(api: FakeApi, read_only: bool, use: Callable[[Any], Awaitable[Any]]) -> Any:
    """``use(client)`` with the SDK's client connected in process to the stdio server's Server."""
    async def run() -> Any:
        async with Client(server(Proxy(api, read_only))) as client:
            return await use(client)

    return anyio.run(run)


def test_read_only_refuses_a_write_without_calling_the_api() -> None:
    async def use(client: Any) -> tuple[Any, Any, Any]:
        return ((await client.list_tools()).tools, await client.call_tool("delete_job", {"id": "job-1"}),
                await client.call_tool("get_job", {"id": "job-1"}))

    api = FakeApi()
    tools, write, read = in_process(api, True, use)
    assert [t.name for t in tools] == ["get_job"] and text_of(read) == {}
    assert error_of(write) == "delete_job is not offered: this server runs with --read-only (read tools only)"
    assert [name for _, p in api.calls if (name := p.get("name"))] == ["get_job"]


def test_the_apis_errors_reach_the_client() -> None:
    async def unknown(client: Any) -> str:
        with pytest.raises(MCPError) as raised:
            await client.call_tool("nope", {})
        return raised.value.error.message

    # An unknown tool: the API's JSON-RPC error, as it is
    assert in_process(FakeApi(), False, unknown) == "Unknown tool: nope"

    async def refused(client: Any) -> tuple[str, Any]:
        with pytest.raises(MCPError) as raised:
            await client.list_tools()
        return raised.value.error.message, await client.call_tool("get_job", {"id": "job-1"})

    # The API unreachable: tools/list is an error, a call a result with isError
    message, call = in_process(FakeApi(Refused("cannot reach http://127.0.0.1:9/api/mcp: refused")), False, refused)
    assert message == error_of(call) == "cannot reach http://127.0.0.1:9/api/mcp: refused"


def test_an_unreachable_api_is_named() -> None:
    with pytest.raises(Refused, match="cannot reach http://127.0.0.1:9/api/mcp"):
        Upstream("http://127.0.0.1:9", None, timeout_s=5).request("tools/list", {})


@pytest.mark.e2e
def test_the_stdio_server_passes_the_apis_tools_through_unchanged(mcp_stack: Any) -> None:
    async def use(client: Any) -> Any:
        return client.server_info, (await client.list_tools()).tools

    # When the SDK's client lists the tools of the stdio server
    info, tools = sdk_stdio(mcp_stack.base, ADMIN, use)
    # Then they are the API's own: names, schemas and annotations as POST /api/mcp lists them
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    direct = requests.post(f"{mcp_stack.base}/mcp", json=message, headers={"Authorization": f"Bearer {ADMIN}"},
                           timeout=15).json()["result"]["tools"]
    assert info.name == "agentos-jobs" and [t.name for t in tools] == TOOL_NAMES
    assert [t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in tools] == direct


@pytest.mark.e2e
def test_each_tool_once_over_stdio(mcp_stack: Any) -> None:
    async def use(client: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        job = text_of(await client.call_tool("ensure_job", job_body(name="stdio-job", agentId=MINE)))
        seen["ensure_job"], ident = job, {"id": job["id"]}
        seen["get_job"] = text_of(await client.call_tool("get_job", ident))
        seen["list_jobs"] = text_of(await client.call_tool("list_jobs", {"agentId": MINE}))
        seen["update_job"] = text_of(await client.call_tool("update_job", {**ident, "description": "via stdio"}))
        seen["pause_job"] = text_of(await client.call_tool("pause_job", ident))
        seen["resume_job"] = text_of(await client.call_tool("resume_job", ident))
        run = text_of(await client.call_tool("run_job", {**ident, "payload": {"n": 1}}))
        seen["run_job"], run_id = run, {"id": run["id"]}
        seen["list_runs"] = text_of(await client.call_tool("list_runs", {"jobId": job["id"]}))
        seen["get_run"] = text_of(await client.call_tool("get_run", run_id))
        seen["replay_run"] = text_of(await client.call_tool("replay_run", run_id))
        seen["cancel_run"] = await client.call_tool("cancel_run", {"id": seen["replay_run"]["id"]})
        seen["preview_schedule"] = text_of(await client.call_tool("preview_schedule", {"interval": 3_600_000}))
        seen["delete_job"] = text_of(await client.call_tool("delete_job", ident))
        seen["gone"] = await client.call_tool("get_job", ident)
        return seen

    seen = sdk_stdio(mcp_stack.base, ADMIN, use)
    job = seen["ensure_job"]
    assert set(seen) - {"gone"} == set(TOOL_NAMES)
    assert job["origin"]["via"] == "mcp" and seen["get_job"]["id"] == job["id"]
    assert [j["id"] for j in seen["list_jobs"] if j["name"] == "stdio-job"] == [job["id"]]
    assert seen["update_job"]["description"] == "via stdio"
    assert (seen["pause_job"]["status"], seen["resume_job"]["status"]) == ("paused", "active")
    assert seen["run_job"]["jobId"] == job["id"] and seen["run_job"]["trigger"] == "manual"
    assert seen["run_job"]["id"] in [r["id"] for r in seen["list_runs"]]
    assert seen["get_run"]["id"] == seen["run_job"]["id"]
    assert seen["replay_run"]["replayOf"] == seen["run_job"]["id"]
    # the replay may have ended already (no agent serves MINE): cancelled, or the API's 409 as isError
    cancel = seen["cancel_run"]
    assert text_of(cancel)["status"] in ("cancelled", "running") if not cancel.is_error else \
        "already ended" in error_of(cancel)
    assert len(seen["preview_schedule"]["next"]) == 5
    assert seen["delete_job"] == {"id": job["id"], "deleted": True}
    assert error_of(seen["gone"]) == f"job {job['id']!r} not found"


@pytest.mark.e2e
def test_read_only_offers_the_read_tools_and_refuses_a_write(mcp_stack: Any) -> None:
    async def use(client: Any) -> tuple[Any, Any, Any]:
        tools = (await client.list_tools()).tools
        write = await client.call_tool("ensure_job", job_body(name="read-only-write", agentId=MINE))
        read = await client.call_tool("list_jobs", {"limit": 1})
        return tools, write, read

    tools, write, read = sdk_stdio(mcp_stack.base, ADMIN, use, "--read-only")
    assert {t.name for t in tools} == READ_TOOLS and all(t.annotations.read_only_hint for t in tools)
    assert "--read-only" in error_of(write)
    assert isinstance(text_of(read), list)
    answer = requests.get(f"{mcp_stack.base}/jobs", params={"limit": 1000}, timeout=15,
                          headers={"Authorization": f"Bearer {ADMIN}"})
    assert "read-only-write" not in {j["name"] for j in answer.json()}


@pytest.mark.e2e
def test_the_token_scopes_the_stdio_tools_and_a_wrong_one_is_refused(mcp_stack: Any) -> None:
    async def make(client: Any) -> None:
        for name, agent in (("stdio-mine", MINE), ("stdio-other", OTHER)):
            text_of(await client.call_tool("ensure_job", job_body(name=name, agentId=agent)))

    sdk_stdio(mcp_stack.base, ADMIN, make)

    async def scoped(client: Any) -> tuple[Any, Any]:
        return (await client.call_tool("list_jobs", {}),
                await client.call_tool("ensure_job", job_body(name="stdio-foreign", agentId=OTHER)))

    listed, foreign = sdk_stdio(mcp_stack.base, SCOPED, scoped)
    assert text_of(listed) and {j["agentId"] for j in text_of(listed)} == {MINE}
    assert error_of(foreign).startswith("agentId: this token may not act for agent")

    async def refused(client: Any) -> tuple[str, Any]:
        try:
            await client.list_tools()
        except Exception as exc:  # the SDK's MCPError, carrying the API's Message
            return str(exc), await client.call_tool("get_job", {"id": "job-0000000000000000"})
        raise AssertionError("tools/list answered with a wrong token")

    message, call = sdk_stdio(mcp_stack.base, "wrong-token", refused)
    assert "the bearer token is not valid" in message
    assert error_of(call) == "Authorization: the bearer token is not valid (set AGENTOS_TOKEN)"
