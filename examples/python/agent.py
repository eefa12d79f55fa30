"""An agent on the Python kit: two jobs declared in code, their callbacks served over HTTP.

    pip install ./sdk/python
    AGENTOS_AGENT_ID=<uuid> AGENT_SECRET=<secret> AGENTOS_TOKEN=<token> python examples/python/agent.py

agentos.config.json routes the agent's deliveries here: ``"agents": {"<uuid>": {"url":
"http://127.0.0.1:8080/", "secretEnv": "AGENT_SECRET"}}``. Restarting it declares the same jobs
again, which changes nothing (their next runs stay where they were).
"""
from __future__ import annotations

import os
import time

from agentos_agent import JobContext, JobManager


def digest(ctx: JobContext) -> dict[str, object]:
    """Quick work: answered at once; ``state`` is saved for the next run."""
    sent = (ctx.state or {}).get("sent", 0) + 1
    return {"summary": f"digest #{sent} for {ctx.payload.get('team', 'everyone')}", "state": {"sent": sent}}


def reindex(ctx: JobContext) -> dict[str, object]:
    """Long work: the kit answers 202, heartbeats with the progress, and reports the outcome."""
    for step in range(1, 4):
        if ctx.cancelled.is_set():
            break
        ctx.report_progress({"step": step, "of": 3})
        time.sleep(5)
    return {"indexed": 3, "usage": {"inputTokens": 1200, "costUsd": 0.004}}


def main() -> None:
    """Declare the jobs, then serve their deliveries until interrupted."""
    jobs = JobManager()  # AGENTOS_URL, AGENTOS_TOKEN, AGENTOS_AGENT_ID, AGENT_SECRET
    jobs.create_job(name="daily-digest", schedule="0 8 * * *", timezone="Europe/Paris", payload={"team": "core"},
                    callback=digest)
    jobs.create_job(name="reindex", interval=6 * 3_600_000, heartbeatTimeoutMs=60_000, callback=reindex)
    port = int(os.environ.get("PORT", "8080"))
    print(f"agent listening on http://127.0.0.1:{port}/", flush=True)
    jobs.server(port=port).serve_forever()


if __name__ == "__main__":
    main()
