"""The HTTP API blueprint: routes literally under ``/api`` (README, "The API").

Each handler parses, calls one service function, and returns. Importing this module only
registers the routes: the service, the config and the OpenAPI models are loaded through
:mod:`.runtime` and :mod:`.openapi` on the first request that needs them.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from chalice import Blueprint, Response

from .. import runtime, telemetry
from ..clock import now_ms
from ..engine import callbacks
from ..errors import Unauthorized, ValidationFailed
from ..vocab import JOB_STATUSES
from . import scopes
from .auth import Scope, authorize
from .openapi import openapi_document
from .web import (
    ANY_CONTENT_TYPE,
    check_query,
    guarded,
    json_text,
    next_link,
    parse_body,
    query_choice,
    query_limit,
    query_uuid,
)

if TYPE_CHECKING:
    from ..store.events import Actor
    from ..store.models import Origin

api = Blueprint(__name__)


def _params() -> dict[str, str]:
    return dict(api.current_request.query_params or {})


def _authorize() -> Scope:
    """The request's token scope (None: every agent, or security off); 401 without a valid token."""
    telemetry.configure_logging()  # the scrubber, before anything of this request is logged
    if runtime.config().security.enabled:
        return authorize(api.current_request.headers.get("authorization"))
    return None


def _actor(scope: Scope, mcp: bool = False) -> Actor:
    """Who this request (made with an API token, or none) acts as, in a job's history."""
    from . import actors  # with the first write, not with the routes

    headers = api.current_request.headers
    return actors.request_actor(headers.get("authorization"), scope, headers.get("x-agentos-client"),
                                runtime.config().security.enabled, mcp)


def _author_actor(scope: Scope, origin: Origin) -> Actor:
    """The actor of a create or declaration: the run whose callback token made it, else the token's."""
    from . import actors

    return actors.callback_actor(origin.runId) if origin.via == "run" and origin.runId else _actor(scope)


def _body() -> object:
    return parse_body(api.current_request.raw_body, runtime.config().limits.maxPayloadBytes)


def _path() -> str:
    # Behind API Gateway the public path carries the stage prefix; locally it is the route.
    context = api.current_request.context or {}
    return str(context.get("path") or api.current_request.path)


def _server() -> str:
    """The base URL this request reached (scheme, host and port, and a deployed stage's prefix):
    what the OpenAPI document names as its server."""
    headers = api.current_request.headers
    host = headers.get("host") or "localhost:3000"
    scheme = headers.get("x-forwarded-proto") or "http"
    prefix = _path()[: -len(api.current_request.path)] if _path().endswith(api.current_request.path) else ""
    return f"{scheme}://{host}{prefix}"


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body=json_text(body), status_code=status,
                    headers={"Content-Type": "application/json", **(headers or {})})  # JSON is UTF-8 (RFC 8259)


def _replayable(view: Callable[..., Response]) -> Callable[..., Response]:
    """A route whose requests may carry an ``Idempotency-Key`` (contract section 10): answered once
    by ``view``, ever after (24 h) from the key's record (chalicelib/api/idempotency.py)."""
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        request = api.current_request
        headers, security = request.headers, runtime.config().security.enabled
        if headers.get("idempotency-key") is None or (security and not headers.get("authorization")):
            return view(*args, **kwargs)  # no key (or no token: the view answers 401)
        from .idempotency import caller_fingerprint, read_key  # PynamoDB: only for a request with a key

        key = read_key(headers.get("idempotency-key"))
        caller = caller_fingerprint(headers.get("authorization"), security)
        return runtime.idempotency().respond(key, caller, f"{request.method} {_path()}", request.raw_body,
                                             lambda: view(*args, **kwargs))
    return wrapper


@api.route("/api/health", methods=["GET"])
@guarded
def health() -> Response:
    """Liveness: never needs a token."""
    return _json({"status": "ok"})


@api.route("/api/openapi.json", methods=["GET"])
@guarded
def openapi() -> Response:
    """The OpenAPI 3 document of this API."""
    _authorize()
    return _json(openapi_document(_server()))


@api.route("/api/jobs", methods=["POST"], content_types=ANY_CONTENT_TYPE)
@guarded
@_replayable
def create_job() -> Response:
    """Create a job."""
    scope, origin = _author()  # before the body is read: a request without a valid token learns nothing
    body = _body()
    scopes.check_agent(scope, body)
    job = runtime.jobs().create(body, origin=origin, actor=_author_actor(scope, origin))
    return _json(job, 201, {"Location": f"{_path()}/{job['id']}"})


def _callback_token() -> str | None:
    """The bearer value if it has a callback token's shape (it is then checked as one, never as an API token)."""
    header = api.current_request.headers.get("authorization") or ""
    scheme, _, presented = header.strip().partition(" ")
    token = presented.strip()
    return token if scheme.lower() == "bearer" and callbacks.looks_like_token(token) else None


