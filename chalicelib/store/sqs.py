"""The occurrence queue (SQS) and its dead-letter queue.

A message is one attempt of one occurrence. It is sent to arrive slightly *before*
its instant (SQS delays have whole-second granularity): the executor claims it and
holds it until the instant, so an agent sees it on the second.
"""
from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from .. import clock, settings
from ..defaults import TEXT_KEEP_CHARS
from ..errors import StoreUnavailable
from .aws import LazyClient
from .models import Trigger
from .runs import Occurrence

MAX_DELAY_S = 900  # SQS's limit on DelaySeconds
EARLY_MS = 1000  # arrive up to this much before the instant, so the claim is done in time
# A burst (BURST_SIZE or more messages of one send due at the same instant) arrives earlier
# still, a second per BURST_STEP of them, up to BURST_EARLY_MS: its batches' claims queue
# behind each other (on the local stack one at a time; on AWS behind the event source's
# scaling up), and must all be done before the instant. The hold stays within
# progress.HOLD_MAX_MS (EARLY_MS + BURST_EARLY_MS + SQS's whole second).
BURST_SIZE = 100
BURST_STEP = 200
BURST_EARLY_MS = 3000
BATCH = 10  # SendMessageBatch's limit
PARALLEL_SENDS = 8  # batches in flight at once: a burst's sends must fit one tick


class Kind(StrEnum):
    """What a message asks the executor to do with its occurrence."""

    ATTEMPT = "attempt"  # claim and deliver this attempt
    CHECK = "check"  # an accepted attempt's deadline: time it out unless it reported or heartbeated
    ADMITTED = "admitted"  # a run granted its agent's slot after waiting: claim it, counted and charged already
    WAKE = "wake"  # a run waiting for its agent: free the slots whose lease passed and fill the line


class Message(NamedTuple):
    """An attempt to run (or to check), and the earliest instant it may run at."""

    occurrence: Occurrence
    not_before_ms: int
    kind: Kind = Kind.ATTEMPT


def encode(message: Message) -> str:
    """The JSON body of a queue message."""
    occ = message.occurrence
    return json.dumps({
        "jobId": occ.job_id, "runId": occ.run_id, "scheduledAt": occ.scheduled_ms,
        "trigger": occ.trigger.value, "generation": occ.generation, "attempt": occ.attempt,
        "notBefore": message.not_before_ms,
        **({"kind": message.kind.value} if message.kind is not Kind.ATTEMPT else {}),
    }, separators=(",", ":"))


def decode(body: str) -> Message:
    """Parse a message body; anything malformed raises ValueError."""
    data = json.loads(body)
    ints = [data["scheduledAt"], data["generation"], data["attempt"], data["notBefore"]]
    if not all(type(v) is int for v in ints) or not isinstance(data["jobId"], str) \
            or not isinstance(data["runId"], str) or data["attempt"] < 1:
        raise ValueError("malformed occurrence message")
    occ = Occurrence(job_id=data["jobId"], run_id=data["runId"], scheduled_ms=data["scheduledAt"],
                     trigger=Trigger(data["trigger"]), generation=data["generation"], attempt=data["attempt"])
    return Message(occ, data["notBefore"], Kind(data.get("kind", Kind.ATTEMPT.value)))


def delay_seconds(not_before_ms: int, now_ms: int) -> int:
    """DelaySeconds that makes a message visible up to EARLY_MS before ``not_before_ms``."""
    seconds = (not_before_ms - now_ms - EARLY_MS) // 1000
    return int(max(0, min(MAX_DELAY_S, seconds)))


