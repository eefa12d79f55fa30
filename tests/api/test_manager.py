"""The Python job manager (README, "Agents: how an occurrence is delivered", point 3) and callbacks by reference."""
from __future__ import annotations

from typing import Any

import pytest

from chalicelib.api.manager import LOCAL_AGENT_ID, JobManager
from chalicelib.engine.actions import callback
from chalicelib.errors import DuplicateName, JobNotFound, ValidationFailed
from conftest import pump

REFLECTIONS: list[tuple[str, int]] = []


@callback
def reflect(ctx: Any) -> str:
    """A plugin's callback: it learns which run it is."""
    REFLECTIONS.append((ctx.run_id, ctx.attempt))
    return "reflected"


def unregistered() -> None:
    """Not decorated: cannot be stored on a job."""


def test_callback_job_runs_its_registered_function(engine: dict[str, Any]) -> None:
    # Given a job created like the spec's TypeScript example
    REFLECTIONS.clear()
    manager = JobManager()
    job = manager.create_job(name="AutonomousReflexion", interval=3_600_000, callback=reflect)
    assert job["agentId"] == LOCAL_AGENT_ID and job["interval"] == 3_600_000
    # When its first occurrence comes
    engine["clock"].advance(3_600)
    from chalicelib import runtime
    from chalicelib.clock import now_ms

    runtime.dispatcher().tick(now_ms())
    pump(engine["queue_url"])
    # Then the callback ran once, and the job shows it
    assert [attempt for _, attempt in REFLECTIONS] == [1]
    assert manager.get_job(job["id"])["runCount"] == 1
    assert manager.runs(job["id"])[0]["status"] == "succeeded"


def test_manager_crud_mirrors_the_api(engine: dict[str, Any]) -> None:
    manager = JobManager()
    job = manager.create_job(name="m1", schedule="0 9 * * *", payload={"action": "RECORD"})
    with pytest.raises(DuplicateName):
        manager.create_job(name="m1", interval=5_000)
    assert manager.update_job(job["id"], status="paused")["status"] == "paused"
    assert [j["id"] for j in manager.list_jobs(status="paused")] == [job["id"]]
    run = manager.run_job(job["id"])
    assert run["trigger"] == "manual"
    manager.delete_job(job["id"])
    with pytest.raises(JobNotFound):
        manager.get_job(job["id"])


def test_only_registered_callbacks_can_be_stored(engine: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        JobManager().create_job(name="bad", interval=5_000, callback=unregistered)
    with pytest.raises(ValidationFailed):
        JobManager().create_job(name="bad", interval=5)
    assert JobManager().list_jobs() == []
