"""A stop and start of the local stack (``make run``) between every two writes of an accepted run (issue 23).

The life is the accepted-run sweep's (tests/test_faults_long.py): a single-run job due at 00:01,
delivered to an HTTP agent that answers 202, which heartbeats and reports success (its writes:
create, enqueue, advance, claim, accept, slot hold, check send, heartbeat, complete); or, with a
silent agent, the same start and then the deadline check's timeout (the attempt to the DLQ, the
final write). The world runs on the fake clock as the local stack does: the minute tick (dispatch
and the reconciler, chalicelib/engine/reconcile.py) at start-up and every minute, the executor polling
SQS (its delays and visibility on the fake clock, a failed record shown again after the queue's
visibility timeout), the agent reporting through the API as a client would (a 5xx, a crash or a
stack that is down is tried again a few seconds later; a 409 ends the attempt).

The stop (:class:`Stop`) comes right after the nth write of that life, in one of two ways:

* ``crash``: the write commits, then its caller sees a :class:`Crash` (the process is killed
  there: generic handlers still run, but every AWS call of the stopped process fails);
* ``halt``: the write returns, the process goes on until its next write (what it does between,
  such as a delivery to the agent, happens), and stops before that write reaches AWS (or at the end
  of that step, when no write follows).

Then the stack starts again, after 20 s, or after 10 minutes (past the claim's lease and the run's
deadline), as scripts/devstack.py does: the state captured with the real
``snapshot.capture`` (only the HTTP hop of the embedded AWS's peek route skipped: moto is
in-process here), moto emptied, the tables and queues provisioned again and the snapshot restored,
every in-process state lost (``runtime.reset()``), the tick run at start-up and every minute.

After each case: the run ended once (succeeded, or failed "timed out" for the silent agent), the
agent saw one run id, the queue is empty, the invariants of tests/invariants.py hold, and at no step
was the run in progress past its deadline (or, after the restart, past the start) for longer than
the reconciler allows (GRACE_MS, then the next minute's tick).
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient

from chalicelib import handlers, runtime
from chalicelib.clock import now_ms
from chalicelib.engine.reconcile import GRACE_MS
from chalicelib.errors import JobsError, RunConflict
from chalicelib.store.models import ENDED, JobModel, RunModel
from conftest import FakeClock
from devtools.agent_server import AgentServer
from fault_injector import WRITES, Crash
from infra.resources import QUEUE_VISIBILITY_S
from invariants import check_invariants, check_quiet
from test_faults import FIRST_AT, RETRY, T0, ledger

AGENT = "6f1c2a8e-1d8b-4c1e-9a55-0c6b2d4f7e10"
TIMEOUT_MS = 120_000
LIFE_WRITES = 9  # create, enqueue, advance, claim, accept, slot hold, check send, heartbeat, complete
SILENT_WRITES = 9  # create, enqueue, advance, claim, accept, slot hold, check send, to the DLQ, timeout
STEP_S = 5  # the world moves this much at a time
TICK_MS = 60_000
HORIZON_MS = 40 * 60_000  # the longest the world runs after the job's creation
DOWNTIMES_S = (20, 600)  # between the stop and the start: a quick restart, and one past every deadline and lease
SILENT_RETRY = {**RETRY, "maxAttempts": 1}


# --- the stop: the stack stops at the nth write ---------------------------------------------------

@dataclass
class Stop:
    """Replaces botocore's ``_make_api_call``: counts the life's writes and stops the stack at the nth.

    ``nth`` None: never stops (the life as it is). Once stopped (``down``), every AWS call of the
    stopped process raises :class:`Crash`, until :meth:`restarted`."""

    original: Callable[..., Any]
    nth: int | None = None
    mode: str = "crash"  # crash | halt
    writes: list[str] = field(default_factory=list)
    down: bool = False
    halting: bool = False
    stopped_after: str | None = None  # the write the stop came after
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def stopped(self) -> bool:
        """The stack stopped (or is stopping: halt mode, before its next write)."""
        return self.down or self.halting

    def restarted(self) -> None:
        """A new process: AWS calls go through again, and no further stop is planned."""
        with self._lock:
            self.down = self.halting = False
            self.nth = None

    def __call__(self, client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        call = (client.meta.service_model.service_name, operation)
        with self._lock:
            if self.down:
                raise Crash(f"the stack is stopped ({operation})")
            if self.halting and call in WRITES:
                self.down = True
                raise Crash(f"the stack stopped before {operation}")
        answer = self.original(client, operation, params)
        if call in WRITES:
            with self._lock:
                if self.nth is None or self.stopped:
                    return answer
                self.writes.append(f"{call[1]}({describe(params)})")
                if len(self.writes) == self.nth:
                    self.stopped_after = self.writes[-1]
                    if self.mode == "crash":
                        self.down = True
                        raise Crash(f"the stack stopped after {operation}")
                    self.halting = True
        return answer


def describe(params: dict[str, Any]) -> str:
    """A short name of a write's target: the tables a transaction touches, the queue a send goes to."""
    if "TransactItems" in params:
        return "+".join(str(next(iter(item.values())).get("TableName", "?")).rsplit("-", 2)[-2]
                        for item in params["TransactItems"])
    if "QueueUrl" in params:
        return str(params["QueueUrl"]).rsplit("/", 1)[-1]
    return str(params.get("TableName", "?")).rsplit("-", 2)[-2] if params.get("TableName") else "?"


