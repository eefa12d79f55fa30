"""The reconciler (chalicelib/engine/reconcile.py): nothing depends on one message, on moto.

Each test loses every message of a run (the queue purged, as a crash, a lost send or a stack
restart could leave it), then shows the minute tick's pass puts the run back on its way, at
O(overdue) cost.
"""
from __future__ import annotations

from typing import Any

import boto3

from chalicelib import handlers, runtime
from chalicelib.clock import now_ms
from chalicelib.engine.reconcile import GRACE_MS
from chalicelib.store.models import AgentModel, JobModel, RunModel, Trigger, agent_item_id
from chalicelib.store.runs import Occurrence
from conftest import AGENT_ID, NO_JITTER, call, create_job, delivery, drive

SECOND = 1000


def lose_every_message(stack: dict[str, Any]) -> None:
    """Every message in the queue is gone (a crash, a lost send, a restart without a snapshot)."""
    boto3.client("sqs").purge_queue(QueueUrl=stack["queue_url"])


def runs_of(job_id: str) -> list[RunModel]:
    return list(RunModel.query(job_id, consistent_read=True))


def reconcile_after(stack: dict[str, Any], seconds: float) -> None:
    """Let time pass with nothing in the queue, then run the minute tick (dispatch + reconcile)."""
    stack["clock"].advance(seconds)
    handlers._tick()


def test_an_accepted_run_whose_every_message_is_lost_times_out(stack: dict[str, Any]) -> None:
    # Given an accepted run, silent, whose deadline check and attempt message are both lost
    stack["agent"].respond_with(202)
    job = create_job(stack, name="lost-all", timeoutMs=60_000, retryPolicy={**NO_JITTER, "maxAttempts": 1})
    drive(stack, 6)
    lose_every_message(stack)
    # When its deadline has passed and the tick runs
    reconcile_after(stack, 60 + GRACE_MS / SECOND + 1)
    drive(stack, 2)
    # Then it timed out, as its own check would have done
    [run] = runs_of(job["id"])
    assert run.status == "failed" and "timed out" in (run.error or ""), (run.status, run.error)
    assert run.recAt is None  # an ended run leaves the index
    assert JobModel.get(job["id"]).activeRun is None


def test_a_claimed_attempt_whose_claimant_died_with_its_message_is_taken_over(stack: dict[str, Any]) -> None:
    # Given an attempt claimed by an executor that then died, its message lost
    job = create_job(stack, name="dead-claimant", schedule="2031-01-01T00:00:00Z")
    lose_every_message(stack)
    at = now_ms()
    occ = Occurrence(job["id"], f"run-{at:013d}-{job['id'][4:]}-m00000000", at, Trigger.MANUAL, 1, 1)
    lease = runtime.executor().lease_ms
    assert runtime.run_store().claim(occ, at, lease, at)[0].value == "claimed"
    # When its lease has passed and the tick runs
    reconcile_after(stack, lease / SECOND + GRACE_MS / SECOND + 1)
    drive(stack, 2)
    # Then the attempt was taken over and delivered once
    assert [r.json()["runId"] for r in stack["agent"].requests] == [occ.run_id]
    assert RunModel.get(job["id"], occ.run_id).status == "succeeded"


def test_a_retry_whose_next_attempt_is_lost_runs_it(stack: dict[str, Any]) -> None:
    # Given a run that failed once and waits 10 s for its retry, whose next attempt message is lost
    stack["agent"].respond_with(500)
    job = create_job(stack, name="lost-retry", retryPolicy={**NO_JITTER, "initialDelayMs": 10_000})
    drive(stack, 6)
    assert [r.status for r in runs_of(job["id"])] == ["retrying"]
    lose_every_message(stack)
    stack["agent"].respond_with(200)
    # When the tick runs once the retry is overdue
    reconcile_after(stack, 10 + 95 + GRACE_MS / SECOND + 1)
    drive(stack, 2)
    # Then attempt 2 ran, with the same run id
    [run] = runs_of(job["id"])
    assert (run.status, int(run.attempt)) == ("succeeded", 2)


def test_a_queued_manual_run_whose_message_is_lost_starts(stack: dict[str, Any]) -> None:
    job = create_job(stack, name="lost-manual", schedule="2031-01-01T00:00:00Z")
    answer = call(stack["client"], "POST", f"/api/jobs/{job['id']}/run")
    assert answer.status_code == 202
    lose_every_message(stack)
    reconcile_after(stack, 61 + GRACE_MS / SECOND)
    drive(stack, 2)
    [run] = runs_of(job["id"])
    assert run.status == "succeeded" and len(stack["agent"].requests) == 1


def test_a_slot_held_by_an_ended_run_is_freed_and_the_line_is_filled(stack: dict[str, Any], configure: Any) -> None:
    # Given an agent limited to one run, a run waiting in its line, and the slot held by a run that
    # ended without giving it back, and a count of waiting runs that is off by one
    configure({"agents": {AGENT_ID: {"url": stack["agent"].url, "timeoutMs": 10_000, "maxConcurrent": 1}},
               "retryPolicy": NO_JITTER})
    stack["agent"].respond_with(202)
    first = create_job(stack, name="holder", timeoutMs=3_600_000)
    second = create_job(stack, name="waiter", schedule="2030-01-01T00:00:08Z")
    drive(stack, 10)
    holder = delivery(stack)["runId"]
    RunModel(first["id"], holder).update(actions=[RunModel.status.set("succeeded")])  # ended, slot kept
    AgentModel(agent_item_id(AGENT_ID)).update(actions=[AgentModel.queued.set(3)])
    lose_every_message(stack)
    stack["agent"].respond_with(200)
    # When the tick runs
    handlers._tick()
    drive(stack, 2)
    # Then the slot was freed, the count corrected, and the waiting run started
    assert [r.status for r in runs_of(second["id"])] == ["succeeded"]
    item = AgentModel.get(agent_item_id(AGENT_ID), consistent_read=True)
    assert (dict(item.holders.attribute_values or {}), int(item.queued)) == ({}, 0)


def test_a_pass_reads_only_what_is_overdue(stack: dict[str, Any]) -> None:
    # Given 30 accepted runs with an hour to go and 3 whose every message is lost past their deadline
    stack["agent"].respond_with(202)
    for i in range(3):
        create_job(stack, name=f"short-{i}", timeoutMs=60_000, retryPolicy={**NO_JITTER, "maxAttempts": 1})
    drive(stack, 6)
    lose_every_message(stack)
    for i in range(30):
        create_job(stack, name=f"long-{i}", timeoutMs=3_600_000, schedule=f"2030-01-01T00:01:{i + 10:02d}Z")
    drive(stack, 60)
    stack["clock"].advance(GRACE_MS / SECOND + 5)
    # When a pass runs
    done = runtime.reconciler().run()
    # Then it read the 3 overdue runs, not the 33 in progress
    assert (done.overdue, done.repaired, done.items_read) == (3, 3, 3), done
    # And a second pass finds nothing to do until they move (they were looked at again later)
    assert runtime.reconciler().run().overdue == 0
