"""The ``ECHO`` action: run a job end to end without any agent server.

Create a job with ``"payload": {"action": "ECHO", "message": "hello"}`` and every
occurrence logs one line and succeeds with what it echoed as its result text.
"""
from __future__ import annotations

import json
import logging

from ..actions import ActionContext, action

log = logging.getLogger("agentos.jobs.example")


@action("ECHO")
def echo(ctx: ActionContext) -> str:
    """Log ``ECHO job=… run=… attempt=… message=…`` and return that as short JSON."""
    message = ctx.payload.get("message")
    shown = message if isinstance(message, str) else json.dumps(message, default=str)
    # One occurrence, one log line: a message with newlines must not forge other lines.
    shown = shown.replace("\r", "\\r").replace("\n", "\\n")
    log.info("ECHO job=%s run=%s attempt=%d message=%s", ctx.job_name, ctx.run_id, ctx.attempt, shown)
    return json.dumps({"echo": message, "job": ctx.job_name, "run": ctx.run_id, "attempt": ctx.attempt},
                      default=str)
