"""The MCP server on the API, ``POST /api/mcp`` (contract section 11, "MCP"; chalicelib/api/mcp.py).

1. JSON-RPC through Chalice's test client: the handshake, the tool list, each tool once, errors
   as tool results with the API's Message, scoped tokens, and the protocol's error codes.
2. The official MCP client (the ``mcp`` package's Streamable HTTP transport) against a running
   local stack with security on (mcp_stack.py).
"""
from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from conftest import AGENT_ID, call, job_body
from mcp_stack import (  # noqa: F401  (mcp_stack: the fixture)
    ADMIN,
    MINE,
    OTHER,
    READ_TOOLS,
    SCOPED,
    TOOL_NAMES,
    error_of,
    mcp_stack_fixture,
    sdk_http,
    text_of,
)

HEADERS = {"Accept": "application/json, text/event-stream"}


def rpc(client: Any, method: str, params: Any = None, request_id: Any = 1, headers: dict[str, str] | None = None,
        raw: Any = None) -> Any:
    """One POST /api/mcp; returns Chalice's response."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if request_id is not None:
        message["id"] = request_id
    if params is not None:
        message["params"] = params
    return call(client, "POST", "/api/mcp", raw if raw is not None else message, {**HEADERS, **(headers or {})})


def answer(response: Any) -> dict[str, Any]:
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    body: dict[str, Any] = json.loads(response.body)
    assert body["jsonrpc"] == "2.0"
    return body


def tool(client: Any, name: str, arguments: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A tools/call's result (HTTP 200, a JSON-RPC result)."""
    response = rpc(client, "tools/call", {"name": name, "arguments": arguments}, headers=headers)
    assert response.status_code == 200, response.body
    result: dict[str, Any] = answer(response)["result"]
    return result


def data(result: dict[str, Any]) -> Any:
    """The API answer a successful tool result carries as text."""
    assert result["isError"] is False, result
    return json.loads(result["content"][0]["text"])


def failure(result: dict[str, Any]) -> str:
    assert result["isError"] is True, result
    text: str = result["content"][0]["text"]
    assert result["structuredContent"]["Message"] == text
    return text


# --- 1. the protocol ------------------------------------------------------------------------------


@pytest.mark.parametrize("asked, answered", [("2025-11-25", "2025-11-25"), ("2025-06-18", "2025-06-18"),
                                             ("2024-11-05", "2025-11-25"), ("2099-01-01", "2025-11-25")])
