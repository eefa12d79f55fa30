"""scripts/backfill_attempts.py: runs recorded before attempts existed get an empty map (DynamoDB
refuses ``SET attempts.<n>`` on an item without it; moto is lenient, so the refusal itself is not
reproduced here: docs/operations.md, "Upgrading: runs in progress")."""
from __future__ import annotations

from typing import Any

from chalicelib.store.models import RunModel
from conftest import NO_JITTER, create_job, drive
from scripts.backfill_attempts import main


def test_old_runs_get_their_map_once_and_nothing_else_is_written(stack: dict[str, Any]) -> None:
    # Given a run waiting for its retry and a finished one, recorded as before attempts (no map)
    stack["agent"].respond_with(503, 200)
    waiting = create_job(stack, name="upgraded", retryPolicy=NO_JITTER)
    done = create_job(stack, name="finished", schedule="2030-01-01T00:00:06Z")
    drive(stack, 8)
    runs = [r for job in (waiting, done) for r in RunModel.query(job["id"])]
    for run in runs:
        run.update(actions=[RunModel.attempts.remove()])
    # When the backfill runs (a dry run first: it writes nothing)
    assert main(["--table", stack["runs_table"], "--dry-run"]).written == 2
    assert all(RunModel.get(r.jobId, r.id).attempts is None for r in runs)
    first = main(["--table", stack["runs_table"], "--page-size", "1"])
    # Then each run has a map again (empty), a second pass writes nothing, and other items are left
    assert first.written == 2 and main(["--table", stack["runs_table"]]).written == 0
    assert all(RunModel.get(r.jobId, r.id).attempts is not None for r in runs)
    drive(stack, 5)  # and the waiting run's retry still runs once
    assert [r.status for r in RunModel.query(waiting["id"])] == ["succeeded"]