@pytest.fixture
def stop(monkeypatch: pytest.MonkeyPatch) -> Stop:
    """The stop switch, active for this test (it sees every AWS call, as the fault injector does)."""
    switch = Stop(BaseClient._make_api_call)
    monkeypatch.setattr(BaseClient, "_make_api_call", lambda client, operation, params: switch(client, operation,
                                                                                               params))
    return switch


# --- the world: the local stack on the fake clock ---------------------------------------------------

@pytest.fixture
def world(aws: dict[str, str], configure: Any, fake_clock: FakeClock, sqs_on_fake_clock: None,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """moto AWS whose SQS follows the fake clock, and an HTTP agent that answers every delivery 202."""
    from scripts import aws_server, snapshot

    # the embedded AWS's peek route, minus its HTTP hop: this test's moto is in-process
    monkeypatch.setattr(snapshot, "queue_bodies", lambda url: aws_server.queue_bodies(url, "us-east-1"))
    with AgentServer() as agent:
        agent.respond_with(202)
        configure({"agents": {AGENT: {"url": agent.url, "timeoutMs": 10_000}}, "retryPolicy": RETRY})
        yield {**aws, "clock": fake_clock, "agent": agent}


class Life:
    """One accepted run's life in the world: the client, the agent, the stack's loops, and its restart."""

    def __init__(self, world: dict[str, Any], switch: Stop, silent: bool, downtime_s: float = DOWNTIMES_S[0]) -> None:
        self.world, self.switch, self.silent, self.downtime_s = world, switch, silent, downtime_s
        self.clock: FakeClock = world["clock"]
        self.agent: AgentServer = world["agent"]
        self.body = {"name": "restart-life", "agentId": AGENT, "schedule": "2030-01-01T00:01:00Z", "payload": {},
                     "timeoutMs": TIMEOUT_MS, "retryPolicy": SILENT_RETRY if silent else RETRY}
        self.job_id: str | None = None
        self.next_tick = now_ms()
        self.reported: dict[int, set[str]] = {}  # delivery index -> what the agent got an answer to
        self.restarts = 0
        self.events: list[str] = []
        self.sqs = boto3.client("sqs")
        self.started_at = now_ms()  # the last start of the stack
        self.late: tuple[int, str] = (0, "")  # the most a run stayed in progress past its deadline (ms), and how

    # the stack's loops ---------------------------------------------------------------------------

    def tick(self) -> None:
        """The minute tick (dispatch, then the reconciler), as the Ticker calls it."""
        while now_ms() >= self.next_tick:
            self.next_tick += TICK_MS
            self.events.append(f"{self.at()} tick")
            handlers._tick()

    def poll(self) -> None:
        """One poll of the executor: every visible message run as Lambda would; a failed one comes
        back after the queue's visibility timeout; a handled one is deleted."""
        sqs, url = self.sqs, self.world["queue_url"]
        for _ in range(10):
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=QUEUE_VISIBILITY_S)
            records = [{"messageId": m["MessageId"], "body": m["Body"], "receiptHandle": m["ReceiptHandle"]}
                       for m in got.get("Messages", [])]
            if not records:
                return
            self.events.append(f"{self.at()} execute {len(records)}")
            failed = {f["itemIdentifier"] for f in runtime.executor().handle_batch(records)["batchItemFailures"]}
            for record in records:
                if record["messageId"] not in failed:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=record["receiptHandle"])

    # the client and the agent --------------------------------------------------------------------

    def client(self) -> None:
        """POST the job until it is stored (a retry finding the name taken: the first POST landed)."""
        if self.job_id is not None:
            return
        found = [j.id for j in JobModel.scan(JobModel.name == self.body["name"])]
        self.job_id = found[0] if found else str(runtime.jobs().create(self.body)["id"])

    def report(self) -> None:
        """The agent heartbeats, then reports success, for each delivery it got (silent: nothing)."""
        if self.silent:
            return
        for index, request in enumerate(list(self.agent.requests)):
            done = self.reported.setdefault(index, set())
            sent = request.json()
            for what in ("heartbeat", "complete"):
                if what in done:
                    continue
                try:
                    self.say(what, sent["runId"], int(sent["attempt"]))
                except RunConflict:  # the attempt is over: nothing more to say about it
                    done.update({"heartbeat", "complete"})
                    break
                except (JobsError, Crash):  # a 5xx, or the stack is down: tried again at the next step
                    return
                done.add(what)
                self.events.append(f"{self.at()} agent {what} attempt {sent['attempt']}")

    @staticmethod
    def say(what: str, run_id: str, attempt: int) -> None:
        """One report through the API's service, as the agent's client sends it."""
        service = runtime.run_service()
        if what == "heartbeat":
            service.heartbeat(run_id, {"progress": {"pct": 50}}, attempt)
        else:
            service.complete(run_id, {"status": "succeeded", "output": {"ok": True}}, attempt)

    # the stop and start --------------------------------------------------------------------------

    def restart(self) -> None:
        """``make run`` stopped, then started: the snapshot, an empty AWS, the restore, a new process."""
        from moto.moto_api._internal.models import moto_api_backend

        from infra.provision import provision
        from scripts import snapshot

        self.switch.restarted()
        saved = snapshot.capture(snapshot.Resources.from_provision(self.world))
        moto_api_backend.reset()
        runtime.reset()
        self.clock.advance(self.downtime_s)
        names = provision("dev")
        self.world.update(names)
        summary = snapshot.restore(saved, snapshot.Resources.from_provision(names), runtime.queue(),
                                   runtime.config().scheduler.dueShards)
        self.restarts += 1
        self.events.append(f"{self.at()} restarted ({summary})")
        self.next_tick = self.started_at = now_ms()  # the Ticker's first tick is at start-up

    # the world -----------------------------------------------------------------------------------

    def step(self) -> None:
        """One step of the world: each loop's work for now; a loop of a stopped stack dies with it."""
        for loop in (self.tick, self.poll, self.client, self.report):
            if self.switch.stopped:
                break
            try:
                loop()
            except Crash as exc:
                self.events.append(f"{self.at()} {loop.__name__}: {exc}")
                if not self.switch.stopped:
                    raise
        if self.switch.stopped:
            self.restart()
        self.watch()

    def watch(self) -> None:
        """How late is the run: in progress past its deadline (or, after a restart, past the start)?"""
        if self.job_id is None:
            return
        for run in RunModel.query(self.job_id, consistent_read=True):
            if run.status == "running" and run.acceptedAt is not None:
                deadline = min(int(d) for d in (run.timeoutAt, run.hbDeadline) if d is not None)
            elif run.status == "running":
                deadline = int(run.leaseUntil or 0)
            elif run.status == "retrying":
                deadline = int(run.retryAt or 0) + runtime.executor().lease_ms
            else:
                continue
            late = now_ms() - max(deadline, self.started_at)
            if late > self.late[0]:
                self.late = (late, f"{self.at()} run {run.status} attempt {run.attempt} accepted={run.acceptedAt} "
                                   f"deadline +{(deadline - T0) / 1000:.0f}s")

    def live(self) -> RunModel:
        """Run the world from the job's creation until two ticks after it went quiet (at most to the
        horizon); returns the job's one run."""
        end, calm = now_ms() + HORIZON_MS, None
        self.step()
        while now_ms() < end and (calm is None or now_ms() < calm):
            self.clock.advance(STEP_S)
            self.step()
            if calm is None and self.quiet():
                calm = now_ms() + 2 * TICK_MS
        assert self.job_id is not None, "the job was never stored"
        runs = list(RunModel.query(self.job_id, consistent_read=True))
        assert len(runs) == 1, [(r.id, r.status) for r in runs]
        return runs[0]

    def quiet(self) -> bool:
        """Nothing is left to happen: the planned stop came (or none is planned), the run ended, and
        the queue is empty (visible, in flight and delayed)."""
        if self.switch.nth is not None or self.job_id is None:
            return False
        if any(r.status not in ENDED for r in RunModel.query(self.job_id, consistent_read=True)):
            return False
        return not any(queue_counts(self.world["queue_url"]).values())

    def at(self) -> str:
        return f"+{(now_ms() - T0) / 1000:.0f}s"


