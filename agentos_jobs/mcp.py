"""``python -m agentos_jobs.mcp``: the agentOS Jobs MCP server over stdio (contract section 11).

    AGENTOS_URL=http://localhost:3000/api AGENTOS_TOKEN=… python -m agentos_jobs.mcp [--read-only]

A thin proxy of the API's own MCP server (``POST /api/mcp``): ``tools/list`` and ``tools/call``
are forwarded with the bearer token, so the tools, their schemas and annotations, the scopes of
the token and the API's errors are the server's, defined once. ``--read-only`` offers only the
tools annotated ``readOnlyHint`` and refuses a call to any other. Unlike the rest of the CLI this
needs the official ``mcp`` package (requirements-dev.txt pins it; ``make run`` installs it).
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

try:
    import anyio
    import anyio.to_thread
    import mcp.types as types
    from mcp.server.context import ServerRequestContext
    from mcp.server.lowlevel import Server
    from mcp.server.stdio import stdio_server
    from mcp.shared.exceptions import MCPError
except ImportError as missing:  # the rest of the CLI needs nothing installed: say what this needs
    sys.exit(f"python -m agentos_jobs.mcp needs the mcp package (pip install mcp==2.3.0, or make install): "
             f"{missing}")

from .client import USER_AGENT, api_base

DEFAULT_URL = "http://localhost:3000/api"
SERVER_NAME, SERVER_VERSION = "agentos-jobs", "1.0.0"


class Refused(Exception):
    """The API refused the request itself (401, 403, 413, 5xx: its ``Message``), or was unreachable."""


class Upstream:
    """JSON-RPC requests to ``POST {base}/mcp`` with the bearer token (standard library HTTP)."""

    def __init__(self, base: str, token: str | None, timeout_s: float = 60.0) -> None:
        self.url = api_base(base) + "/mcp"
        self.token = token
        self.timeout_s = timeout_s
        self._ids = itertools.count(1)

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """The result of ``method``; MCPError for a JSON-RPC error, Refused for an API refusal."""
        message = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": USER_AGENT}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url, json.dumps(message).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return _result(json.loads(response.read().decode("utf-8")))
        except urllib.error.HTTPError as exc:
            with exc:
                raise _refusal(exc.code, exc.read()) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise Refused(f"cannot reach {self.url}: {getattr(exc, 'reason', exc)}") from None


def _result(answer: Any) -> dict[str, Any]:
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        error = answer["error"]
        raise MCPError(int(error.get("code", types.INTERNAL_ERROR)), str(error.get("message", "error")))
    if not isinstance(answer, dict) or not isinstance(answer.get("result"), dict):
        raise Refused("the API's MCP server gave no JSON-RPC result")
    result: dict[str, Any] = answer["result"]
    return result


def _refusal(status: int, raw: bytes) -> Exception:
    """A non-2xx answer: its JSON-RPC error, or the API's Message."""
    try:
        body = json.loads(raw.decode("utf-8") or "{}")
    except ValueError:
        body = {}
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return MCPError(int(body["error"].get("code", types.INTERNAL_ERROR)), str(body["error"].get("message")))
    message = body.get("Message") if isinstance(body, dict) else None
    hint = " (set AGENTOS_TOKEN)" if status == 401 else ""
    return Refused(f"{message or f'HTTP {status}'}{hint}")


class Proxy:
    """The stdio server's two handlers over an :class:`Upstream`."""

    def __init__(self, upstream: Upstream, read_only: bool) -> None:
        self.upstream = upstream
        self.read_only = read_only
        self._tools: list[types.Tool] | None = None

    async def _fetch(self) -> list[types.Tool]:
        try:
            result = await anyio.to_thread.run_sync(self.upstream.request, "tools/list", {})
        except Refused as exc:
            raise MCPError(types.INTERNAL_ERROR, str(exc)) from None
        tools = [types.Tool.model_validate(tool) for tool in result.get("tools", [])]
        return [t for t in tools if not self.read_only or (t.annotations and t.annotations.read_only_hint)]

    async def list_tools(self, ctx: ServerRequestContext[Any],
                         params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        """The API's tools (only the read tools with --read-only), annotations as they are."""
        self._tools = await self._fetch()
        return types.ListToolsResult(tools=self._tools)

    async def call_tool(self, ctx: ServerRequestContext[Any],
                        params: types.CallToolRequestParams) -> types.CallToolResult:
        """The API's answer to the call (an API refusal as a result with isError)."""
        if self.read_only:
            offered = {t.name for t in (self._tools if self._tools is not None else await self._fetch())}
            if params.name not in offered:
                return _error_result(f"{params.name} is not offered: this server runs with --read-only "
                                     "(read tools only)")
        arguments = {"name": params.name, "arguments": params.arguments or {}}
        try:
            result = await anyio.to_thread.run_sync(self.upstream.request, "tools/call", arguments)
        except Refused as exc:
            return _error_result(str(exc))
        return types.CallToolResult.model_validate(result)


def _error_result(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


def server(proxy: Proxy) -> Server[Any]:
    """The low-level MCP server whose tools are the proxy's."""
    return Server(SERVER_NAME, version=SERVER_VERSION, title="agentOS Jobs",
                  instructions="Schedule, change and watch the background jobs of AI agents.",
                  on_list_tools=proxy.list_tools, on_call_tool=proxy.call_tool)


async def serve(proxy: Proxy) -> None:
    """Serve one client on stdin/stdout until it closes them."""
    app = server(proxy)
    async with stdio_server() as (read_stream, write_stream):
        await app.run(read_stream, write_stream, app.create_initialization_options())


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m agentos_jobs.mcp [--read-only] [--url URL]``."""
    parser = argparse.ArgumentParser(prog="python -m agentos_jobs.mcp",
                                     description="The agentOS Jobs MCP server over stdio.")
    parser.add_argument("--read-only", action="store_true", help="offer only the read tools")
    parser.add_argument("--url", default=os.environ.get("AGENTOS_URL") or DEFAULT_URL,
                        help="the API's base URL (env AGENTOS_URL, default %(default)s)")
    args = parser.parse_args(argv)
    upstream = Upstream(args.url, os.environ.get("AGENTOS_TOKEN") or None)
    anyio.run(serve, Proxy(upstream, args.read_only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
