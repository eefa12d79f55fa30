"""The agents routes' service (contract section 13, "Agents"): every configured agent and every
agent that has jobs, with its limits, what it is doing now and what it used today.

Never a URL's path, a secret or a token: only ``urlHost`` (host and port). A scoped token sees
its own agents only; another agent answers 404, as a job of another agent does.
Cost: finding the agents is O(agents) queries (:class:`~chalicelib.store.agents.AgentDirectory`);
each agent shown reads its jobs (list index + BatchGetItem) and, when limited, its item.
"""
from __future__ import annotations

import builtins
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from ..clock import now_ms
from ..config import AgentEndpoint, Config, Quota
from ..errors import AgentNotFound
from ..store.agents import AgentDirectory
from ..store.budgets import usage_today
from ..store.models import AgentModel, JobModel
from .auth import Scope


def url_host(url: str | None) -> str | None:
    """The host and port of an agent URL (``agent.example:8443``); never its path or query."""
    if url is None:
        return None
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname


def canonical_id(agent_id: str) -> str | None:
    """The lower-case UUID form of an agent id, or None when it is not one."""
    try:
        return str(uuid.UUID(agent_id)) if len(agent_id) == 36 else None
    except ValueError:
        return None


class AgentService:
    """Reads agents: configuration, jobs and limits state."""

    def __init__(self, config: Config, directory: AgentDirectory) -> None:
        self.config = config
        self.directory = directory

    def list(self, scope: Scope) -> list[dict[str, Any]]:
        """Every agent the token may see, by id."""
        known = set(self.config.agents) | self.directory.ids_with_jobs()
        visible = sorted(a for a in known if scope is None or a in scope)
        return [self._view(agent_id, self.directory.jobs_of(agent_id)) for agent_id in visible]

    def get(self, agent_id: str, scope: Scope) -> dict[str, Any]:
        """One agent; 404 when it is unknown or outside the token's scope."""
        canonical = canonical_id(agent_id)
        if canonical is None or (scope is not None and canonical not in scope):
            raise AgentNotFound(agent_id)
        jobs = self.directory.jobs_of(canonical)
        if not jobs and self.config.agent(canonical) is None:
            raise AgentNotFound(agent_id)
        return self._view(canonical, jobs)

    def _view(self, agent_id: str, jobs: builtins.list[JobModel]) -> dict[str, Any]:
        endpoint = self.config.agent(agent_id)
        limits = endpoint or AgentEndpoint()
        item = self.directory.item(agent_id) if limits.limited else None
        now = now_ms()
        return {
            "id": agent_id,
            "configured": endpoint is not None,
            "urlHost": url_host(limits.url),
            "maxConcurrent": limits.maxConcurrent,
            "running": _running(item, jobs, now),
            "queued": int(item.queued or 0) if item is not None else 0,
            "budget": limits.budget.limits() if limits.budget is not None else None,
            "usageToday": _usage_today(limits, item, jobs, now),
            "quota": (limits.quota if endpoint is not None else Quota())._asdict(),
            "jobs": len(jobs),
        }


def _running(item: AgentModel | None, jobs: list[JobModel], now: int) -> int:
    """Runs holding the agent's slots (a slot-limited agent), else its jobs' runs in progress
    (each job's overlap slot: an ``allow`` job's extra runs are not counted)."""
    if item is not None and item.holders is not None:
        return sum(1 for lease in item.holders.attribute_values.values() if int(lease) >= now)
    return sum(1 for job in jobs if job.activeRun is not None and int(job.activeUntil or 0) >= now)


def _usage_today(limits: AgentEndpoint, item: AgentModel | None, jobs: list[JobModel], now: int) -> dict[str, Any]:
    """What counts against the agent's budget today (UTC), when it has one; otherwise the sum of
    its jobs' ``usageToday`` (each in its job's timezone)."""
    today = datetime.fromtimestamp(now / 1000, UTC).strftime("%Y-%m-%d")
    if limits.budget is not None and item is not None:
        counted = item.usageDay == today
        return {"costUsd": round(float(item.usedCost or 0) if counted else 0.0, 6),
                "tokens": int(item.usedTokens or 0) if counted else 0}
    each = [usage_today(job, now) for job in jobs]
    return {"costUsd": round(sum(u["costUsd"] for u in each), 6), "tokens": sum(u["tokens"] for u in each)}
