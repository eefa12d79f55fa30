"""Scoped tokens (guard rails): a token limited to some agents sees only their jobs and runs.

``AGENTOS_API_TOKENS`` entries ``<token>:<agentId>[|<agentId>...]`` (chalicelib/api/auth.py) carry a
scope. A job or run of another agent answers 404, as if it did not exist (a scoped token cannot
even learn that it exists); creating a job for another agent, or moving one there, answers 403.
An unscoped token (``None``) sees everything, and costs nothing here.
"""
from __future__ import annotations

import uuid
from typing import Any

from .. import runtime
from ..errors import Forbidden, JobNotFound, RunNotFound
from .auth import Scope


def _agent_of(job_id: str) -> str | None:
    job = runtime.job_store().find(job_id) if job_id.startswith("job-") else None
    return job.agentId if job is not None else None


def check_job(scope: Scope, job_id: str) -> None:
    """404 unless the token may see job ``job_id``."""
    if scope is not None and _agent_of(job_id) not in scope:
        raise JobNotFound(job_id)


def check_run(scope: Scope, run_id: str) -> None:
    """404 unless the token may see run ``run_id`` (through its job's agent)."""
    if scope is None:
        return
    from ..store.runs import job_of_run  # PynamoDB: loaded by the routes that need it, not with the routes

    job_id = job_of_run(run_id)
    if scope is not None and (job_id is None or _agent_of(job_id) not in scope):
        raise RunNotFound(run_id)


def check_agent(scope: Scope, body: object) -> None:
    """403 if a create or PATCH body names an agent outside the token's scope."""
    agent = body.get("agentId") if isinstance(body, dict) else None
    if scope is None or not isinstance(agent, str):
        return
    try:
        canonical = str(uuid.UUID(agent))
    except ValueError:
        return  # not a UUID: the validation answers 400 naming agentId
    if canonical not in scope:
        raise Forbidden(f"agentId: this token may not act for agent {canonical}", "agentId")


def list_filter(scope: Scope, agent: str | None) -> tuple[str | None, bool]:
    """The agentId a scoped list reads (the token's only agent if it has one), and whether the
    list is empty by scope (a filter on a foreign agent)."""
    if scope is None:
        return agent, False
    if agent is not None:
        return agent, agent not in scope
    return (next(iter(scope)), False) if len(scope) == 1 else (None, False)


def visible(scope: Scope, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only the jobs of the token's agents: a guard, since the list already reads only their ranges
    (``listing.JobLister``), so its pages and cursors hold nothing of another agent's."""
    return jobs if scope is None else [job for job in jobs if job["agentId"] in scope]
