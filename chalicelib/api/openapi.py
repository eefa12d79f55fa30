"""The OpenAPI 3.1 document, generated from the same pydantic models that validate requests.

It states every constraint a request is checked against (patterns, lengths, ranges, enums,
exactly one timing), with the limits of the running configuration (``limits.minIntervalMs``,
``limits.maxPayloadBytes``). The models (and pydantic) are imported when the document is
first built, not with the routes.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from ..vocab import (
    CURSOR_PATTERN,
    ID_MAX_LENGTH,
    IDEMPOTENCY_KEY_MAX_LENGTH,
    IDEMPOTENCY_KEY_PATTERN,
    JOB_ID_PATTERN,
    JOB_STATUSES,
    NAME_MAX_LENGTH,
    NAME_PATTERN,
    PAGE_LIMIT_DEFAULT,
    PAGE_LIMIT_MAX,
    RunStatus,
    Trigger,
)
from .web import MAX_DEPTH

REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json_content(_ref("Error"))}


ERRORS = {
    "400": _error("Invalid request: the message names the field."),
    "401": _error("Security is enabled and the bearer token is missing or wrong."),
    "413": _error("The body or payload is over limits.maxPayloadBytes."),
}
NOT_FOUND = {"404": _error("No job has this id.")}
# 403 on a create, PUT or PATCH: ForbiddenError (a scoped token, or a run's callback token, for another
# agent) or QuotaExceededError (contract section 11).
REFUSED = {"403": _error("ForbiddenError: the token may not act for this agent. QuotaExceededError: the request "
                         "would pass a quota of the agent (maxJobs, minIntervalMs, maxRunsPerDay, maxDepth); "
                         "the message names the quota, its limit and the value the request would reach.")}
LINK = {"Link": {"description": 'Next page: `<url>; rel="next"`', "schema": {"type": "string"}}}
JOB_ID = {"name": "job_id", "in": "path", "required": True,
          "schema": {"type": "string", "maxLength": ID_MAX_LENGTH}}
PAGING = [
    {"name": "limit", "in": "query",
     "schema": {"type": "integer", "minimum": 1, "maximum": PAGE_LIMIT_MAX, "default": PAGE_LIMIT_DEFAULT}},
    {"name": "cursor", "in": "query", "description": "The `cursor` of the previous page's `Link` header, as it was.",
     "schema": {"type": "string", "minLength": 1, "pattern": CURSOR_PATTERN}},
]

PREVIEW_ANSWER = {"type": "object", "required": ["next", "runsPerDay"],
                  "properties": {"next": {"type": "array", "items": {"type": "string", "format": "date-time"}},
                                 "runsPerDay": {"type": "integer", "minimum": 0,
                                                "description": "Start times in the next 24 h, bounds applied."}}}

# POST /api/mcp (chalicelib/api/mcp.py): one JSON-RPC 2.0 message in, one out. An unknown method or
# invalid params is a JSON-RPC error with 200; a body that is no JSON-RPC request is a 400.
_RPC_ID = {"type": ["string", "integer"]}
MCP_REQUEST = {"type": "object", "required": ["jsonrpc", "method"], "description": "A JSON-RPC 2.0 request "
               "(with id) or notification (without): initialize, ping, tools/list, tools/call, notifications/...",
               "properties": {"jsonrpc": {"const": "2.0"}, "id": _RPC_ID, "method": {"type": "string", "minLength": 1},
                              "params": {"type": "object"}}}
MCP_ERROR = {"type": "object", "required": ["code", "message"],
             "properties": {"code": {"type": "integer"}, "message": {"type": "string"}}}
MCP_ANSWER = {"type": "object", "required": ["jsonrpc", "id"],
              "properties": {"jsonrpc": {"const": "2.0"}, "id": {"type": ["string", "integer", "null"]},
                             "result": {"type": "object"}, "error": MCP_ERROR}}
MCP_OPERATION = {
    "operationId": "mcp", "description": "The MCP server (Streamable HTTP, stateless, JSON answers): the tools "
    "list_jobs, get_job, ensure_job, update_job, pause_job, resume_job, delete_job, run_job, list_runs, get_run, "
    "cancel_run, replay_run and preview_schedule over this API, with the caller's token.",
    "requestBody": {"required": True, "content": _json_content(MCP_REQUEST)},
    "responses": {"200": {"description": "The JSON-RPC response (a result or an error)",
                          "content": _json_content(MCP_ANSWER)},
                  "202": {"description": "A notification or response: accepted, no body"},
                  "400": {"description": "Parse error (-32700), invalid request (-32600) or an unsupported "
                          "MCP-Protocol-Version header", "content": _json_content(MCP_ANSWER)},
                  "401": ERRORS["401"], "413": ERRORS["413"]}}


# Contract section 10: requests that are safe to retry, and jobs declared in code.
IDEMPOTENCY_KEY = {"name": "Idempotency-Key", "in": "header", "required": False,
                   "description": "For 24 h, a request with the same key, token, route and body answers what the "
                   "first one answered (status, body, Location) and does nothing else.",
                   "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX_LENGTH,
                              "pattern": IDEMPOTENCY_KEY_PATTERN}}
REUSED_KEY = "the Idempotency-Key was used for another request (or its first request has not answered yet)."
JOB_NAME = {"name": "name", "in": "path", "required": True, "description": "The job's name, URL-encoded.",
            "schema": {"type": "string", "minLength": 1, "maxLength": NAME_MAX_LENGTH, "pattern": NAME_PATTERN}}


# Contract section 13: GET /api/agents (chalicelib/api/agents.py). Never a URL path, secret or token.
_COUNT = {"type": "integer", "minimum": 0}
_LIMIT = {"type": ["integer", "null"], "minimum": 0}
AGENT = {"type": "object", "required": ["id", "configured", "urlHost", "maxConcurrent", "running", "queued", "budget",
                                        "usageToday", "quota", "jobs"], "properties": {
    "id": {"type": "string", "format": "uuid"}, "configured": {"type": "boolean"},
    "urlHost": {"type": ["string", "null"], "description": "The agent URL's host and port only."},
    "maxConcurrent": _LIMIT, "running": _COUNT, "queued": _COUNT,
    "budget": {"type": ["object", "null"], "properties": {"maxCostUsdPerDay": {"type": "number"},
                                                          "maxTokensPerDay": {"type": "integer"}}},
    "usageToday": {"type": "object", "required": ["costUsd", "tokens"],
                   "properties": {"costUsd": {"type": "number", "minimum": 0}, "tokens": _COUNT}},
    "quota": {"type": "object", "required": ["maxJobs", "minIntervalMs", "maxRunsPerDay", "maxDepth"],
              "properties": {"maxJobs": _LIMIT, "minIntervalMs": _LIMIT, "maxRunsPerDay": _LIMIT,
                             "maxDepth": _COUNT}},
    "jobs": _COUNT}}
AGENT_ID = {"name": "agent_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}

# Contract section 13: GET /api/jobs/{id}/events (chalicelib/api/events.py), a job's history.
EVENT_ACTIONS = ["created", "updated", "paused", "resumed", "completed", "deleted", "state-reset", "run-requested",
                 "replayed"]
ACTOR_KINDS = ["token", "scoped", "callback", "mcp", "console", "system"]
EVENT = {"type": "object", "required": ["at", "action", "actor", "changes", "reason"], "properties": {
    "at": {"type": "string", "format": "date-time"}, "action": {"enum": EVENT_ACTIONS},
    "actor": {"type": "object", "required": ["kind", "id"], "properties": {
        "kind": {"enum": ACTOR_KINDS},
        "id": {"type": "string", "description": "A non-secret fingerprint of the token (the same token, the same "
               "id; `local` with security off), the run id (callback), or breaker, maxRuns, endAt (system)."}}},
    "changes": {"type": "object", "description": "{field: [old, new]}; a value over 1 KiB of JSON is "
                "{\"truncated\": true, \"bytes\": n}.",
                "additionalProperties": {"type": "array", "minItems": 2, "maxItems": 2}},
    "reason": {"type": ["string", "null"]}}}


# A job answer links to the operations on that job (clients and stateful fuzzers follow them).
JOB_LINKS = {name: {"operationId": operation, "parameters": {"job_id": "$response.body#/id"}}
             for name, operation in [("GetJob", "getJob"), ("UpdateJob", "updateJob"), ("DeleteJob", "deleteJob"),
                                     ("RunJob", "runJob"), ("ListRuns", "listRuns"), ("ListEvents", "listEvents")]}

# A run answer (POST /api/jobs/{id}/run) links to the operations on that run.
RUN_LINKS = {name: {"operationId": operation, "parameters": {"run_id": "$response.body#/id"}}
             for name, operation in [("GetRun", "getRun"), ("HeartbeatRun", "heartbeatRun"),
                                     ("CompleteRun", "completeRun"), ("CancelRun", "cancelRun"),
                                     ("ReplayRun", "replayRun")]}


def _linked(answer: dict[str, Any], links: dict[str, Any] = JOB_LINKS) -> dict[str, Any]:
    """``answer`` (one status -> response) with ``links`` (the job links unless told) added."""
    ((status, response),) = answer.items()
    return {status: {**response, "links": links}}


def _ok(status: str, description: str, schema: dict[str, Any] | None, **headers: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description}
    if schema is not None:
        answer["content"] = _json_content(schema)
    if headers:
        answer["headers"] = headers
    return {status: answer}


def _paths() -> dict[str, Any]:
    jobs_list = {"type": "array", "items": _ref("Job")}
    filters = [{"name": "status", "in": "query", "schema": {"enum": list(JOB_STATUSES)}},
               {"name": "agentId", "in": "query", "schema": {"type": "string", "format": "uuid"}}]
    location = {"description": "URL of the new job", "schema": {"type": "string"}}
    return {
        "/api/health": {"get": {"operationId": "health", "security": [],
                                "responses": _ok("200", "Alive", {"type": "object"})}},
        "/api/openapi.json": {"get": {"operationId": "openapi",
                                      "responses": {**_ok("200", "This document", {"type": "object"}), **ERRORS}}},
        "/api/jobs": {
            "post": {"operationId": "createJob", "parameters": [IDEMPOTENCY_KEY],
                     "requestBody": {"required": True, "content": _json_content(_ref("JobCreate"))},
                     "responses": {**_linked(_ok("201", "Created", _ref("Job"), Location=location)),
                                   **ERRORS, **REFUSED,
                                   "409": _error("Another job has this name, or " + REUSED_KEY)}},
            "get": {"operationId": "listJobs", "parameters": filters + PAGING,
                    "responses": {**_ok("200", "A page of jobs", jobs_list, **LINK), **ERRORS}},
        },
        "/api/jobs/by-name/{name}": {"parameters": [JOB_NAME], "put": DECLARE_OPERATION, "get": {
            "operationId": "getJobByName",
            "responses": {**_linked(_ok("200", "The job of this name", _ref("Job"))), **ERRORS,
                          "404": _error("No job has this name.")}}},
        "/api/agents": {"get": {"operationId": "listAgents", "responses": {
            **_ok("200", "Every configured agent and every agent with jobs (a scoped token's own)",
                  {"type": "array", "items": AGENT}), **ERRORS}}},
        "/api/agents/{agent_id}": {"parameters": [AGENT_ID], "get": {"operationId": "getAgent", "responses": {
            **_ok("200", "The agent", AGENT), **ERRORS,
            "404": _error("No agent has this id (none configured, no job names it), or another agent's.")}}},
        "/api/jobs/{job_id}": {
            "parameters": [JOB_ID],
            "get": {"operationId": "getJob",
                    "responses": {**_ok("200", "The job", _ref("Job")), **ERRORS, **NOT_FOUND}},
            "patch": {"operationId": "updateJob",
                      "requestBody": {"required": True, "content": _json_content(_ref("JobPatch"))},
                      "responses": {**_linked(_ok("200", "The changed job", _ref("Job"))), **ERRORS, **NOT_FOUND,
                                    **REFUSED,
                                    "409": _error("Another job has this name, or the job changed meanwhile.")}},
            "delete": {"operationId": "deleteJob", "responses": {**_ok("204", "Deleted", None), **ERRORS, **NOT_FOUND}},
        },
        "/api/jobs/{job_id}/run": {"parameters": [JOB_ID, IDEMPOTENCY_KEY], "post": {
            "operationId": "runJob", "requestBody": {"required": False, "content": _json_content(_ref("RunNow"))},
            "responses": {**_linked(_ok("202", "Queued", _ref("Run")), RUN_LINKS), **ERRORS, **NOT_FOUND,
                          "409": _error("A run is in progress (overlap: skip), or " + REUSED_KEY)}}},
        "/api/jobs/{job_id}/runs": {"parameters": [JOB_ID], "get": {
            "operationId": "listRuns", "parameters": PAGING,
            "responses": {**_ok("200", "Runs, newest first", {"type": "array", "items": _ref("Run")}, **LINK),
                          **ERRORS, **NOT_FOUND}}},
        "/api/jobs/{job_id}/events": {"parameters": [JOB_ID], "get": {
            "operationId": "listEvents", "parameters": PAGING,
            "description": "The job's history, newest first: every change and system action. A deleted job's "
                           "history stays readable for 30 days.",
            "responses": {**_ok("200", "Events, newest first", {"type": "array", "items": EVENT}, **LINK),
                          **ERRORS, "404": _error("No job has this id, nor had it in the last 30 days.")}}},
        "/api/mcp": {"post": MCP_OPERATION},
        "/api/schedules/preview": {"post": {
            "operationId": "previewSchedule",
            "requestBody": {"required": True, "content": _json_content(_ref("SchedulePreview"))},
            "responses": {**_ok("200", "The next start times of a job with this timing, created now",
                                PREVIEW_ANSWER), **ERRORS}}},
        **_run_paths(),
    }


DECLARE_OPERATION = {
    "operationId": "declareJob", "description": "Create the job named so, or make it match the body: every settable "
    "field takes the body's value or its default; status is kept unless set. Nothing is written when nothing differs.",
    "requestBody": {"required": True, "content": _json_content(_ref("JobDeclare"))},
    "responses": {**_linked(_ok("201", "Created", _ref("Job"), Location={"description": "URL of the new job",
                                                                        "schema": {"type": "string"}})),
                  **_linked(_ok("200", "The job, as declared", _ref("Job"))), **ERRORS, **REFUSED,
                  "409": _error("A job of another agent has this name, or the job changed meanwhile.")}}
RUN_ID = {"name": "run_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": ID_MAX_LENGTH}}
RUN_NOT_FOUND = {"404": _error("No run has this id.")}
RUN_FILTERS = [
    {"name": "status", "in": "query", "schema": {"type": "string", "enum": [s.value for s in RunStatus]}},
    {"name": "trigger", "in": "query", "schema": {"type": "string", "enum": [t.value for t in Trigger]}},
    {"name": "agentId", "in": "query", "schema": {"type": "string", "format": "uuid"}},
    {"name": "jobId", "in": "query", "schema": {"type": "string", "pattern": JOB_ID_PATTERN}},
    {"name": "since", "in": "query", "description": "Only runs scheduled at or after this instant.",
     "schema": {"type": "string", "format": "date-time"}},
]
ENDED = {"409": _error("The attempt (or run) this request addresses has already ended.")}


def _run_paths() -> dict[str, Any]:
    run = _ref("Run")
    report = "Bearer: an API token, or the attempt's callbackToken from its delivery."
    return {
        "/api/runs": {"get": {
            "operationId": "listAllRuns", "parameters": RUN_FILTERS + PAGING,
            "description": "Runs across jobs, newest first; each page reads about its own size, so a page "
                           "filtered by status, trigger or agentId may hold fewer than limit runs and still link "
                           "to the next. A scoped token lists only its agents' runs.",
            "responses": {**_ok("200", "Runs, newest first", {"type": "array", "items": run}, **LINK), **ERRORS}}},
        "/api/runs/{run_id}": {"parameters": [RUN_ID], "get": {
            "operationId": "getRun", "responses": {**_ok("200", "The run", run), **ERRORS, **RUN_NOT_FOUND}}},
        "/api/runs/{run_id}/heartbeat": {"parameters": [RUN_ID], "post": {
            "operationId": "heartbeatRun", "description": report,
            "requestBody": {"required": False, "content": _json_content(_ref("HeartbeatBody"))},
            "responses": {**_ok("200", "The run (see cancelRequested)", run), **ERRORS, **RUN_NOT_FOUND, **ENDED}}},
        "/api/runs/{run_id}/complete": {"parameters": [RUN_ID], "post": {
            "operationId": "completeRun", "description": report,
            "requestBody": {"required": True, "content": _json_content(_ref("CompleteBody"))},
            "responses": {**_ok("200", "The run", run), **ERRORS, **RUN_NOT_FOUND, **ENDED}}},
        "/api/runs/{run_id}/replay": {"parameters": [RUN_ID, IDEMPOTENCY_KEY], "post": {
            "operationId": "replayRun", "description": "A new run of the run's job (trigger replay, replayOf), "
            "delivered the payload the run was delivered; overlap, budgets and agent limits apply as to a run now.",
            "responses": {**_linked(_ok("202", "Queued", run), RUN_LINKS), **ERRORS, **RUN_NOT_FOUND,
                          "409": _error("A run is in progress (overlap: skip), or " + REUSED_KEY)}}},
        "/api/runs/{run_id}/cancel": {"parameters": [RUN_ID], "post": {
            "operationId": "cancelRun",
            "responses": {**_ok("202", "The run: cancelled, or cancelRequested", run), **ERRORS, **RUN_NOT_FOUND,
                          **ENDED}}},
    }


def _string_branch(prop: dict[str, Any]) -> dict[str, Any]:
    """The string schema of a property (itself, or its non-null ``anyOf`` branch)."""
    return next((b for b in prop.get("anyOf", []) if b.get("type") != "null"), prop)


def _configured(schemas: dict[str, Any], min_interval_ms: int, max_payload_bytes: int) -> None:
    # Limits that come from agentos.config.json, not from the models, and the IANA zone names.
    schemas["Timezone"] = {"type": "string", "enum": _timezones(), "description": "IANA timezone name."}
    for model in ("JobCreate", "JobPatch", "JobDeclare", "SchedulePreview"):
        props = schemas[model]["properties"]
        _string_branch(props["interval"])["minimum"] = min_interval_ms
        zone = props["timezone"]
        props["timezone"] = {"$ref": REF.format(model="Timezone"),
                             **{k: zone[k] for k in ("default", "description") if k in zone}}
        if "payload" in props:
            props["payload"]["description"] += (f" At most {max_payload_bytes} bytes as JSON,"
                                                f" nested at most {MAX_DEPTH} deep.")


@lru_cache(maxsize=1)
def _timezones() -> list[str]:
    """Every zone name the validation accepts, from the same check."""
    from zoneinfo import available_timezones

    from ..errors import InvalidSchedule
    from ..schedules import validate_timezone

    def accepted(name: str) -> bool:
        try:
            validate_timezone(name)
        except InvalidSchedule:
            return False
        return True

    return sorted(name for name in available_timezones() if accepted(name))


def _drop_null_defaults(schema: dict[str, Any]) -> None:
    # A PATCH field that is absent stays unchanged: pydantic's "default": null is no default
    # there, and is invalid for the non-nullable ones (name, agentId, timezone, payload, status).
    for prop in schema.get("properties", {}).values():
        if prop.get("default", ...) is None:
            del prop["default"]


DEFAULT_SERVER = "http://localhost:3000"


def openapi_document(server: str = DEFAULT_SERVER) -> dict[str, Any]:
    """The whole OpenAPI document, for the running configuration's limits, naming ``server``
    (the origin it was asked on: another port, or a deployed stage's base URL)."""
    from .. import runtime

    limits = runtime.config().limits
    return {**_document(limits.minIntervalMs, limits.maxPayloadBytes), "servers": [{"url": server}]}


@lru_cache(maxsize=4)
def _document(min_interval_ms: int, max_payload_bytes: int) -> dict[str, Any]:
    """The document for these limits (built once per pair)."""
    from pydantic import BaseModel
    from pydantic.json_schema import JsonSchemaMode, models_json_schema  # deferred: only this route needs them

    from .answers import Error, Job, Run
    from .preview import SchedulePreview
    from .schemas import CompleteBody, HeartbeatBody, JobCreate, JobDeclare, JobPatch, RunNow

    modes: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (m, "validation") for m in (JobCreate, JobPatch, JobDeclare, RunNow, HeartbeatBody, CompleteBody,
                                    SchedulePreview)]
    modes += [(Job, "serialization"), (Run, "serialization"), (Error, "serialization")]
    _, defs = models_json_schema(modes, ref_template=REF)
    schemas = defs["$defs"]
    for model in ("JobPatch", "JobDeclare", "RunNow"):
        _drop_null_defaults(schemas[model])
    # A declaration may repeat its name only as the path's: no schema can say "equal to the path",
    # so the document leaves it out (generated bodies would name another job and be refused).
    del schemas["JobDeclare"]["properties"]["name"]
    _configured(schemas, min_interval_ms, max_payload_bytes)
    return {
        "openapi": "3.1.0",
        "info": {"title": "agentOS Jobs API", "version": "1.0.0",
                 "description": "Schedule, manage and monitor background jobs for AI agents."},
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": _paths(),
    }
