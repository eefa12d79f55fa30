"""The job manager: jobs declared in code, and the request handler that runs their callbacks.

    manager = JobManager(agent_id=AGENT_ID)               # AGENTOS_URL, AGENTOS_TOKEN, AGENT_SECRET
    manager.create_job(name="digest", interval=3_600_000, callback=lambda ctx: {"sent": 3})
    manager.server(port=8080).serve_forever()             # the URL agents.<id>.url points at

``create_job`` declares the job with ``PUT /api/jobs/by-name/{name}`` (idempotent: calling it at
every start changes nothing, so no occurrence shifts) and routes the job's deliveries to ``callback``.
"""
from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import replace
from http.server import ThreadingHTTPServer
from typing import Any

from .accepted import AcceptedRun
from .callbacks import Callback
from .client import Client
from .delivery import Delivery, receive
from .dispatch import Answer, dispatch
from .retry import Backoff, retrying
from .signing import SignatureError

KEEP_ACCEPTED = 100


class JobManager:
    """Declares an agent's jobs and answers their deliveries (the seed's ``job_manager`` service)."""

    def __init__(self, client: Client | None = None, agent_id: str | None = None, secret: str | bytes | None = None,
                 allow_unsigned: bool = False, answer_within_s: float = 8.0, heartbeat_every_s: float = 10.0,
                 backoff: Backoff | None = None, declare_within_s: float = 30.0) -> None:
        """``secret`` (default ``$AGENT_SECRET``) verifies deliveries; without one, ``allow_unsigned``
        must say that unsigned deliveries are acceptable (a local test, a private network)."""
        self.client = client or Client()
        self.agent_id = agent_id or os.environ.get("AGENTOS_AGENT_ID")
        self.secret = secret if secret is not None else os.environ.get("AGENT_SECRET")
        if self.secret is None and not allow_unsigned:
            raise ValueError("no secret to verify deliveries: pass secret=, set AGENT_SECRET, or allow_unsigned=True")
        self.answer_within_s = answer_within_s
        self.heartbeat_every_s = heartbeat_every_s
        self.backoff = backoff or Backoff()  # how reports are retried (until the attempt's timeoutAt)
        self.declare_within_s = declare_within_s  # a declaration meeting a (re)starting API is retried this long
        # the latest attempts answered 202, most recent last (bounded: a long-lived agent must not grow)
        self.accepted: deque[AcceptedRun] = deque(maxlen=KEEP_ACCEPTED)
        self._lock = threading.Lock()
        self._by_id: dict[str, tuple[Callback, Mapping[str, Any]]] = {}
        self._by_name: dict[str, tuple[Callback, Mapping[str, Any]]] = {}

    def create_job(self, name: str, callback: Callback, schedule: str | None = None, interval: int | None = None,
                   payload: Mapping[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """Declare the job (created, or made to match these fields) and route its deliveries to
        ``callback``; other create fields (``timeoutMs``, ``retryPolicy``, ...) pass through. The job."""
        if not callable(callback):
            raise TypeError("callback must be callable")
        body = {"agentId": fields.pop("agentId", None) or self.agent_id, "payload": dict(payload or {}), **fields}
        if body["agentId"] is None:
            raise ValueError("no agentId: pass agent_id= to JobManager (or AGENTOS_AGENT_ID), or agentId=")
        body.update({k: v for k, v in (("schedule", schedule), ("interval", interval)) if v is not None})
        # PUT by name is idempotent: trying it again after a lost answer cannot make a second job
        job = retrying(lambda: self.client.ensure_job(name, **body), time.time() + self.declare_within_s, self.backoff)
        self.register(callback, job)
        return job

    def register(self, callback: Callback, job: Mapping[str, Any]) -> None:
        """Route deliveries of ``job`` (a job as the API returns it: ``id``, ``name``) to ``callback``."""
        with self._lock:
            if job.get("id"):
                self._by_id[str(job["id"])] = (callback, job)
            if job.get("name"):
                self._by_name[str(job["name"])] = (callback, job)

    def _entry(self, delivery: Delivery) -> tuple[Callback, Mapping[str, Any]] | None:
        with self._lock:
            return self._by_id.get(delivery.job_id) or self._by_name.get(delivery.job_name)

    def _heartbeat_every(self, job: Mapping[str, Any]) -> float:
        # three beats per heartbeatTimeoutMs: one lost beat does not time the attempt out
        limit_ms = job.get("heartbeatTimeoutMs")
        return min(self.heartbeat_every_s, limit_ms / 3000) if isinstance(limit_ms, int) else self.heartbeat_every_s

    def handle(self, headers: Mapping[str, str], body: bytes) -> Answer:
        """Answer one delivery: 401 bad signature, 400 not a delivery, 404 no callback for its job,
        else the callback's answer (see :func:`agentos_agent.dispatch.dispatch`)."""
        try:
            delivery = replace(receive(body, headers, self.secret), backoff=self.backoff)
        except SignatureError as error:
            return Answer.text(401, str(error))
        except ValueError as error:
            return Answer.text(400, f"not a delivery: {error}")
        entry = self._entry(delivery)
        if entry is None:
            return Answer.text(404, f"no callback registered for job {delivery.job_name!r} ({delivery.job_id})")
        callback, job = entry
        answer, accepted = dispatch(callback, delivery, self.answer_within_s, self._heartbeat_every(job))
        if accepted is not None:
            self.accepted.append(accepted)
        return answer

    def request_handler(self) -> type:
        """A :class:`http.server.BaseHTTPRequestHandler` subclass that answers deliveries with :meth:`handle`."""
        from .http_handler import handler_class

        return handler_class(self)

    def server(self, host: str = "127.0.0.1", port: int = 8080) -> ThreadingHTTPServer:
        """A threading HTTP server answering deliveries on ``host:port`` (call ``serve_forever``)."""
        return ThreadingHTTPServer((host, port), self.request_handler())


_default: JobManager | None = None
_default_lock = threading.Lock()


def job_manager() -> JobManager:
    """The process's default manager, made from the environment on first use (``AGENTOS_URL``,
    ``AGENTOS_TOKEN``, ``AGENTOS_AGENT_ID``, ``AGENT_SECRET``)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = JobManager()
        return _default


def create_job(name: str, callback: Callback, **fields: Any) -> dict[str, Any]:
    """:meth:`JobManager.create_job` on the default manager."""
    return job_manager().create_job(name, callback, **fields)
