"""Notifications (contract section 13): a signed POST to each configured receiver of an event.

``emit`` never delays or fails what it describes: it only queues one small SQS message per
receiver on the jobs queue (a failure to queue is logged and dropped), and the executor's
handler (:func:`deliver_record`) POSTs it, signed like a delivery when the receiver has a
``secretEnv``. A receiver that does not answer 2xx is tried again up to 3 times, with growing
delays, by a delayed copy of the message; then the notification is dropped with a log line.
Receivers' URLs come only from configuration: a message names its receiver by position and
URL, and one that no longer matches the configuration is dropped.

Slack's incoming webhooks take ``{"text": ...}``: a receiver with ``"format": "slack"`` gets that.
"""
from __future__ import annotations

import http.client
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from .. import settings
from ..clock import iso, now_ms
from ..config import NotificationTarget
from ..defaults import NOTIFY_KEY
from ..errors import JobsError
from ..store.models import JobModel
from ..store.sqs import OccurrenceQueue
from .delivery import SIGNATURE_HEADER, USER_AGENT, sign

log = logging.getLogger("agentos.jobs.notifications")
RETRY_DELAYS_S = (5, 30, 120)  # after the first try: 3 retries
POST_TIMEOUT_S = 5.0


def is_notification(record: dict[str, Any]) -> bool:
    """True if an SQS record of the jobs queue is a notification."""
    return str(record.get("body", "")).startswith(f'{{"{NOTIFY_KEY}"')


def notification_body(event: str, job: JobModel | dict[str, Any], run: dict[str, Any] | None,
                      message: str, at_ms: int) -> dict[str, Any]:
    """The JSON a receiver gets: ``{"event", "at", "job": {"id", "name", "agentId"}, "run", "message"}``."""
    fields = job if isinstance(job, dict) else {"id": job.id, "name": job.name, "agentId": job.agentId}
    return {"event": event, "at": iso(at_ms), "job": {k: fields[k] for k in ("id", "name", "agentId")},
            "run": run, "message": message}


class Notifier:
    """Queues notifications for the configured receivers of each event."""

    def __init__(self, targets: Sequence[NotificationTarget], queue: OccurrenceQueue,
                 describe_run: Callable[[str, str], dict[str, Any] | None] | None = None) -> None:
        self.targets = tuple(targets)
        self.queue = queue
        # The run as the API shows it, read when the notification is sent (off the run's path).
        self.describe_run = describe_run

    def wants(self, event: str) -> bool:
        """True if some receiver subscribes to ``event`` (callers skip building the body otherwise)."""
        return any(event in target.events for target in self.targets)

    def emit(self, event: str, job: JobModel | dict[str, Any], run: dict[str, Any] | None, message: str,
             run_ref: tuple[str, str] | None = None) -> int:
        """Queue ``event`` for each receiver subscribed to it; returns how many were queued.
        ``run_ref`` (job id, run id): the run, shown as the API shows it when the notification is sent."""
        if not self.wants(event):
            return 0
        now = now_ms()
        body = notification_body(event, job, run, message, now)
        if run_ref is not None and run is None:
            body["runRef"] = list(run_ref)
        queued = 0
        for index, target in enumerate(self.targets):
            if event not in target.events:
                continue
            try:
                self.queue.send_text(_envelope(index, target.url, 1, body), now, now)
                queued += 1
            except JobsError as exc:  # never fails what it describes
                log.warning("notification %s for job %s to receiver %d not queued: %s", event, body["job"]["id"],
                            index, exc)
        return queued

    def deliver_record(self, record: dict[str, Any]) -> bool:
        """POST one queued notification; on failure queue its retry (or drop it after the last).
        Always True: the queue message is done either way."""
        try:
            note = json.loads(record["body"])[NOTIFY_KEY]
            index, url, attempt, body = int(note["target"]), str(note["url"]), int(note["attempt"]), note["body"]
        except (ValueError, KeyError, TypeError) as exc:  # not ours to retry: a malformed message
            log.error("notification message %s dropped: malformed (%s)", record.get("messageId"), exc)
            return True
        target = self.targets[index] if index < len(self.targets) else None
        if target is None or target.url != url:
            log.warning("notification %s dropped: receiver %d is no longer configured", body.get("event"), index)
            return True
        error = post_notification(target, self._with_run(body))
        if error is None:
            return True
        if attempt > len(RETRY_DELAYS_S):
            log.error("notification %s to receiver %d dropped after %d tries: %s", body["event"], index, attempt, error)
            return True
        self._retry(index, target, attempt, body, error)
        return True

    def _with_run(self, body: dict[str, Any]) -> dict[str, Any]:
        ref = body.get("runRef")
        shown = {k: v for k, v in body.items() if k != "runRef"}
        if ref and self.describe_run is not None:
            try:
                shown["run"] = self.describe_run(str(ref[0]), str(ref[1]))
            except JobsError as exc:  # the run cannot be read now: sent without it
                log.warning("notification %s: run %s not read: %s", body.get("event"), ref[1], exc)
        return shown

    def _retry(self, index: int, target: NotificationTarget, attempt: int, body: dict[str, Any], error: str) -> None:
        delay = RETRY_DELAYS_S[attempt - 1]
        log.warning("notification %s to receiver %d failed (%s); try %d in %d s", body["event"], index, error,
                    attempt + 1, delay)
        try:
            now = now_ms()
            self.queue.send_text(_envelope(index, target.url, attempt + 1, body), now + delay * 1000, now)
        except JobsError as exc:
            log.error("notification %s to receiver %d dropped: its retry was not queued: %s", body["event"], index, exc)


def _envelope(index: int, url: str, attempt: int, body: dict[str, Any]) -> str:
    return json.dumps({NOTIFY_KEY: {"target": index, "url": url, "attempt": attempt, "body": body}},
                      separators=(",", ":"))


def render(target: NotificationTarget, body: dict[str, Any]) -> bytes:
    """The bytes POSTed: the notification's JSON, or Slack's ``{"text"}`` for a ``slack`` receiver."""
    if target.format == "slack":
        job = body["job"]
        text = f"*{body['event']}*: job `{job['name']}` ({job['id']}): {body['message']}"
        return json.dumps({"text": text}, ensure_ascii=False).encode()
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def post_notification(target: NotificationTarget, body: dict[str, Any]) -> str | None:
    """POST ``body`` to ``target``; None on a 2xx answer, else what went wrong (never a secret)."""
    data = render(target, body)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if target.secretEnv:
        secret = settings.value(target.secretEnv)
        if not secret:  # never unsigned when a signature is configured
            return f"secret env {target.secretEnv} is not set"
        headers[SIGNATURE_HEADER] = sign(secret.encode(), now_ms() // 1000, data)
    parts = urlsplit(target.url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.netloc, timeout=POST_TIMEOUT_S)
    try:
        connection.request("POST", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), data, headers)
        status = connection.getresponse().status
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        connection.close()
    return None if 200 <= status < 300 else f"HTTP {status}"
