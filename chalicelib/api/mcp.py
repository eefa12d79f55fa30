"""The MCP server on the API itself: ``POST /api/mcp`` (contract section 11, "MCP").

Streamable HTTP, stateless: each POST carries one JSON-RPC 2.0 message and is answered with one
``application/json`` body (never an event stream, no session id), so it is one more route of the
API's Lambda. Protocol revisions 2025-11-25 and 2025-06-18, which have no batches: a JSON array
is an invalid request. Hand-written (no ``mcp`` package, no pydantic): ``tools/list`` costs a
cold start nothing but this module and :mod:`.mcp_tools`.

HTTP statuses: 202 and no body for a notification or a response; 400 for a body that is no
JSON-RPC request (-32700, -32600) or an unsupported ``MCP-Protocol-Version`` header; 200 for
everything else, errors (-32601, -32602) included; 403 for a browser page of a foreign origin
when security is off (no token then stands between a DNS-rebinding page and the API). The bearer
token was checked by the route.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from ..errors import ConfigError, JobsError, ValidationFailed
from .auth import Scope
from .mcp_tools import TOOLS, checked, mcp_actor
from .web import json_text, parse_body

if TYPE_CHECKING:
    from ..config import Config
    from ..store.events import Actor

log = logging.getLogger("agentos.jobs.mcp")
# Who a tool call acts as, in a job's history: asked only by tools/call (building it loads the store).
Acting = Callable[[], "Actor"]
PROTOCOL_VERSIONS = ("2025-11-25", "2025-06-18")  # newest first: the answer to a version we lack
SERVER_INFO = {"name": "agentos-jobs", "title": "agentOS Jobs", "version": "1.0.0"}
INSTRUCTIONS = ("Schedule, change and watch the background jobs of AI agents: ensure_job declares a job by "
                "name (cron schedule or interval), run_job runs one now, list_runs and get_run show what ran.")
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
INTERNAL_MESSAGE = "internal error; it has been logged"
STRUCTURED_MAX_CHARS = 1024 * 1024


class Answer(NamedTuple):
    """What the route sends: an HTTP status and a JSON-RPC message (None: no body)."""

    status: int
    body: dict[str, Any] | None


class RpcError(Exception):
    """A JSON-RPC error: its code, message and the HTTP status it is sent with."""

    def __init__(self, code: int, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class Request(NamedTuple):
    """One JSON-RPC request (``id`` None: a notification)."""

    id: str | int | None
    method: str
    params: dict[str, Any]


def answer_post(scope: Scope, raw: bytes | str | None, version: str | None, origin: str | None,
                config: Config, actor: Acting | None = None) -> Answer:
    """The answer to ``POST /api/mcp``: its body ``raw``, its ``MCP-Protocol-Version`` and ``Origin``
    headers, for a token of ``scope`` (already checked, when security is on) acting as ``actor()``."""
    if not origin_allowed(origin, config.security.enabled):
        error = {"code": INVALID_REQUEST, "message": f"Forbidden: Origin {origin[:100]!r} may not call this server"
                 if origin else "Forbidden"}
        return Answer(403, {"jsonrpc": "2.0", "id": None, "error": error})
    return handle(scope, raw, config.limits.maxPayloadBytes, version, actor)


def handle(scope: Scope, raw: bytes | str | None, max_bytes: int, version: str | None,
           actor: Acting | None = None) -> Answer:
    """Answer one POST of ``raw`` (its ``MCP-Protocol-Version`` header: ``version``) for a token
    of ``scope``, acting as ``actor`` (in a job's history; default: an MCP caller without a token)."""
    request_id: str | int | None = None
    try:
        message = _decode(raw, max_bytes)
        if _is_reply(message):
            return Answer(202, None)  # a client's answer to a request we never send: accepted
        request_id = _id_of(message)
        request = _request(message)
        if request.method != "initialize":
            _check_version(version)
        if request.id is None:
            return Answer(202, None)  # notifications/initialized and any other notification
        return Answer(200, {"jsonrpc": "2.0", "id": request.id, "result": dispatch(scope, request, actor)})
    except RpcError as error:
        body = {"code": error.code, "message": error.message}
        return Answer(error.status, {"jsonrpc": "2.0", "id": request_id, "error": body})


def _decode(raw: bytes | str | None, max_bytes: int) -> dict[str, Any]:
    try:
        message = parse_body(raw, max_bytes)  # the API's own reading: NaN, duplicate keys, depth, size
    except ValidationFailed as error:
        raise RpcError(PARSE_ERROR, f"Parse error: {error.message}", 400) from None
    if isinstance(message, list):
        raise RpcError(INVALID_REQUEST, "Invalid Request: batches are not supported (MCP 2025-06-18 and later)", 400)
    if not isinstance(message, dict):
        raise RpcError(INVALID_REQUEST, "Invalid Request: a JSON-RPC message must be a JSON object", 400)
    return message


def _is_reply(message: dict[str, Any]) -> bool:
    return "method" not in message and ("result" in message or "error" in message) and "id" in message


def _id_of(message: dict[str, Any]) -> str | int | None:
    """The request's id if it is a valid one (else None: the error answer's id is null)."""
    value = message.get("id")
    return value if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)) else None