def test_initialize_negotiates_the_protocol_version(client: Any, asked: str, answered: str) -> None:
    params = {"protocolVersion": asked, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    response = rpc(client, "initialize", params, request_id="init-1")
    body = answer(response)
    assert response.status_code == 200 and body["id"] == "init-1"
    result = body["result"]
    assert result["protocolVersion"] == answered
    assert result["capabilities"] == {"tools": {}}
    assert result["serverInfo"]["name"] == "agentos-jobs" and result["serverInfo"]["version"]
    assert "mcp-session-id" not in {k.lower() for k in response.headers}  # stateless


def test_a_notification_is_accepted_with_202_and_no_body(client: Any) -> None:
    response = rpc(client, "notifications/initialized", request_id=None)
    assert response.status_code == 202 and response.body in (b"", "")
    reply = rpc(client, "", raw={"jsonrpc": "2.0", "id": 7, "result": {}})  # a client's response
    assert reply.status_code == 202 and reply.body in (b"", "")


def test_ping_answers_an_empty_result(client: Any) -> None:
    assert answer(rpc(client, "ping", request_id=3)) == {"jsonrpc": "2.0", "id": 3, "result": {}}


def test_tools_list_has_the_13_tools_with_schemas_and_annotations(client: Any) -> None:
    tools = answer(rpc(client, "tools/list", {}))["result"]["tools"]
    assert [t["name"] for t in tools] == TOOL_NAMES
    by_name = {t["name"]: t for t in tools}
    assert {n for n, t in by_name.items() if t["annotations"]["readOnlyHint"]} == READ_TOOLS
    assert {n for n, t in by_name.items() if t["annotations"]["destructiveHint"]} == {"delete_job", "cancel_run"}
    for name, listed in by_name.items():
        assert listed["inputSchema"]["type"] == "object" and listed["description"], name
    assert by_name["get_job"]["inputSchema"]["required"] == ["id"]
    assert {"name", "agentId", "schedule", "interval", "payload"} <= set(by_name["ensure_job"]["inputSchema"]
                                                                         ["properties"])
    assert set(by_name["list_jobs"]["inputSchema"]["properties"]) == {"status", "agentId", "limit", "cursor"}
    assert set(by_name["list_runs"]["inputSchema"]["properties"]) == {"jobId", "limit", "cursor"}


@pytest.mark.parametrize("raw, code", [
    (b"{not json", -32700), (b"", -32700), (b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "id": 2}', -32700),
    ({"id": 1, "method": "ping"}, -32600), ({"jsonrpc": "1.0", "id": 1, "method": "ping"}, -32600),
    ({"jsonrpc": "2.0", "id": 1}, -32600), ({"jsonrpc": "2.0", "id": 1, "method": 5}, -32600),
    ({"jsonrpc": "2.0", "id": None, "method": "ping"}, -32600),
    ({"jsonrpc": "2.0", "id": 1.5, "method": "ping"}, -32600),
    ({"jsonrpc": "2.0", "id": True, "method": "ping"}, -32600),
    ({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": [1]}, -32600),
    ([{"jsonrpc": "2.0", "id": 1, "method": "ping"}], -32600), ([], -32600), ("ping", -32600), (42, -32600),
])
def test_a_body_that_is_no_request_is_a_400_with_its_json_rpc_code(client: Any, raw: Any, code: int) -> None:
    sent = raw if isinstance(raw, bytes) else json.dumps(raw)
    response = rpc(client, "", raw=sent)
    body = answer(response)
    assert response.status_code == 400 and body["error"]["code"] == code, body
    assert body["id"] is None or body["id"] == 1


@pytest.mark.parametrize("method, params, code", [
    ("resources/list", {}, -32601), ("server/discover", {}, -32601), ("tools/call", {"name": "nope"}, -32602),
    ("tools/call", {"arguments": {}}, -32602), ("tools/call", {"name": "get_job", "arguments": [1]}, -32602),
    ("initialize", {"capabilities": {}}, -32602),
])
def test_unknown_methods_and_invalid_params_are_json_rpc_errors(client: Any, method: str, params: Any,
                                                               code: int) -> None:
    response = rpc(client, method, params, request_id=9)
    body = answer(response)
    assert response.status_code == 200 and body["id"] == 9 and body["error"]["code"] == code, body


def test_an_unsupported_protocol_version_header_is_a_400(client: Any) -> None:
    for version in ("2026-07-28", "not-a-version", "2025-03-26"):
        response = rpc(client, "tools/list", headers={"MCP-Protocol-Version": version})
        assert response.status_code == 400 and answer(response)["error"]["code"] == -32600, version
    assert rpc(client, "tools/list", headers={"MCP-Protocol-Version": "2025-06-18"}).status_code == 200
    # initialize is the negotiation: its header is not checked
    params = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    assert rpc(client, "initialize", params, headers={"MCP-Protocol-Version": "x"}).status_code == 200


def test_get_is_405_and_a_foreign_origin_is_refused_without_security(client: Any) -> None:
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        response = call(client, method, "/api/mcp")
        assert response.status_code == 405 and json.loads(response.body)["Code"] == "MethodNotAllowedError", method
        assert response.headers["Allow"] == "POST", method
    refused = rpc(client, "ping", headers={"Origin": "http://attacker.example"})
    assert refused.status_code == 403 and answer(refused)["error"]["code"] == -32600
    assert rpc(client, "ping", headers={"Origin": "http://localhost:3000"}).status_code == 200


# --- 1. the tools ---------------------------------------------------------------------------------


def test_each_tool_once(client: Any) -> None:
    # ensure_job creates (origin via mcp), then declares the same job again: nothing changes
    body = job_body(name="mcp-nightly", schedule="0 2 * * *")
    job = data(tool(client, "ensure_job", body))
    assert job["name"] == "mcp-nightly" and job["origin"]["via"] == "mcp" and job["origin"]["depth"] == 0
    again = data(tool(client, "ensure_job", body))
    assert (again["id"], again["updatedAt"]) == (job["id"], job["updatedAt"])
    assert data(tool(client, "get_job", {"id": job["id"]}))["id"] == job["id"]
    listed = tool(client, "list_jobs", {"agentId": AGENT_ID, "limit": 10})
    assert [j["id"] for j in data(listed)] == [job["id"]] and listed["structuredContent"]["nextCursor"] is None
    assert data(tool(client, "update_job", {"id": job["id"], "description": "changed"}))["description"] == "changed"
    assert data(tool(client, "pause_job", {"id": job["id"]}))["status"] == "paused"
    assert data(tool(client, "resume_job", {"id": job["id"]}))["status"] == "active"
    run = data(tool(client, "run_job", {"id": job["id"], "payload": {"only": "this run"}}))
    assert run["jobId"] == job["id"] and run["trigger"] == "manual"
    assert [r["id"] for r in data(tool(client, "list_runs", {"jobId": job["id"]}))] == [run["id"]]
    assert data(tool(client, "get_run", {"id": run["id"]}))["id"] == run["id"]
    replay = data(tool(client, "replay_run", {"id": run["id"]}))
    assert replay["trigger"] == "replay" and replay["replayOf"] == run["id"]
    assert data(tool(client, "cancel_run", {"id": run["id"]}))["status"] == "cancelled"
    preview = data(tool(client, "preview_schedule", {"schedule": "0 9 * * *", "count": 2}))
    assert len(preview["next"]) == 2
    assert data(tool(client, "delete_job", {"id": job["id"]})) == {"id": job["id"], "deleted": True}
    assert call(client, "GET", f"/api/jobs/{job['id']}").status_code == 404


def test_a_page_of_jobs_carries_the_next_cursor(client: Any) -> None:
    for n in range(3):
        call(client, "POST", "/api/jobs", job_body(name=f"paged-{n}"))
    first = tool(client, "list_jobs", {"limit": 2})
    cursor = first["structuredContent"]["nextCursor"]
    assert len(data(first)) == 2 and cursor and json.loads(first["content"][1]["text"]) == {"nextCursor": cursor}
    rest = data(tool(client, "list_jobs", {"limit": 2, "cursor": cursor}))
    assert len(rest) == 1 and not {j["id"] for j in rest} & {j["id"] for j in data(first)}


def test_api_errors_are_tool_results_with_the_apis_message(client: Any) -> None:
    # Given the REST route's Message for the same request
    bad = job_body(name="bad-cron", schedule="61 * * * *")
    rest = json.loads(call(client, "PUT", "/api/jobs/by-name/bad-cron", bad).body)["Message"]
    # Then the tool's text is that Message, and its structured content the API's error
    result = tool(client, "ensure_job", bad)
    assert failure(result) == rest and result["structuredContent"]["Code"] == "BadRequestError"
    assert failure(tool(client, "get_job", {"id": "job-0000000000000000"})) == "job 'job-0000000000000000' not found"
    assert failure(tool(client, "get_run", {"id": "run-x"})).startswith("run 'run-x' not found")
    assert failure(tool(client, "list_jobs", {"limit": 0})) == "limit: must be an integer from 1 to 1000"
    assert failure(tool(client, "get_job", {})) == "id: is required"
    assert failure(tool(client, "get_job", {"id": 5})) == "id: must be a string"
    assert failure(tool(client, "get_job", {"id": "job-1", "x": 1})).startswith("x: is not an argument of get_job")
    assert failure(tool(client, "update_job", {"id": "job-0000000000000000", "nope": 1})) == \
        json.loads(call(client, "PATCH", "/api/jobs/job-0000000000000000", {"nope": 1}).body)["Message"]
    assert failure(tool(client, "preview_schedule", {"interval": 5})).startswith("interval")


# --- 1. tokens ------------------------------------------------------------------------------------


@pytest.fixture
def secured(client: Any, configure: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Security on; an admin token and one scoped to MINE; one job per agent."""
    monkeypatch.setenv("AGENTOS_API_TOKENS", f"{ADMIN},{SCOPED}:{MINE}")
    configure({"security": {"enabled": True}})
    admin, scoped = {"Authorization": f"Bearer {ADMIN}"}, {"Authorization": f"Bearer {SCOPED}"}
    jobs = {name: data(tool(client, "ensure_job", job_body(name=name, agentId=agent), admin))
            for name, agent in (("mine", MINE), ("other", OTHER))}
    return {"client": client, "admin": admin, "scoped": scoped, "jobs": jobs}


def test_without_a_token_the_server_answers_401(secured: dict[str, Any]) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = rpc(secured["client"], "tools/list", headers=headers)
        assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
        assert json.loads(response.body)["Code"] == "UnauthorizedError"


def test_a_scoped_token_reaches_only_its_agents(secured: dict[str, Any]) -> None:
    client, scoped, jobs = secured["client"], secured["scoped"], secured["jobs"]
    assert [j["id"] for j in data(tool(client, "list_jobs", {}, scoped))] == [jobs["mine"]["id"]]
    assert data(tool(client, "list_jobs", {"agentId": OTHER}, scoped)) == []
    assert data(tool(client, "get_job", {"id": jobs["mine"]["id"]}, scoped))["agentId"] == MINE
    other = jobs["other"]["id"]
    for name in ("get_job", "pause_job", "delete_job", "run_job"):
        assert failure(tool(client, name, {"id": other}, scoped)) == f"job {other!r} not found", name
    assert failure(tool(client, "list_runs", {"jobId": other}, scoped)) == f"job {other!r} not found"
    foreign = tool(client, "ensure_job", job_body(name="foreign", agentId=OTHER), scoped)
    assert failure(foreign).startswith("agentId: this token may not act for agent")
    assert foreign["structuredContent"]["Code"] == "ForbiddenError"
    moved = tool(client, "update_job", {"id": jobs["mine"]["id"], "agentId": OTHER}, scoped)
    assert failure(moved).startswith("agentId")
    # the admin token sees both
    assert len(data(tool(client, "list_jobs", {}, secured["admin"]))) == 2


# --- 2. the official MCP client over Streamable HTTP, against the local stack ---------------------


@pytest.mark.e2e
def test_the_sdk_client_over_streamable_http(mcp_stack: Any) -> None:
    url = f"{mcp_stack.base}/mcp"

    async def use(client: Any) -> dict[str, Any]:
        tools = (await client.list_tools()).tools
        made = await client.call_tool("ensure_job", job_body(name="sdk-http-job", agentId=MINE))
        missing = await client.call_tool("get_job", {"id": "job-0000000000000000"})
        return {"version": client.protocol_version, "server": client.server_info.name, "tools": tools,
                "made": made, "missing": missing}

    # When the SDK's client connects (its discover probe falls back to initialize) and calls tools
    seen = sdk_http(url, ADMIN, use)
    # Then the handshake, the list with its annotations, a job made via MCP and an API error as isError
    assert seen["version"] == "2025-11-25" and seen["server"] == "agentos-jobs"
    assert [t.name for t in seen["tools"]] == TOOL_NAMES
    assert {t.name for t in seen["tools"] if t.annotations.read_only_hint} == READ_TOOLS
    assert {t.name for t in seen["tools"] if t.annotations.destructive_hint} == {"delete_job", "cancel_run"}
    job = text_of(seen["made"])
    assert job["origin"]["via"] == "mcp" and seen["made"].structured_content["id"] == job["id"]
    assert error_of(seen["missing"]) == "job 'job-0000000000000000' not found"
    # And the REST API shows the same job, made via MCP
    rest = requests.get(f"{mcp_stack.base}/jobs/{job['id']}", headers={"Authorization": f"Bearer {ADMIN}"},
                        timeout=15)
    assert rest.json()["origin"] == {"via": "mcp", "runId": None, "depth": 0}


@pytest.mark.e2e
def test_the_sdk_client_with_a_scoped_token_and_without_a_token(mcp_stack: Any) -> None:
    url = f"{mcp_stack.base}/mcp"
    sdk_http(url, ADMIN, lambda c: c.call_tool("ensure_job", job_body(name="sdk-http-other", agentId=OTHER)))

    async def use(client: Any) -> tuple[Any, Any]:
        return (await client.call_tool("list_jobs", {}),
                await client.call_tool("ensure_job", job_body(name="sdk-http-foreign", agentId=OTHER)))

    # A scoped token sees only its agents' jobs and may not make one for another agent
    listed, foreign = sdk_http(url, SCOPED, use)
    assert {j["agentId"] for j in text_of(listed)} <= {MINE}
    assert error_of(foreign).startswith("agentId: this token may not act for agent")
    # Without a token: 401 with WWW-Authenticate, and the SDK's client cannot connect
    bare = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=15)
    assert bare.status_code == 401 and bare.headers["WWW-Authenticate"].startswith("Bearer")
    with pytest.raises(Exception):  # noqa: B017  (the SDK's error for a refused handshake, whatever its class)
        sdk_http(url, None, lambda c: c.list_tools())
    # And GET is 405
    assert requests.get(url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=15).status_code == 405


def test_a_quota_refuses_through_mcp_as_through_rest(client: Any, configure: Any) -> None:
    # Given an agent that may have one job, and has it (made via MCP)
    configure({"agents": {AGENT_ID: {"quota": {"maxJobs": 1}}}})
    data(tool(client, "ensure_job", job_body(name="quota-1")))
    # When a second one is declared through MCP, then through REST
    result = tool(client, "ensure_job", job_body(name="quota-2"))
    rest = call(client, "PUT", "/api/jobs/by-name/quota-2", job_body(name="quota-2"))
    # Then both are refused with the same QuotaExceededError and Message, and nothing was made
    assert rest.status_code == 403 and json.loads(rest.body) == result["structuredContent"]
    assert result["structuredContent"]["Code"] == "QuotaExceededError" and "maxJobs" in failure(result)
    assert [j["name"] for j in data(tool(client, "list_jobs", {}))] == ["quota-1"]
