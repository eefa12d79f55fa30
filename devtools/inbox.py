"""The local stack's inbox agent: where ``make run`` delivers an occurrence whose agent has no URL
and whose payload names no registered action (the quickstart's own example job, before anyone
configured its agent). Each delivery is appended to ``<state dir>/inbox.jsonl``, printed to
``make run``'s log, and shown by the console's Inbox page (``GET /api/inbox``, this stack only);
the run succeeds with ``{"inbox": "received"}``. Point the agent id at a real agent in
``agentos.config.json`` (``agents.<id>.url``) and its deliveries go there instead.
"""
from __future__ import annotations

import json
import logging
import threading
from collections import deque
from pathlib import Path
from typing import Any

from chalice import Blueprint, Response

from chalicelib.engine.actions import ActionContext, set_fallback

log = logging.getLogger("agentos.inbox")
KEEP = 200  # deliveries the page shows (the file keeps them all)


class Inbox:
    """Records each delivery it receives, newest kept in memory, all in a JSON-lines file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._recent: deque[dict[str, Any]] = deque(self._read(path), maxlen=KEEP)

    @staticmethod
    def _read(path: Path) -> list[dict[str, Any]]:
        if not path.exists():
            return []
        lines = path.read_text(encoding="utf-8").splitlines()[-KEEP:]
        return [json.loads(line) for line in lines if line.strip()]

    def receive(self, ctx: ActionContext) -> dict[str, Any]:
        """Record one delivery; the run's output."""
        entry = {"jobId": ctx.job_id, "jobName": ctx.job_name, "runId": ctx.run_id, "agentId": ctx.agent_id,
                 "scheduledAt": ctx.scheduled_at, "attempt": ctx.attempt, "trigger": ctx.trigger,
                 "payload": ctx.payload}
        with self._lock:
            with self.path.open("a", encoding="utf-8") as file:
                file.write(json.dumps(entry, ensure_ascii=False) + "\n")
            self._recent.append(entry)
        log.info("inbox: job %s (%s) run %s for agent %s: %s", ctx.job_name, ctx.job_id, ctx.run_id,
                 ctx.agent_id, json.dumps(ctx.payload, ensure_ascii=False)[:200])
        return {"inbox": "received", "agentId": ctx.agent_id}

    def recent(self) -> list[dict[str, Any]]:
        """The deliveries kept, newest first."""
        with self._lock:
            return list(reversed(self._recent))


_current: list[Inbox] = []  # the running stack's (a process may start several stacks in turn)


def blueprint() -> Blueprint:
    """``GET /api/inbox``: what the current inbox received, newest first (behind the API's tokens)."""
    routes = Blueprint(__name__)

    @routes.route("/api/inbox", methods=["GET"])
    def read_inbox() -> Response:
        from chalicelib import runtime
        from chalicelib.api.auth import authorize
        from chalicelib.errors import JobsError

        try:
            if runtime.config().security.enabled:
                authorize(routes.current_request.headers.get("authorization"))
        except JobsError as exc:
            return Response(body=exc.to_body(), status_code=exc.status)
        return Response(body=_current[0].recent() if _current else [], status_code=200)

    return routes


def install(app: Any, state_dir: Path) -> Inbox:
    """Make the inbox the stack's fallback agent and serve its page on ``app``."""
    inbox = Inbox(Path(state_dir) / "inbox.jsonl")
    _current[:] = [inbox]
    set_fallback(inbox.receive)
    if "/api/inbox" not in app.routes:
        app.register_blueprint(blueprint())
    return inbox
