"""Contract section 13, runs: ``attempts`` on every run, no record for dropped occurrences,
one record per streak of skips, the job's ``skipped`` totals and ``blocked`` (on moto)."""
from __future__ import annotations

from typing import Any

from chalicelib import runtime
from chalicelib.store.models import RunModel
from conftest import NO_JITTER, call, create_job, delivery, drive, report


def runs_of(job_id: str) -> list[RunModel]:
    """Every stored run of a job (oldest first)."""
    return list(runtime.run_store().all(job_id))


def shown(stack: dict[str, Any], run_id: str) -> dict[str, Any]:
    """The API's view of a run."""
    answer = call(stack["client"], "GET", f"/api/runs/{run_id}")
    assert answer.status_code == 200
    return dict(answer.json_body)


def test_a_retried_run_keeps_every_attempt_with_its_error(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(503, 502, 200)
    job = create_job(stack, name="retried", retryPolicy=NO_JITTER)
    drive(stack, 15)
    (run,) = runs_of(job["id"])
    view = shown(stack, run.id)
    assert view["status"] == "succeeded" and view["attempt"] == 3
    attempts = view["attempts"]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert [a["status"] for a in attempts] == ["failed", "failed", "succeeded"]
    assert "503" in attempts[0]["error"] and "502" in attempts[1]["error"] and attempts[2]["error"] is None
    for entry in attempts:
        assert entry["startedAt"] <= entry["finishedAt"] and entry["durationMs"] >= 0
    assert attempts[0]["finishedAt"] <= attempts[1]["startedAt"]


def test_a_timed_out_attempt_says_so_and_a_running_one_shows_running(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(202)
    job = create_job(stack, name="silent", timeoutMs=5_000, retryPolicy={**NO_JITTER, "initialDelayMs": 60_000})
    drive(stack, 6)
    (run,) = runs_of(job["id"])
    assert [a["status"] for a in shown(stack, run.id)["attempts"]] == ["running"]
    drive(stack, 10)
    first = shown(stack, run.id)["attempts"][0]
    assert first["status"] == "failed" and "timed out" in first["error"] and first["durationMs"] >= 5_000


def test_a_reported_outcome_and_a_cancel_end_their_attempt(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(202)
    create_job(stack, name="reported", retryPolicy={**NO_JITTER, "initialDelayMs": 1_000})
    drive(stack, 6)
    token = delivery(stack)["callbackToken"]
    assert report(stack, "complete", {"status": "failed", "error": "bad input"}, token).status_code == 200
    drive(stack, 3)
    token = delivery(stack)["callbackToken"]
    run_id = delivery(stack)["runId"]
    assert call(stack["client"], "POST", f"/api/runs/{run_id}/cancel").status_code == 202
    assert report(stack, "complete", {"status": "succeeded"}, token).status_code == 200
    view = shown(stack, run_id)
    assert view["status"] == "cancelled"
    assert [(a["status"], a["error"]) for a in view["attempts"]] == [("failed", "bad input"), ("cancelled", None)] \
        or [a["status"] for a in view["attempts"]] == ["failed", "cancelled"]
    assert view["attempts"][0]["error"] == "bad input"


def test_an_attempt_error_is_capped(stack: dict[str, Any]) -> None:
    stack["agent"].respond_with(202)
    create_job(stack, name="long-error", retryPolicy=None)
    drive(stack, 6)
    token = delivery(stack)["callbackToken"]
    answer = report(stack, "complete", {"status": "failed", "error": "x" * 1500, "retryable": False}, token)
    assert answer.status_code == 200, answer.json_body
    view = shown(stack, delivery(stack)["runId"])
    assert len(view["attempts"][0]["error"]) == 1000 and len(view["error"]) > 1000