def queue_counts(url: str) -> dict[str, int]:
    """The queue's messages: visible, in flight, delayed."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
             "ApproximateNumberOfMessagesDelayed"]
    got = boto3.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return {name: int(got.get(name, 0)) for name in names}


def audit(request: pytest.FixtureRequest, life: Life, run: RunModel) -> None:
    """The run ended once, as expected; one run id delivered; nothing running past its deadline; the
    queue quiet; the invariants hold."""
    delivered = {r.json()["runId"] for r in life.agent.requests}
    expected = "failed" if life.silent else "succeeded"
    assert life.job_id is not None
    violations = check_invariants(now_ms(), queue_url=life.world["queue_url"])
    ledger("faults-restart", request.node.name, occurrences=1, lost=int(not delivered),
           stuck=int(run.status in ("running", "queued", "retrying")), violations=len(violations),
           late_ms=life.late[0])
    trace = f"stopped after write {life.switch.stopped_after}; writes {life.switch.writes}; events {life.events}"
    assert life.restarts == (1 if life.switch.stopped_after else 0), trace
    assert delivered == {run.id} and run.id == f"run-{FIRST_AT:013d}-{life.job_id.removeprefix('job-')}", \
        (delivered, trace)
    assert run.status == expected, (run.status, run.error, trace)
    if life.silent:
        assert "timed out" in (run.error or ""), (run.error, trace)
    job = JobModel.get(life.job_id, consistent_read=True)
    assert job.activeRun is None and int(job.runCount) == 1, (job.attribute_values, trace)
    assert job.status == ("completed" if expected == "succeeded" else "failed"), (job.status, trace)
    left = queue_counts(life.world["queue_url"])
    assert not any(left.values()), (left, trace)
    assert not violations, (violations, trace)
    # the reconciler's promise: a run past its deadline is moved on at the first tick GRACE_MS after it
    assert life.late[0] <= GRACE_MS + TICK_MS + 2 * STEP_S * 1000, (life.late, trace)
    check_quiet(request, life.world["queue_url"])


# --- the tests ------------------------------------------------------------------------------------

@pytest.mark.parametrize("silent", [False, True], ids=["reporting", "silent"])
def test_the_life_has_the_writes_the_sweep_expects(world: dict[str, Any], stop: Stop,
                                                   request: pytest.FixtureRequest, silent: bool) -> None:
    # Given no stop (nth beyond the life: every write is counted)
    stop.nth = 10**6
    life = Life(world, stop, silent)
    run = life.live()
    # Then the sweep below stops the stack after each of these writes
    start = ["TransactWriteItems(jobs+jobs+runs)", "SendMessageBatch(agentos-jobs-dev)", "UpdateItem(jobs)",
             "TransactWriteItems(runs+jobs)", "UpdateItem(runs)", "UpdateItem(jobs)",
             "SendMessageBatch(agentos-jobs-dev)"]
    # (the final write ends the single-run job: its history event rides in it, the last runs item)
    end = ["SendMessage(agentos-jobs-dev-dlq)", "TransactWriteItems(runs+jobs+runs)"] if silent \
        else ["UpdateItem(runs)", "TransactWriteItems(runs+jobs+runs)"]
    assert stop.writes == start + end, stop.writes
    assert len(stop.writes) == (SILENT_WRITES if silent else LIFE_WRITES)
    audit(request, life, run)


@pytest.mark.parametrize("downtime_s", DOWNTIMES_S, ids=[f"down{d}s" for d in DOWNTIMES_S])
@pytest.mark.parametrize("mode", ["crash", "halt"])
@pytest.mark.parametrize("nth", range(1, max(LIFE_WRITES, SILENT_WRITES) + 1))
@pytest.mark.parametrize("silent", [False, True], ids=["reporting", "silent"])
def test_a_stop_and_start_after_any_write_of_an_accepted_run_ends_it_once(
        world: dict[str, Any], stop: Stop, request: pytest.FixtureRequest, silent: bool, nth: int,
        mode: str, downtime_s: int) -> None:
    # Given the local stack stops right after the nth write of the accepted run's life, and starts
    # again after downtime_s
    stop.nth, stop.mode = nth, mode
    life = Life(world, stop, silent, downtime_s)
    # When time passes: the tick every minute, the queue drained, the agent reporting (or silent)
    run = life.live()
    # Then the run ended once, with one run id, nothing is left running and the invariants hold
    assert stop.stopped_after is not None
    audit(request, life, run)