def _request(message: dict[str, Any]) -> Request:
    invalid = "Invalid Request: "
    if message.get("jsonrpc") != "2.0":
        raise RpcError(INVALID_REQUEST, invalid + 'jsonrpc must be "2.0"', 400)
    if not isinstance(message.get("method"), str) or not message["method"]:
        raise RpcError(INVALID_REQUEST, invalid + "method must be a non-empty string", 400)
    if "id" in message and _id_of(message) is None:
        raise RpcError(INVALID_REQUEST, invalid + "id must be a string or an integer", 400)
    params = message.get("params", {})
    if not isinstance(params, dict):
        raise RpcError(INVALID_REQUEST, invalid + "params must be an object", 400)
    return Request(_id_of(message), message["method"], params)


def _check_version(version: str | None) -> None:
    # Sent after the handshake; none at all: an older client, answered as the version it negotiated.
    if version is not None and version.strip() not in PROTOCOL_VERSIONS:
        supported = ", ".join(PROTOCOL_VERSIONS)
        raise RpcError(INVALID_REQUEST, f"Bad Request: unsupported MCP-Protocol-Version {version[:40]!r} "
                                        f"(supported: {supported})", 400)


def origin_allowed(origin: str | None, token_checked: bool) -> bool:
    """Whether a request from a browser page at ``origin`` may be served. Without a token (security
    off: a local run) only local pages may: a DNS-rebinding page must not reach the API (MCP spec)."""
    if origin is None or token_checked:
        return True
    host = urlsplit(origin).hostname
    return host in LOCAL_HOSTS


def dispatch(scope: Scope, request: Request, actor: Acting | None = None) -> dict[str, Any]:
    """The result of one request (RpcError for an unknown method or invalid params)."""
    if request.method == "initialize":
        return _initialize(request.params)
    if request.method == "ping":
        return {}
    if request.method == "tools/list":
        return {"tools": [tool.listing() for tool in TOOLS.values()]}
    if request.method == "tools/call":
        return call_tool(scope, request.params, actor)
    raise RpcError(METHOD_NOT_FOUND, f"Method not found: {request.method[:100]}")


def _initialize(params: dict[str, Any]) -> dict[str, Any]:
    asked = params.get("protocolVersion")
    if not isinstance(asked, str):
        raise RpcError(INVALID_PARAMS, "Invalid params: protocolVersion must be a string")
    version = asked if asked in PROTOCOL_VERSIONS else PROTOCOL_VERSIONS[0]
    return {"protocolVersion": version, "capabilities": {"tools": {}}, "serverInfo": SERVER_INFO,
            "instructions": INSTRUCTIONS}


def call_tool(scope: Scope, params: dict[str, Any], actor: Acting | None = None) -> dict[str, Any]:
    """Run the tool ``params`` names: its answer as text and structured content, or the API's error
    as a result with ``isError`` (an unknown tool or arguments that are no object: -32602)."""
    name, arguments = params.get("name"), params.get("arguments", {})
    tool = TOOLS.get(name) if isinstance(name, str) else None
    if tool is None:
        raise RpcError(INVALID_PARAMS, f"Unknown tool: {str(name)[:100]}")
    if not isinstance(arguments, dict):
        raise RpcError(INVALID_PARAMS, "Invalid params: arguments must be an object")
    try:
        answer = tool.handler(scope, checked(tool, arguments), actor() if actor is not None else mcp_actor())
    except ConfigError as error:  # names files and parameters: for the operator only
        log.error("tool %s: configuration error: %s", tool.name, error.message)
        return _failed("InternalError", INTERNAL_MESSAGE)
    except JobsError as error:
        return _failed(error.code, error.message)
    except Exception:  # never a stack trace to the caller; the log has it
        log.exception("unhandled error in tool %s", tool.name)
        return _failed("InternalError", INTERNAL_MESSAGE)
    return _result(answer)


def _result(answer: dict[str, Any]) -> dict[str, Any]:
    """A tool's answer: a page (jobs or runs, and nextCursor) shows its items as the API's array,
    the cursor in a second block when there is one."""
    items = next((answer[k] for k in ("jobs", "runs") if k in answer and "nextCursor" in answer), None)
    content = [{"type": "text", "text": json_text(items if items is not None else answer)}]
    if items is not None and answer["nextCursor"] is not None:
        content.append({"type": "text", "text": json.dumps({"nextCursor": answer["nextCursor"]})})
    result: dict[str, Any] = {"content": content, "isError": False}
    if len(content[0]["text"]) <= STRUCTURED_MAX_CHARS:  # a big page once, not twice: Lambda answers at most 6 MB
        result["structuredContent"] = answer
    return result


def _failed(code: str, message: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": message}], "structuredContent": {"Code": code, "Message": message},
            "isError": True}
