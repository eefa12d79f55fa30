"""The local stack's snapshot (scripts/snapshot.py) across a stop and start, on moto.

A stop captures the tables and the queues' bodies; a start restores them into a fresh,
empty embedded AWS. Every message kind must come back as what it is: only a scheduled
first *attempt* is folded into its job's ``nextRunAt``; a deadline check, a wake and an
admitted run are re-sent with their kind (issue 23, finding 3).
"""
from __future__ import annotations

from typing import Any

import pytest

from chalicelib import runtime
from chalicelib.store.models import RunModel, Trigger
from chalicelib.store.runs import Occurrence
from chalicelib.store.sqs import Kind, Message, decode, encode
from conftest import create_job, drive, receive_all


def body(kind: Kind, job: str = "job-a", at: int = 1000, attempt: int = 1) -> str:
    """A queue body for a scheduled occurrence of ``job`` at ``at``."""
    return encode(Message(Occurrence(job, f"run-{at}", at, Trigger.SCHEDULE, 1, attempt), at, kind))


@pytest.mark.parametrize("kind", [Kind.CHECK, Kind.WAKE, Kind.ADMITTED])
def test_only_a_first_attempt_is_folded_into_next_run_at(kind: Kind) -> None:
    from scripts.snapshot import first_queued_occurrences

    earliest, resend = first_queued_occurrences([body(kind, at=1000), body(Kind.ATTEMPT, at=3000)])
    assert earliest == {("job-a", 1): 3000}  # the attempt; the other kind's occurrence is not undelivered
    assert [decode(b).kind for b in resend] == [kind]


def stop_and_start(stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> str:
    """Capture the state as a stop does, empty moto as a new process has it, restore it."""
    from moto.moto_api._internal.models import moto_api_backend

    from infra.provision import provision
    from scripts import aws_server, snapshot

    # the embedded AWS's peek route, minus its HTTP hop: this test's moto is in-process
    monkeypatch.setattr(snapshot, "queue_bodies", lambda url: aws_server.queue_bodies(url, "us-east-1"))
    saved = snapshot.capture(snapshot.Resources.from_provision(stack))
    moto_api_backend.reset()
    runtime.reset()
    names = provision("dev")
    assert not receive_all(names["queue_url"])  # a fresh AWS: only the snapshot brings anything back
    shards = runtime.config().scheduler.dueShards
    return snapshot.restore(saved, snapshot.Resources.from_provision(names), runtime.queue(), shards)


def the_run(job_id: str) -> RunModel:
    [run] = list(RunModel.query(job_id))
    return run


def test_an_accepted_run_still_times_out_after_a_stop_and_start(stack: dict[str, Any],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a run accepted (202) whose deadline check is queued
    stack["agent"].respond_with(202)
    job = create_job(stack, name="accepted", timeoutMs=60_000, retryPolicy={"maxAttempts": 1})
    drive(stack, 6)
    assert the_run(job["id"]).status == "running"
    # When the local stack stops and starts again while it runs
    stop_and_start(stack, monkeypatch)
    # Then its deadline check came back as a check, and times the run out at its deadline
    drive(stack, 61)
    run = the_run(job["id"])
    assert (run.status, len(stack["agent"].requests)) == ("failed", 1), run.error
    assert "timed out" in (run.error or "")


def test_every_kind_survives_a_restore_as_what_it_is(stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib import clock

    later = clock.now_ms() + 600_000  # none of them is due yet: their delays keep them queued
    queued = [body(Kind.CHECK, "job-c", later), body(Kind.WAKE, "job-w", later),
              body(Kind.ADMITTED, "job-x", later), body(Kind.ATTEMPT, "job-r", later, attempt=2)]
    runtime.queue().send([decode(b) for b in queued], clock.now_ms())
    summary = stop_and_start(stack, monkeypatch)
    stack["clock"].advance(600)
    back = {decode(r["body"]) for r in receive_all(stack["queue_url"])}
    assert back == {decode(b) for b in queued}, summary
