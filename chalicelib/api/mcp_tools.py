"""The MCP server's tools: their names, schemas and annotations, and what each one does.

Each tool calls the service functions and scope checks its REST route calls (routes.py), so a
tool refuses, limits and counts exactly as the route does; a :class:`~chalicelib.errors.JobsError`
becomes a tool result with ``isError: true`` and the API's ``Message`` as its text (mcp.py).
Arguments are the API's own field names. Nothing heavy is imported here: the services load
what they need on the first call, and ``tools/list`` needs none of them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import runtime
from ..errors import ValidationFailed
from ..vocab import JOB_STATUSES, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, UUID_PATTERN
from . import actors, scopes
from .auth import Scope
from .web import query_choice, query_limit, query_uuid

if TYPE_CHECKING:
    from ..store.events import Actor

Handler = Callable[[Scope, dict[str, Any], "Actor"], Any]  # the actor: who, in a job's history
ID = {"type": "string", "minLength": 1, "maxLength": 128}
LIMIT = {"type": "integer", "minimum": 1, "maximum": PAGE_LIMIT_MAX, "default": PAGE_LIMIT_DEFAULT}
CURSOR = {"type": "string", "description": "nextCursor of the previous page, as it was."}
TIMING = {
    "schedule": {"type": ["string", "null"], "description": "5-field cron (minute hour day-of-month month "
                 "day-of-week; @daily etc.) in `timezone`, or an ISO-8601 date-time for one run."},
    "interval": {"type": ["integer", "null"], "minimum": 1, "description": "Milliseconds between runs."},
    "timezone": {"type": "string", "description": "IANA timezone name (default UTC)."},
    "startAt": {"type": ["string", "null"], "description": "ISO-8601: no occurrence before it."},
    "endAt": {"type": ["string", "null"], "description": "ISO-8601: no occurrence after it."},
    "maxRuns": {"type": ["integer", "null"], "minimum": 1, "description": "Completed after this many runs."},
}
JOB_FIELDS = {
    "description": {"type": ["string", "null"]},
    "agentId": {"type": "string", "pattern": UUID_PATTERN, "description": "UUID of the agent that runs the job."},
    **TIMING,
    "payload": {"type": "object", "description": "JSON object delivered to the agent at each run."},
    "retryPolicy": {"type": ["object", "null"], "description": "maxAttempts, initialDelayMs, maxDelayMs, "
                    "multiplier, jitter."},
    "timeoutMs": {"type": ["integer", "null"], "minimum": 1000},
    "heartbeatTimeoutMs": {"type": ["integer", "null"], "minimum": 1000},
    "overlap": {"type": "string", "enum": ["skip", "queue", "allow"]},
    "maxConsecutiveFailures": {"type": ["integer", "null"], "minimum": 1},
    "catchupWindowMs": {"type": ["integer", "null"], "minimum": 0},
    "budget": {"type": ["object", "null"], "description": "maxCostUsdPerDay and/or maxTokensPerDay."},
}


@dataclass(frozen=True)
class Tool:
    """One tool: what ``tools/list`` shows of it and the function ``tools/call`` runs."""

    name: str
    title: str
    description: str
    properties: dict[str, Any]
    required: tuple[str, ...]
    handler: Handler
    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False
    open_body: bool = False  # the arguments beyond ``properties``' own are a request body the API validates

    def listing(self) -> dict[str, Any]:
        """The tool as ``tools/list`` shows it."""
        schema: dict[str, Any] = {"type": "object", "properties": self.properties}
        if self.required:
            schema["required"] = list(self.required)
        if not self.open_body:
            schema["additionalProperties"] = False
        hints = {"readOnlyHint": self.read_only, "destructiveHint": self.destructive,
                 "idempotentHint": self.idempotent or self.read_only, "openWorldHint": False}
        return {"name": self.name, "title": self.title, "description": self.description, "inputSchema": schema,
                "annotations": {"title": self.title, **hints}}


def checked(tool: Tool, arguments: dict[str, Any]) -> dict[str, Any]:
    """``arguments`` if they name only the tool's arguments, with the ids (or name) it needs as
    strings; a body's own fields are left to the API's validation (the REST route's messages)."""
    needs = tool.required[:1] if tool.open_body else tool.required
    for name in needs:
        if name not in arguments:
            raise ValidationFailed(name, "is required")
        if not isinstance(arguments[name], str):
            raise ValidationFailed(name, "must be a string")
    if not tool.open_body:
        unknown = sorted(set(arguments) - set(tool.properties))
        if unknown:
            raise ValidationFailed(unknown[0], f"is not an argument of {tool.name} (use {', '.join(tool.properties)})")
    return arguments


def _query(arguments: dict[str, Any]) -> dict[str, str]:
    """Arguments as the REST route's query parameters, for its own parsers (and their messages)."""
    return {k: v if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in arguments.items() if v is not None}


def _page(key: str, items: list[dict[str, Any]], cursor: str | None) -> dict[str, Any]:
    return {key: items, "nextCursor": cursor}


def list_jobs(scope: Scope, args: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """GET /api/jobs."""
    params = _query(args)
    status, agent = query_choice(params, "status", JOB_STATUSES), query_uuid(params, "agentId")
    agent, foreign = scopes.list_filter(scope, agent)
    if foreign:
        return _page("jobs", [], None)
    jobs, cursor = runtime.jobs().list(status, agent, query_limit(params), params.get("cursor"), scope)
    return _page("jobs", scopes.visible(scope, jobs), cursor)


def get_job(scope: Scope, args: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """GET /api/jobs/{id}."""
    scopes.check_job(scope, args["id"])
    return runtime.jobs().get(args["id"])


def ensure_job(scope: Scope, args: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """PUT /api/jobs/by-name/{name}: the job named ``name`` made to match the other arguments."""
    from ..store.models import Origin  # PynamoDB: with the first write, not with tools/list

    scopes.check_agent(scope, args)
    job, _created = runtime.jobs().declare(args["name"], args, Origin(via="mcp"), actor)
    return job


def update_job(scope: Scope, args: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """PATCH /api/jobs/{id} with every other argument as the body."""
    body = {k: v for k, v in args.items() if k != "id"}
    scopes.check_job(scope, args["id"])
    scopes.check_agent(scope, body)
    return runtime.jobs().update(args["id"], body, actor)


def _set_status(status: str) -> Handler:
    def handler(scope: Scope, args: dict[str, Any], actor: Actor) -> dict[str, Any]:
        scopes.check_job(scope, args["id"])
        return runtime.jobs().update(args["id"], {"status": status}, actor)
    return handler


def delete_job(scope: Scope, args: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """DELETE /api/jobs/{id} (its 204 has no body: the answer says what was deleted)."""
    scopes.check_job(scope, args["id"])
    runtime.jobs().delete(args["id"], actor)
    return {"id": args["id"], "deleted": True}


def run_job(scope: Scope, args: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """POST /api/jobs/{id}/run, with ``payload`` for this run only."""
    scopes.check_job(scope, args["id"])
    body = {"payload": args["payload"]} if "payload" in args else None
    return runtime.jobs().run_now(args["id"], body, actor)


def list_runs(scope: Scope, args: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """GET /api/jobs/{jobId}/runs."""
    scopes.check_job(scope, args["jobId"])
    params = _query(args)
    runs, cursor = runtime.jobs().runs_of(args["jobId"], query_limit(params), params.get("cursor"))
    return _page("runs", runs, cursor)


def get_run(scope: Scope, args: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """GET /api/runs/{id}."""
    scopes.check_run(scope, args["id"])
    return runtime.run_service().get(args["id"])


def cancel_run(scope: Scope, args: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """POST /api/runs/{id}/cancel."""
    scopes.check_run(scope, args["id"])
    return runtime.run_service().cancel(args["id"])


def replay_run(scope: Scope, args: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """POST /api/runs/{id}/replay."""
    scopes.check_run(scope, args["id"])
    return runtime.run_service().replay(args["id"], actor)


def preview_schedule(scope: Scope, args: dict[str, Any], actor: Actor) -> Any:
    """POST /api/schedules/preview."""
    from .preview import preview  # pydantic and croniter: with the first preview

    return preview(args, runtime.config().limits.minIntervalMs)


def mcp_actor() -> Actor:
    """The actor of an MCP call that names none (no request: tests, in-process callers)."""
    from ..store.events import Actor

    return Actor("mcp", actors.LOCAL_ID)


def _id(what: str) -> dict[str, Any]:
    return {"id": {**ID, "description": f"The {what}'s id."}}


JOB_ARGS = {"name": {"type": "string", "minLength": 1, "maxLength": 128, "description": "Unique job name."},
            **JOB_FIELDS}
PREVIEW_ARGS = {**TIMING, "count": {"type": "integer", "minimum": 1, "maximum": 50, "default": 5}}
TOOLS: dict[str, Tool] = {tool.name: tool for tool in (
    Tool("list_jobs", "List jobs", "A page of jobs, filtered by status and agent; pass nextCursor as cursor for "
         "the next page.", {"status": {"type": "string", "enum": list(JOB_STATUSES)},
                            "agentId": {"type": "string", "pattern": UUID_PATTERN}, "limit": LIMIT, "cursor": CURSOR},
         (), list_jobs, read_only=True),
    Tool("get_job", "Get a job", "One job: schedule, status, next and last run, counters.", _id("job"), ("id",),
         get_job, read_only=True),
    Tool("ensure_job", "Create or update a job by name", "Make the job named `name` match these fields (created if "
         "absent; fields left out take their defaults, status is kept). Nothing is written when nothing differs, "
         "so declaring the same job again never shifts its schedule. Exactly one of schedule or interval.",
         JOB_ARGS, ("name", "agentId", "payload"), ensure_job, idempotent=True, open_body=True),
    Tool("update_job", "Change a job", "Change any subset of a job's fields (schedule clears interval and the "
         "reverse; status active or paused).", {**_id("job"), **JOB_ARGS,
                                                 "status": {"type": "string", "enum": ["active", "paused"]}},
         ("id",), update_job, idempotent=True, open_body=True),
    Tool("pause_job", "Pause a job", "No occurrence of the job starts until it is resumed.", _id("job"), ("id",),
         _set_status("paused"), idempotent=True),
    Tool("resume_job", "Resume a job", "The job runs on its schedule again, from now.", _id("job"), ("id",),
         _set_status("active"), idempotent=True),
    Tool("delete_job", "Delete a job", "Delete the job: nothing of it starts afterwards. Cannot be undone.",
         _id("job"), ("id",), delete_job, destructive=True, idempotent=True),
    Tool("run_job", "Run a job now", "Start a run now, outside the schedule; `payload` (optional) is delivered to "
         "this run instead of the job's.", {**_id("job"), "payload": {"type": "object"}}, ("id",), run_job),
    Tool("list_runs", "List a job's runs", "A page of the job's runs, newest first; pass nextCursor as cursor for "
         "the next page.", {"jobId": {**ID, "description": "The job's id."}, "limit": LIMIT, "cursor": CURSOR},
         ("jobId",), list_runs, read_only=True),
    Tool("get_run", "Get a run", "One run: status, attempts, times, error, output, usage.", _id("run"), ("id",),
         get_run, read_only=True),
    Tool("cancel_run", "Cancel a run", "Stop a run: a waiting one ends cancelled now, a running one is asked to "
         "stop.", _id("run"), ("id",), cancel_run, destructive=True, idempotent=True),
    Tool("replay_run", "Replay a run", "A new run of the same job, delivered the payload the original run was "
         "delivered.", _id("run"), ("id",), replay_run),
    Tool("preview_schedule", "Preview a schedule", "The next start times a job with this timing would have (one "
         "of schedule or interval), without creating anything.", PREVIEW_ARGS, (), preview_schedule,
         read_only=True, open_body=True),
)}
