"""The one exception tree of agentOS Jobs.

Every error a caller can see is a :class:`JobsError`; the HTTP layer turns it into
Chalice's own error shape ``{"Code": ..., "Message": ...}`` with ``status``.
AWS errors are translated where they are raised (``raise JobNotFound(id) from exc``).
"""
from __future__ import annotations


class JobsError(Exception):
    """Root of every agentOS Jobs error."""

    status: int = 500
    code: str = "InternalError"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_body(self) -> dict[str, str]:
        """The error as Chalice's JSON error body."""
        return {"Code": self.code, "Message": self.message}


class ValidationFailed(JobsError):
    """A request field is missing or invalid (400)."""

    status = 400
    code = "BadRequestError"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason, field)


class InvalidSchedule(ValidationFailed):
    """A cron expression, ISO date, interval or timezone cannot be used."""


class PayloadTooLarge(JobsError):
    """The request or its payload is over ``limits.maxPayloadBytes`` (413)."""

    status = 413
    code = "RequestEntityTooLargeError"


class Unauthorized(JobsError):
    """Security is enabled and the bearer token is missing or wrong (401)."""

    status = 401
    code = "UnauthorizedError"


class Forbidden(JobsError):
    """The token may not act for this agent (403)."""

    status = 403
    code = "ForbiddenError"


class QuotaExceeded(JobsError):
    """A create, PUT or PATCH would take its agent past a quota (403); the message names the
    quota, its limit and the value the request would reach."""

    status = 403
    code = "QuotaExceededError"

    def __init__(self, quota: str, limit: int, value: int) -> None:
        super().__init__(f"quota {quota}: the limit is {limit}, this request would reach {value}", quota)
        self.quota, self.limit, self.value = quota, limit, value


class JobNotFound(JobsError):
    """No job has this id (404)."""

    status = 404
    code = "NotFoundError"

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id!r} not found", "id")
        self.job_id = job_id


class AgentNotFound(JobsError):
    """No agent has this id: none configured, and no job names it (404)."""

    status = 404
    code = "NotFoundError"

    def __init__(self, agent_id: str) -> None:
        super().__init__(f"agent {agent_id!r} not found", "agentId")
        self.agent_id = agent_id


class RunNotFound(JobsError):
    """No run has this id (404)."""

    status = 404
    code = "NotFoundError"

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id!r} not found", "runId")
        self.run_id = run_id


class RunConflict(JobsError):
    """The run or attempt a request addresses has already ended, or is busy (409)."""

    status = 409
    code = "ConflictError"


class DuplicateName(JobsError):
    """Another job already has this name (409)."""

    status = 409
    code = "ConflictError"

    def __init__(self, name: str) -> None:
        super().__init__(f"name: a job named {name!r} already exists", "name")


class ConcurrentUpdate(JobsError):
    """The job changed between read and write; the caller may retry (409)."""

    status = 409
    code = "ConflictError"


class ConfigError(JobsError):
    """``agentos.config.json`` is invalid; start-up stops naming the key."""


class StoreUnavailable(JobsError):
    """DynamoDB or SQS failed in a way the caller may retry (503)."""

    status = 503
    code = "ServiceUnavailableError"


class DeliveryFailed(JobsError):
    """An attempt to hand an occurrence to its agent failed."""

    def __init__(self, message: str, retryable: bool, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class UnknownAction(DeliveryFailed):
    """No agent URL is configured and no in-process action has this name."""

    def __init__(self, action: object) -> None:
        super().__init__(f"no agent URL configured and no registered action {action!r}", False)


class NameOfAnotherAgent(JobsError):
    """A declaration (``PUT /api/jobs/by-name/{name}``) names a job of another agent (409)."""

    status = 409
    code = "ConflictError"

    def __init__(self, name: str) -> None:
        super().__init__(f"name: the job named {name!r} belongs to another agent", "name")


class IdempotencyConflict(JobsError):
    """An ``Idempotency-Key`` was used for another request, or its first request is still
    running (409)."""

    status = 409
    code = "ConflictError"

    def __init__(self, reason: str) -> None:
        super().__init__(f"Idempotency-Key: {reason}", "Idempotency-Key")
