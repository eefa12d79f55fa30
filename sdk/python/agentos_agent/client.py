"""An API client for agentOS Jobs (contract sections 2, 6–13), standard library only.

    client = Client()  # AGENTOS_URL (default http://localhost:3000/api), AGENTOS_TOKEN
    job = client.ensure_job("nightly", agentId=AGENT, schedule="0 2 * * *", payload={})
    run = client.run_job(job["id"], payload={"dry": True}, idempotency_key="deploy-42")
    for run in client.iter_runs(status="failed"):
        ...

Fields are the API's own names (``agentId``, ``timeoutMs``, ...). A refused call raises
:class:`AgentOSError` with ``status``, ``code`` (the API's ``Code``) and ``message`` (its ``Message``).
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlencode, urljoin

from . import transport
from .delivery import report_body
from .retry import Backoff, retrying

DEFAULT_URL = "http://localhost:3000/api"
Json = dict[str, Any]


class Page(list[Json]):
    """One page of a list: its items, and ``next_url`` (the ``Link: rel="next"`` target, or None)."""

    next_url: str | None = None


def _next_link(value: str | None) -> str | None:
    """The target of ``<...>; rel="next"`` in a Link header."""
    for part in (value or "").split(","):
        target, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", "") or "rel=next" in params.replace(" ", ""):
            return target.strip().strip("<>")
    return None


class Client:
    """The agentOS Jobs API with a bearer token (``AGENTOS_TOKEN``) at ``AGENTOS_URL``."""

    def __init__(self, base_url: str | None = None, token: str | None = None, timeout_s: float = 10.0) -> None:
        self.base_url = (base_url or os.environ.get("AGENTOS_URL") or DEFAULT_URL).rstrip("/")
        self.token = token if token is not None else os.environ.get("AGENTOS_TOKEN")
        self.timeout_s = timeout_s

    def request(self, method: str, path: str, body: Any = None, query: Mapping[str, Any] | None = None,
                idempotency_key: str | None = None) -> transport.Reply:
        """One call below the base URL (``path`` like ``/jobs``); the raw :class:`Reply`."""
        params = {k: v for k, v in (query or {}).items() if v is not None}
        url = self.base_url + path + (f"?{urlencode(params)}" if params else "")
        return self._send(method, url, body, idempotency_key)

    def _send(self, method: str, url: str, body: Any, idempotency_key: str | None = None) -> transport.Reply:
        headers = transport.base_headers(self.token)
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return transport.send(method, url, body, headers, self.timeout_s)

    def _json(self, method: str, path: str, body: Any = None, **options: Any) -> Any:
        return self.request(method, path, body, **options).data

    def _page(self, path: str, query: Mapping[str, Any]) -> Page:
        reply = self.request("GET", path, query=query)
        page = Page(reply.data or [])
        link = _next_link(reply.headers.get("link"))
        page.next_url = urljoin(self.base_url + "/", link) if link else None
        return page

    def _pages(self, path: str, query: Mapping[str, Any]) -> Iterator[Json]:
        page = self._page(path, query)
        while True:
            yield from page
            if not page.next_url:
                return
            reply = self._send("GET", page.next_url, None)
            page = Page(reply.data or [])
            link = _next_link(reply.headers.get("link"))
            page.next_url = urljoin(self.base_url + "/", link) if link else None

    # --- jobs (sections 2, 10) ---------------------------------------------------------------

    def health(self) -> Any:
        """``GET /health``."""
        return self._json("GET", "/health")

    def openapi(self) -> Json:
        """The API's OpenAPI document."""
        return dict(self._json("GET", "/openapi.json"))

    def create_job(self, idempotency_key: str | None = None, **fields: Any) -> Json:
        """``POST /jobs`` (201): a new job; with ``idempotency_key`` a retried create makes one job."""
        return dict(self._json("POST", "/jobs", fields, idempotency_key=idempotency_key))

    def ensure_job(self, name: str, **fields: Any) -> Json:
        """``PUT /jobs/by-name/{name}``: create the job or make it match ``fields`` (idempotent)."""
        return dict(self._json("PUT", f"/jobs/by-name/{quote(name, safe='')}", {"name": name, **fields}))

    def get_job_by_name(self, name: str) -> Json:
        """``GET /jobs/by-name/{name}``."""
        return dict(self._json("GET", f"/jobs/by-name/{quote(name, safe='')}"))

    def list_jobs(self, status: str | None = None, agent_id: str | None = None, limit: int | None = None,
                  cursor: str | None = None) -> Page:
        """One page of ``GET /jobs``; ``Page.next_url`` leads on."""
        return self._page("/jobs", {"status": status, "agentId": agent_id, "limit": limit, "cursor": cursor})

    def iter_jobs(self, status: str | None = None, agent_id: str | None = None, limit: int | None = None
                  ) -> Iterator[Json]:
        """Every job, page after page."""
        return self._pages("/jobs", {"status": status, "agentId": agent_id, "limit": limit})

    def get_job(self, job_id: str) -> Json:
        """``GET /jobs/{id}``."""
        return dict(self._json("GET", f"/jobs/{quote(job_id, safe='')}"))

    def update_job(self, job_id: str, **fields: Any) -> Json:
        """``PATCH /jobs/{id}`` with any subset of the mutable fields."""
        return dict(self._json("PATCH", f"/jobs/{quote(job_id, safe='')}", fields))

    def pause_job(self, job_id: str) -> Json:
        """Set the job's status to ``paused``."""
        return self.update_job(job_id, status="paused")

    def resume_job(self, job_id: str) -> Json:
        """Set the job's status to ``active``."""
        return self.update_job(job_id, status="active")

    def delete_job(self, job_id: str) -> None:
        """``DELETE /jobs/{id}`` (204)."""
        self.request("DELETE", f"/jobs/{quote(job_id, safe='')}")

    def run_job(self, job_id: str, payload: Mapping[str, Any] | None = None,
                idempotency_key: str | None = None) -> Json:
        """``POST /jobs/{id}/run`` (202): run now, with ``payload`` instead of the job's if given."""
        body = None if payload is None else {"payload": dict(payload)}
        return dict(self._json("POST", f"/jobs/{quote(job_id, safe='')}/run", body,
                               idempotency_key=idempotency_key))

    def job_events(self, job_id: str, limit: int | None = None) -> Page:
        """One page of ``GET /jobs/{id}/events``, newest first."""
        return self._page(f"/jobs/{quote(job_id, safe='')}/events", {"limit": limit})

    def iter_job_events(self, job_id: str) -> Iterator[Json]:
        """Every event of the job, newest first, page after page."""
        return self._pages(f"/jobs/{quote(job_id, safe='')}/events", {})

    def preview_schedule(self, schedule: str | None = None, interval: int | None = None,
                         timezone: str | None = None, count: int | None = None) -> Json:
        """``POST /schedules/preview``: ``{"next": [...], "runsPerDay": n}``."""
        body = {k: v for k, v in (("schedule", schedule), ("interval", interval), ("timezone", timezone),
                                  ("count", count)) if v is not None}
        return dict(self._json("POST", "/schedules/preview", body))

    # --- runs (sections 2, 6, 10, 13) --------------------------------------------------------

    def list_job_runs(self, job_id: str, limit: int | None = None) -> Page:
        """One page of ``GET /jobs/{id}/runs``, newest first."""
        return self._page(f"/jobs/{quote(job_id, safe='')}/runs", {"limit": limit})

    def iter_job_runs(self, job_id: str) -> Iterator[Json]:
        """Every run of the job, newest first, page after page."""
        return self._pages(f"/jobs/{quote(job_id, safe='')}/runs", {})

    def list_runs(self, status: str | None = None, agent_id: str | None = None, job_id: str | None = None,
                  trigger: str | None = None, since: str | None = None, limit: int | None = None) -> Page:
        """One page of ``GET /runs`` (every job's runs), newest first."""
        return self._page("/runs", _run_filters(status, agent_id, job_id, trigger, since, limit))

    def iter_runs(self, status: str | None = None, agent_id: str | None = None, job_id: str | None = None,
                  trigger: str | None = None, since: str | None = None, limit: int | None = None) -> Iterator[Json]:
        """Every run across jobs that matches, page after page."""
        return self._pages("/runs", _run_filters(status, agent_id, job_id, trigger, since, limit))

    def get_run(self, run_id: str) -> Json:
        """``GET /runs/{id}``."""
        return dict(self._json("GET", f"/runs/{quote(run_id, safe='')}"))

    def cancel_run(self, run_id: str) -> Json:
        """``POST /runs/{id}/cancel`` (202)."""
        return dict(self._json("POST", f"/runs/{quote(run_id, safe='')}/cancel"))

    def replay_run(self, run_id: str, idempotency_key: str | None = None) -> Json:
        """``POST /runs/{id}/replay`` (202): a new run delivered the original's payload."""
        return dict(self._json("POST", f"/runs/{quote(run_id, safe='')}/replay", idempotency_key=idempotency_key))

    def heartbeat(self, run_id: str, progress: Any = None, retry_until: float | None = None) -> Json:
        """``POST /runs/{id}/heartbeat``, retried on 5xx and connection errors until ``retry_until``."""
        body = {} if progress is None else {"progress": progress}
        path = f"/runs/{quote(run_id, safe='')}/heartbeat"
        return dict(retrying(lambda: self._json("POST", path, body), retry_until, Backoff()))

    def complete(self, run_id: str, status: str, output: Any = None, error: str | None = None,
                 usage: Mapping[str, Any] | None = None, retryable: bool = True, state: Any = None,
                 retry_until: float | None = None) -> Json:
        """``POST /runs/{id}/complete``, retried on 5xx and connection errors until ``retry_until``
        (default: one minute from now)."""
        body = report_body(status, output, error, usage, retryable, state)
        path = f"/runs/{quote(run_id, safe='')}/complete"
        until = time.time() + 60 if retry_until is None else retry_until
        return dict(retrying(lambda: self._json("POST", path, body), until, Backoff()))

    # --- agents (section 13) -----------------------------------------------------------------

    def list_agents(self) -> list[Json]:
        """``GET /agents``: every configured agent and every agent with jobs."""
        return list(self._json("GET", "/agents") or [])

    def get_agent(self, agent_id: str) -> Json:
        """``GET /agents/{id}``."""
        return dict(self._json("GET", f"/agents/{quote(agent_id, safe='')}"))


def _run_filters(status: str | None, agent_id: str | None, job_id: str | None, trigger: str | None,
                 since: str | None, limit: int | None) -> dict[str, Any]:
    return {"status": status, "agentId": agent_id, "jobId": job_id, "trigger": trigger, "since": since,
            "limit": limit}
