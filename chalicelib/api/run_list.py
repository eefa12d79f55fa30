"""``GET /api/runs``: runs across jobs, newest first, filtered and paged (contract section 13).

The reading is :mod:`chalicelib.store.run_index`'s (each page reads about its own size); this
module parses the query and applies the token's scope: a scoped token sees only its agents' runs
(``agentId`` outside its scope lists nothing, as an unknown agent would).
"""
from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from .. import runtime
from ..clock import now_ms, to_ms
from ..errors import ValidationFailed
from ..store.models import JobModel, RunModel, RunStatus, Trigger
from ..store.run_index import RunFilter, RunIndex
from ..vocab import JOB_ID_PATTERN
from .auth import Scope
from .views import run_view
from .web import check_query, query_limit

QUERY = ("status", "agentId", "jobId", "trigger", "since", "limit", "cursor")
JOB_ID = re.compile(JOB_ID_PATTERN)


def _one_of(params: dict[str, str], name: str, allowed: Iterable[str]) -> str | None:
    value = params.get(name)
    if value is not None and value not in set(allowed):
        raise ValidationFailed(name, f"must be one of {', '.join(sorted(allowed))}")
    return value


def _since(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed("since", "must be an ISO-8601 date-time, such as 2030-01-01T00:00:00Z") from None
    if moment.tzinfo is None:
        raise ValidationFailed("since", "must have an offset or end in Z")
    return to_ms(moment)


def _agents(params: dict[str, str], scope: Scope) -> frozenset[str] | None:
    agent = params.get("agentId")
    if agent is not None:
        try:
            uuid.UUID(agent)
        except ValueError:
            raise ValidationFailed("agentId", "must be a UUID") from None
        return frozenset({agent}) & scope if scope is not None else frozenset({agent})
    return scope


def agents_of(job_ids: Iterable[str]) -> dict[str, str | None]:
    """The agent of each job (one BatchGetItem per 100; a deleted job's runs have none)."""
    wanted = [j for j in set(job_ids) if j.startswith("job-")]
    found = {job.id: job.agentId for job in JobModel.batch_get(wanted, attributes_to_get=["id", "agentId"])} \
        if wanted else {}
    return {j: found.get(j) for j in job_ids}


def parse(params: dict[str, str], scope: Scope) -> RunFilter:
    """The filter a query asks for, within the token's scope (400 on a bad parameter)."""
    check_query(params, QUERY)
    if "jobId" in params and not JOB_ID.match(params["jobId"]):
        raise ValidationFailed("jobId", "must be a job id (job-…)")
    return RunFilter(status=_one_of(params, "status", [s.value for s in RunStatus]),
                     trigger=_one_of(params, "trigger", [t.value for t in Trigger]),
                     job_id=params.get("jobId"), since_ms=_since(params.get("since")),
                     agent_of=agents_of, agents=_agents(params, scope))


def list_runs(params: dict[str, str], scope: Scope) -> tuple[list[dict[str, Any]], str | None]:
    """One page of runs across jobs (newest first) and the next page's cursor."""
    wanted = parse(params, scope)
    index = RunIndex(ttl_days=runtime.run_store().ttl_days)
    runs, cursor = index.page(wanted, query_limit(params), params.get("cursor"), now_ms())
    streaks = {job.id: job for job in _streak_jobs(runs)}
    return [run_view(r, streaks.get(r.jobId)) for r in runs], cursor


def _streak_jobs(runs: list[RunModel]) -> list[JobModel]:
    """The jobs of the page's streaks of skips (one BatchGetItem, only when the page has some)."""
    wanted = {r.jobId for r in runs if r.skipReason}
    return list(JobModel.batch_get(wanted)) if wanted else []
