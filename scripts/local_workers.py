"""What AWS runs around the API, done by threads: the minute tick (EventBridge), the
SQS event source of the executor (Lambda's poller), and the periodic snapshot.

Each loop calls the app's own Lambda entry points (``chalicelib.handlers.tick`` and
``chalicelib.handlers.execute``) with Lambda-shaped events, so the local stack runs the
very code the functions run.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3

log = logging.getLogger("agentos.local")

WAIT_TIME_S = 20  # SQS long poll, as Lambda's event source does
BATCH_SIZE = 10  # the execute function's batch_size
CONCURRENCY = 128  # batches in progress at once (a Lambda function's concurrency): a 1,000 burst held early is 100


def _utc_now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def scheduled_event(region: str) -> dict[str, Any]:
    """The event EventBridge hands a ``Rate(1 minute)`` function."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": _utc_now_text(), "region": region,
            "resources": ["arn:aws:events:local:rule/agentos-jobs-dev-tick"], "detail": {}}


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One ReceiveMessage result as a Lambda SQS record."""
    return {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"], "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}), "md5OfBody": message.get("MD5OfBody"),
            "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": region}


class Loop(ABC):
    """A named daemon thread repeating ``step`` until the shared stop event is set."""

    def __init__(self, name: str, stop: threading.Event) -> None:
        self.stop = stop
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                self.step()
            except Exception:  # one bad round must not end the loop: AWS would retry too
                log.exception("%s: round failed", self.thread.name)
                self.stop.wait(1.0)

    @abstractmethod
    def step(self) -> None:
        """One round of work (subclasses)."""


class Ticker(Loop):
    """Calls the tick function at start-up, then every ``period_s`` (60 s, as deployed)."""

    def __init__(self, tick: Callable[[Any, Any], Any], period_s: float, region: str,
                 stop: threading.Event) -> None:
        super().__init__("tick", stop)
        self.tick, self.period_s, self.region = tick, period_s, region
        self._next = time.monotonic()

    def step(self) -> None:
        """Wait for the next tick time, then tick (the tick function logs its own line)."""
        if self.stop.wait(max(0.0, self._next - time.monotonic())):
            return
        self._next += self.period_s  # fixed rate, like a rate() rule: a slow tick does not drift
        self.tick(scheduled_event(self.region), None)


class Gate:
    """Counts batches in progress, so shutdown can wait for them and admit no new ones."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = 0
        self._closed = False

    def enter(self) -> bool:
        """Start a batch; False once the gate is closed."""
        with self._cond:
            if self._closed:
                return False
            self._busy += 1
            return True

    def leave(self) -> None:
        """A batch ended."""
        with self._cond:
            self._busy -= 1
            self._cond.notify_all()

    @property
    def busy(self) -> int:
        """Batches in progress now."""
        with self._cond:
            return self._busy

    def close(self, timeout_s: float) -> int:
        """Admit no more batches; wait up to ``timeout_s`` for running ones; return how many remain."""
        with self._cond:
            self._closed = True
            self._cond.wait_for(lambda: self._busy == 0, timeout_s)
            return self._busy


class QueuePoller(Loop):
    """Lambda's SQS event source: long-poll, invoke the function, delete what succeeded.

    Like the event source, a poller does not wait for the function: each batch runs in
    its own thread (an "invocation") while the poller receives the next one, up to the
    shared ``slots`` (the function's concurrency). Waiting for the batch instead would
    leave messages that became visible meanwhile in the queue until a whole held batch
    ended: a burst of 50 due in one second came up to 3 s late with 8 pollers.

    Records the function reports in ``batchItemFailures`` (or every record, if it
    raises) stay in the queue: SQS shows them again after the visibility timeout and
    moves them to the DLQ after ``maxReceiveCount`` receives, as on AWS.
    """

    def __init__(self, name: str, handler: Callable[[Any, Any], Any], queue_url: str, visibility_s: int,
                 gate: Gate, stop: threading.Event, slots: threading.Semaphore | None = None) -> None:
        super().__init__(name, stop)
        self.handler, self.queue_url, self.visibility_s, self.gate = handler, queue_url, visibility_s, gate
        self.slots = slots or threading.Semaphore(1)
        self.sqs = boto3.client("sqs")
        attrs = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        self.queue_arn = attrs["Attributes"]["QueueArn"]
        self.region = self.sqs.meta.region_name

    def step(self) -> None:
        """Take a free invocation slot, receive one batch, and start it in its own thread."""
        if not self.slots.acquire(timeout=1.0):
            return  # all invocations busy: look at the stop flag, then wait again
        try:
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=BATCH_SIZE, WaitTimeSeconds=WAIT_TIME_S,
                VisibilityTimeout=self.visibility_s, AttributeNames=["All"], MessageAttributeNames=["All"],
            ).get("Messages", [])
        except BaseException:
            self.slots.release()
            raise
        if not messages or not self.gate.enter():
            self.slots.release()
            return  # stopping: what was just received stays in flight, the snapshot keeps it
        records = [sqs_record(m, self.queue_arn, self.region) for m in messages]
        threading.Thread(target=self._invocation, args=(records,), name=f"{self.thread.name}-batch",
                         daemon=True).start()

    def _invocation(self, records: list[dict[str, Any]]) -> None:
        try:
            self._invoke(records)
        except Exception:  # e.g. DeleteMessageBatch failed: the records come back after the timeout
            log.exception("%s: batch failed", self.thread.name)
        finally:
            self.gate.leave()
            self.slots.release()

    def _invoke(self, records: list[dict[str, Any]]) -> None:
        try:
            answer = self.handler({"Records": records}, None) or {}
            failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
        except Exception:
            log.exception("execute: the function failed; the whole batch will be received again")
            return
        done = [{"Id": str(i), "ReceiptHandle": r["receiptHandle"]}
                for i, r in enumerate(records) if r["messageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=done)
        if failed:
            log.info("execute: %s of %s records left for redelivery after %s s",
                     len(failed), len(records), self.visibility_s)


class Snapshotter(Loop):
    """Saves the state every ``period_s``, so a crash loses at most that much."""

    def __init__(self, save: Callable[[], Any], period_s: float, stop: threading.Event) -> None:
        super().__init__("snapshot", stop)
        self.save, self.period_s = save, period_s

    def step(self) -> None:
        """Wait one period, then save."""
        if not self.stop.wait(self.period_s):
            self.save()