def _burst_instants(messages: Sequence[Message]) -> dict[int, int]:
    """The instants at which BURST_SIZE or more of ``messages`` are due, each with how much
    earlier its messages arrive (ms)."""
    counts = Counter(m.not_before_ms for m in messages)
    return {at: min(BURST_EARLY_MS, 1000 * -(-n // BURST_STEP)) for at, n in counts.items() if n >= BURST_SIZE}


def _visible_from(message: Message, bursts: Mapping[int, int]) -> int:
    # The instant delay_seconds counts back EARLY_MS from: a burst's, its early ms earlier.
    return message.not_before_ms - bursts.get(message.not_before_ms, 0)


def _sqs_client() -> Any:
    from .aws import client

    return client("sqs")


class OccurrenceQueue:
    """Sends occurrence messages to the jobs queue and failures to its DLQ.

    The boto3 client and the queue URLs are resolved once, on first use.
    """

    def __init__(self, queue_name: str, dlq_name: str,
                 client_factory: Callable[[], Any] | None = None) -> None:
        self.queue_name = queue_name
        self.dlq_name = dlq_name
        self._client = LazyClient(client_factory or _sqs_client)
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The SQS client, built on first use."""
        return self._client.get()

    def url(self, name: str) -> str:
        """The URL of queue ``name`` (looked up once)."""
        if name not in self._urls:
            client = self.client  # built first (under its own lock), before the lookup's
            # one lookup, not one per thread: a burst's first sends start together
            with self._lock:
                if name not in self._urls:
                    self._urls[name] = self._lookup(client, name)
        return self._urls[name]

    @staticmethod
    def _lookup(client: Any, name: str) -> str:
        try:
            return str(client.get_queue_url(QueueName=name)["QueueUrl"])
        except (ClientError, BotoCoreError) as exc:
            raise StoreUnavailable(f"queue {name} unavailable; retry later") from exc

    def send(self, messages: Sequence[Message], now_ms: int) -> list[Message]:
        """Send ``messages`` in batches of ten; return those SQS did not accept."""
        batches = [messages[start:start + BATCH] for start in range(0, len(messages), BATCH)]
        bursts = _burst_instants(messages)
        if len(batches) <= 1:
            return [m for batch in batches for m in self._send_batch(batch, now_ms, bursts)]
        _ = self.url(self.queue_name)  # resolved once, before the threads
        with ThreadPoolExecutor(max_workers=min(PARALLEL_SENDS, len(batches))) as pool:
            return [m for refused in pool.map(lambda b: self._send_batch(b, now_ms, bursts), batches)
                    for m in refused]

    def _send_batch(self, batch: Sequence[Message], now_ms: int,
                    bursts: Mapping[int, int] | None = None) -> list[Message]:
        # DelaySeconds counts from this send, not from the tick's start: a burst's later batches
        # leave seconds after its first, and each second counted from the start arrived late.
        sent_at = max(now_ms, clock.now_ms())
        entries = [{"Id": str(i), "MessageBody": encode(m),
                    "DelaySeconds": delay_seconds(_visible_from(m, bursts or {}), sent_at)}
                   for i, m in enumerate(batch)]
        try:
            answer = self.client.send_message_batch(QueueUrl=self.url(self.queue_name), Entries=entries)
        except (ClientError, BotoCoreError, StoreUnavailable):
            return list(batch)
        return [batch[int(f["Id"])] for f in answer.get("Failed", [])]

    def send_one(self, message: Message, now_ms: int) -> None:
        """Send one message or raise :class:`StoreUnavailable`."""
        if self.send([message], now_ms):
            raise StoreUnavailable("the jobs queue did not accept the message; retry later")

    def send_text(self, body: str, not_before_ms: int, now_ms: int) -> None:
        """Send one message that is not an occurrence (a notification), visible from
        ``not_before_ms`` (at most 15 minutes on), or raise :class:`StoreUnavailable`."""
        try:
            self.client.send_message(QueueUrl=self.url(self.queue_name), MessageBody=body,
                                     DelaySeconds=delay_seconds(not_before_ms, now_ms))
        except (ClientError, BotoCoreError) as exc:
            raise StoreUnavailable("the jobs queue did not accept the notification") from exc

    def dead_letter(self, message: Message, reason: str) -> None:
        """Put the next attempt of a failed occurrence in the DLQ (a redrive runs it once more)."""
        body = json.loads(encode(message))
        body["failure"] = reason[:TEXT_KEEP_CHARS]
        try:
            self.client.send_message(QueueUrl=self.url(self.dlq_name), MessageBody=json.dumps(body))
        except (ClientError, BotoCoreError) as exc:
            raise StoreUnavailable("the dead-letter queue did not accept the message") from exc


def queue_from_env() -> OccurrenceQueue:
    """The queue pair named by ``JOBS_QUEUE`` / ``JOBS_DLQ``."""
    return OccurrenceQueue(*settings.queues())