def _author() -> tuple[Scope, Origin]:
    """Who makes a job (POST /api/jobs, PUT /api/jobs/by-name/...): a run's callback token (its own
    agent only; origin ``run``, one level deeper) or an API token (origin: the client named by
    the ``X-AgentOS-Client`` header, else ``api``)."""
    from .admission import client_origin, run_author  # PynamoDB: loaded by the routes that need it

    token = _callback_token()
    if token is not None:
        telemetry.configure_logging()
        return run_author(runtime.job_store(), token, now_ms())
    return _authorize(), client_origin(api.current_request.headers.get("x-agentos-client"))


@api.route("/api/jobs/by-name/{name}", methods=["GET"])
@guarded
def get_job_by_name(name: str) -> Response:
    """The job named ``name`` (404 when none, or when it is another agent's for a scoped token)."""
    scope = _authorize()
    job = runtime.jobs().get_by_name(unquote(name))
    scopes.check_job(scope, job["id"])
    return _json(job)


@api.route("/api/jobs/by-name/{name}", methods=["PUT"], content_types=ANY_CONTENT_TYPE)
@guarded
def declare_job(name: str) -> Response:
    """Create or update the job named ``name`` so that it matches the body (a job declared in code)."""
    scope, origin = _author()
    body = _body()
    scopes.check_agent(scope, body)
    job, created = runtime.jobs().declare(unquote(name), body, origin, _author_actor(scope, origin))
    if not created:
        return _json(job)
    return _json(job, 201, {"Location": f"{_path().split('/by-name/', 1)[0]}/{job['id']}"})


@api.route("/api/jobs", methods=["GET"])
@guarded
def list_jobs() -> Response:
    """List jobs, filtered and paged."""
    scope, params = _authorize(), _params()
    check_query(params, ("status", "agentId", "limit", "cursor"))
    status, agent = query_choice(params, "status", JOB_STATUSES), query_uuid(params, "agentId")
    agent, foreign = scopes.list_filter(scope, agent)
    if foreign:
        return _json([])
    jobs, cursor = runtime.jobs().list(status, agent, query_limit(params), params.get("cursor"), scope)
    return _json(scopes.visible(scope, jobs), headers=next_link(_path(), params, cursor))


@api.route("/api/jobs/{job_id}", methods=["GET"])
@guarded
def get_job(job_id: str) -> Response:
    """One job."""
    scopes.check_job(_authorize(), job_id)
    return _json(runtime.jobs().get(job_id))


@api.route("/api/jobs/{job_id}", methods=["PATCH"], content_types=ANY_CONTENT_TYPE)
@guarded
def update_job(job_id: str) -> Response:
    """Change any subset of a job's mutable fields."""
    scope, body = _authorize(), _body()
    scopes.check_job(scope, job_id)
    scopes.check_agent(scope, body)
    return _json(runtime.jobs().update(job_id, body, _actor(scope)))


@api.route("/api/jobs/{job_id}", methods=["DELETE"], content_types=ANY_CONTENT_TYPE)
@guarded
def delete_job(job_id: str) -> Response:
    """Delete a job; nothing of it starts after the 204."""
    scope = _authorize()
    scopes.check_job(scope, job_id)
    runtime.jobs().delete(job_id, _actor(scope))
    return Response(body="", status_code=204)


@api.route("/api/jobs/{job_id}/run", methods=["POST"], content_types=ANY_CONTENT_TYPE)
@guarded
@_replayable
def run_job(job_id: str) -> Response:
    """Run a job now, outside its schedule (with an optional ``{"payload": ...}`` for this run only)."""
    scope = _authorize()
    scopes.check_job(scope, job_id)
    return _json(runtime.jobs().run_now(job_id, _optional_object(), _actor(scope)), 202)


@api.route("/api/jobs/{job_id}/runs", methods=["GET"])
@guarded
def list_runs(job_id: str) -> Response:
    """A job's runs, newest first, paged."""
    scopes.check_job(_authorize(), job_id)
    params = _params()
    check_query(params, ("limit", "cursor"))
    runs, cursor = runtime.jobs().runs_of(job_id, query_limit(params), params.get("cursor"))
    return _json(runs, headers=next_link(_path(), params, cursor))


@api.route("/api/jobs/{job_id}/events", methods=["GET"])
@guarded
def list_events(job_id: str) -> Response:
    """A job's history, newest first, paged (readable 30 days after a delete)."""
    scope, params = _authorize(), _params()
    check_query(params, ("limit", "cursor"))
    events, cursor = runtime.jobs().events(job_id, scope, query_limit(params), params.get("cursor"))
    return _json(events, headers=next_link(_path(), params, cursor))


