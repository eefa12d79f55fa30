"""The Python job manager, for plugins written in Python (README, "Agents: how an occurrence is
delivered", point 3).

A plugin creates its jobs in code, for example::

    from chalicelib.engine.actions import callback
    from chalicelib.api.manager import JobManager

    @callback
    def reflect(ctx):
        print("agentOS is reflecting on recent interactions...")

    job = JobManager().create_job(name="AutonomousReflexion", interval=3_600_000, callback=reflect)

A callback is stored by reference to a function registered with ``@callback``: the
executor Lambda imports the same plugin code and looks the reference up; nothing
from API input is ever imported or executed.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from .. import runtime
from ..engine.actions import callback_name

# Callback jobs run in-process and need no agent; they still carry an agent id so
# that they look like every other job in the API and the console.
LOCAL_AGENT_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "agentos-jobs:local"))


class JobManager:
    """Create, read, change, delete and run jobs from Python (same rules as the HTTP API)."""

    def create_job(self, *, name: str, agent_id: str | None = None, interval: int | None = None,
                   schedule: str | None = None, payload: dict[str, Any] | None = None,
                   callback: Callable[..., Any] | None = None, description: str | None = None,
                   timezone: str = "UTC", retry_policy: dict[str, Any] | None = None) -> dict[str, Any]:
        """Create a job; ``callback`` must be decorated with ``@callback``."""
        body: dict[str, Any] = {"name": name, "agentId": agent_id or LOCAL_AGENT_ID, "payload": payload or {},
                                "timezone": timezone}
        optional = {"interval": interval, "schedule": schedule, "description": description,
                    "retryPolicy": retry_policy}
        body.update({k: v for k, v in optional.items() if v is not None})
        reference = callback_name(callback) if callback is not None else None
        return runtime.jobs().create(body, callback=reference)

    def get_job(self, job_id: str) -> dict[str, Any]:
        """One job (raises JobNotFound)."""
        return runtime.jobs().get(job_id)

    def list_jobs(self, status: str | None = None, agent_id: str | None = None) -> list[dict[str, Any]]:
        """Every job matching the filters (all pages)."""
        jobs, cursor = runtime.jobs().list(status, agent_id, 1000, None)
        while cursor:
            page, cursor = runtime.jobs().list(status, agent_id, 1000, cursor)
            jobs += page
        return jobs

    def update_job(self, job_id: str, **changes: Any) -> dict[str, Any]:
        """Change fields with the API's names (``schedule=``, ``interval=``, ``status="paused"``…)."""
        return runtime.jobs().update(job_id, changes)

    def delete_job(self, job_id: str) -> None:
        """Delete a job; nothing of it starts afterwards."""
        runtime.jobs().delete(job_id)

    def run_job(self, job_id: str) -> dict[str, Any]:
        """Run a job now; returns the queued run."""
        return runtime.jobs().run_now(job_id)

    def runs(self, job_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The newest runs of a job."""
        return runtime.jobs().runs_of(job_id, limit, None)[0]