def _report_attempt(run_id: str) -> int | None:
    """Who may report on ``run_id``: its attempt's callback token (the attempt it opens), or an
    API token (None: the current attempt). A callback token of another run is a 401."""
    token = _callback_token()
    if token is not None:
        claim = callbacks.verify(token, run_id, now_ms())
        if claim is None:
            raise Unauthorized("Authorization: the callback token is not valid for this run", "Authorization")
        return claim.attempt
    scopes.check_run(_authorize(), run_id)
    return None


def _optional_body() -> object:
    raw = api.current_request.raw_body
    return None if not raw or not raw.strip() else _body()


def _optional_object() -> dict[str, Any] | None:
    """An optional body that, when sent, must be a JSON object (``null`` too is refused)."""
    body = _optional_body()
    raw = api.current_request.raw_body
    if raw and raw.strip() and not isinstance(body, dict):
        raise ValidationFailed("body", "must be a JSON object")
    return body if isinstance(body, dict) else None


@api.route("/api/runs", methods=["GET"])
@guarded
def list_all_runs() -> Response:
    """Runs across jobs, newest first, filtered and paged (each page reads about its size)."""
    from .run_list import list_runs  # PynamoDB: loaded by the routes that need it

    params = _params()
    runs, cursor = list_runs(params, _authorize())
    return _json(runs, headers=next_link(_path(), params, cursor))


@api.route("/api/runs/{run_id}", methods=["GET"])
@guarded
def get_run(run_id: str) -> Response:
    """One run, whatever its job."""
    scopes.check_run(_authorize(), run_id)
    return _json(runtime.run_service().get(run_id))


@api.route("/api/runs/{run_id}/heartbeat", methods=["POST"], content_types=ANY_CONTENT_TYPE)
@guarded
def heartbeat_run(run_id: str) -> Response:
    """An accepted attempt is alive (and how far it got); the answer says if it should stop."""
    attempt = _report_attempt(run_id)
    return _json(runtime.run_service().heartbeat(run_id, _optional_body(), attempt))


@api.route("/api/runs/{run_id}/complete", methods=["POST"], content_types=ANY_CONTENT_TYPE)
@guarded
def complete_run(run_id: str) -> Response:
    """An accepted attempt's outcome, reported by its agent."""
    attempt = _report_attempt(run_id)
    return _json(runtime.run_service().complete(run_id, _body(), attempt))


@api.route("/api/runs/{run_id}/replay", methods=["POST"], content_types=ANY_CONTENT_TYPE)
@guarded
@_replayable
def replay_run(run_id: str) -> Response:
    """Run the job of a run again, delivered the payload that run was delivered."""
    scope = _authorize()
    scopes.check_run(scope, run_id)
    return _json(runtime.run_service().replay(run_id, _actor(scope)), 202)


@api.route("/api/runs/{run_id}/cancel", methods=["POST"], content_types=ANY_CONTENT_TYPE)
@guarded
def cancel_run(run_id: str) -> Response:
    """Stop a run: nothing further of it starts after the 202."""
    scopes.check_run(_authorize(), run_id)
    return _json(runtime.run_service().cancel(run_id), 202)


@api.route("/api/agents", methods=["GET"])
@guarded
def list_agents() -> Response:
    """Every configured agent and every agent with jobs (the token's own, when scoped)."""
    scope = _authorize()
    check_query(_params(), ())
    return _json(runtime.agents().list(scope))


@api.route("/api/agents/{agent_id}", methods=["GET"])
@guarded
def get_agent(agent_id: str) -> Response:
    """One agent: its limits, slots, waiting runs, usage today, quota and jobs."""
    return _json(runtime.agents().get(agent_id, _authorize()))


@api.route("/api/schedules/preview", methods=["POST"], content_types=ANY_CONTENT_TYPE)
@guarded
def preview_schedule() -> Response:
    """The next start times of a schedule or interval (README, "The API")."""
    _authorize()
    from .preview import preview  # pydantic and croniter: loaded by the routes that need them

    return _json(preview(_body(), runtime.config().limits.minIntervalMs))


@api.route("/api/mcp", methods=["POST"], content_types=ANY_CONTENT_TYPE)
@guarded
def mcp() -> Response:
    """The MCP server (Streamable HTTP, stateless): one JSON-RPC message in, one JSON answer out."""
    scope, headers = _authorize(), api.current_request.headers
    from .mcp import answer_post  # loaded by the first MCP request, not with the routes

    status, body = answer_post(scope, api.current_request.raw_body, headers.get("mcp-protocol-version"),
                               headers.get("origin"), runtime.config(), lambda: _actor(scope, mcp=True))
    return _json(body, status) if body is not None else Response(body="", status_code=status)
