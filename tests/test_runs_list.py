"""``GET /api/runs`` (contract section 13): runs across jobs, newest first, filtered, paged, each page
reading about its own size; a scoped token sees only its agents' runs (on moto)."""
from __future__ import annotations

from typing import Any

import pytest

from chalicelib import runtime
from chalicelib.store.models import RunModel
from chalicelib.store.run_index import RunFilter, RunIndex, run_day
from conftest import AGENT_ID, call, job_body

OTHER = "6f1c2d7e-0000-4000-8000-000000000001"
NOW = 1_893_456_000_000  # 2030-01-01T00:00:00Z (the fake clock)


def seed(job_id: str, count: int, start_ms: int, step_ms: int, status: str = "succeeded",
         trigger: str = "schedule") -> list[str]:
    """Write ``count`` run items of ``job_id`` directly, one every ``step_ms`` from ``start_ms`` (a failed
    one with its failedDay, as a failed run's final write leaves it)."""
    ids = []
    with RunModel.batch_write() as batch:
        for i in range(count):
            at = start_ms + i * step_ms
            run_id = f"run-{at:013d}-{job_id[4:]}"
            batch.save(RunModel(job_id, run_id, trigger=trigger, scheduledAt=at, status=status, attempt=1,
                                runDay=run_day(run_id), failedDay=run_day(run_id) if status == "failed" else None))
            ids.append(run_id)
    return ids


def make_job(client: Any, name: str, agent: str = AGENT_ID) -> str:
    answer = call(client, "POST", "/api/jobs", job_body(name=name, agentId=agent))
    assert answer.status_code == 201, answer.body
    return str(answer.json_body["id"])


@pytest.fixture
def clocked(fake_clock: Any, client: Any, configure: Any) -> Any:
    configure({})
    return client


def pages(client: Any, query: str) -> list[list[dict[str, Any]]]:
    """Every page of ``GET /api/runs?<query>``, following the Link header."""
    found, path = [], f"/api/runs?{query}"
    for _ in range(100):
        answer = call(client, "GET", path)
        assert answer.status_code == 200, answer.body
        found.append(answer.json_body)
        link = answer.headers.get("Link") or answer.headers.get("link")
        if not link:
            return found
        path = link[link.index("<") + 1:link.index(">")]
        path = path[path.index("/api/"):]
    raise AssertionError("too many pages")


def test_runs_across_jobs_newest_first_and_paged(clocked: Any) -> None:
    a, b = make_job(clocked, "a"), make_job(clocked, "b")
    ids = seed(a, 30, NOW - 3 * 86_400_000, 3_600_000) + seed(b, 30, NOW - 3 * 86_400_000 + 1, 3_600_000)
    got = pages(clocked, "limit=7")
    listed = [r["id"] for page in got for r in page]
    assert listed == sorted(ids, reverse=True)
    assert all(len(page) <= 7 for page in got) and len(got) >= 9


def test_filters_by_job_status_trigger_since_and_agent(clocked: Any) -> None:
    a, b = make_job(clocked, "a"), make_job(clocked, "b", OTHER)
    seed(a, 10, NOW - 86_400_000, 60_000)
    failed = seed(a, 3, NOW - 3_600_000, 60_000, status="failed")
    manual = seed(b, 4, NOW - 7_200_000, 60_000, trigger="manual")
    flat = lambda q: [r["id"] for page in pages(clocked, q) for r in page]  # noqa: E731
    assert flat("status=failed") == sorted(failed, reverse=True)
    assert flat("trigger=manual") == sorted(manual, reverse=True)
    assert flat(f"jobId={b}") == sorted(manual, reverse=True)
    assert flat(f"agentId={OTHER}") == sorted(manual, reverse=True)
    assert flat("since=2029-12-31T22:30:00Z") == sorted(failed, reverse=True)
    assert flat(f"jobId={a}&status=failed&limit=2") == sorted(failed, reverse=True)


@pytest.mark.parametrize("query", ["status=done", "trigger=cron", "since=yesterday", "agentId=x", "limit=0",
                                   "limit=1001", "stauts=failed", "jobId=", "jobId=nope"])
def test_bad_queries_are_400(clocked: Any, query: str) -> None:
    assert call(clocked, "GET", f"/api/runs?{query}").status_code == 400


def test_a_page_reads_about_its_own_size(clocked: Any) -> None:
    a = make_job(clocked, "a")
    seed(a, 2_000, NOW - 2 * 86_400_000, 60_000)
    seed(a, 5, NOW - 3 * 86_400_000, 60_000, status="failed")
    index = RunIndex()
    runs, cursor = index.page(RunFilter(), 100, None, NOW)
    assert len(runs) == 100 and cursor is not None and index.items_read <= 2 * 100 + 2
    filtered = RunIndex()
    runs, cursor = filtered.page(RunFilter(trigger="manual"), 100, None, NOW)
    assert filtered.items_read <= 2 * 2 * 100 + 2 and cursor is not None  # short page, never a big read


def test_failed_runs_come_from_their_sparse_index(clocked: Any) -> None:
    a = make_job(clocked, "a")
    seed(a, 2_000, NOW - 2 * 86_400_000, 60_000)
    failed = seed(a, 5, NOW - 3 * 86_400_000, 60_000, status="failed")
    index = RunIndex()
    runs, _ = index.page(RunFilter(status="failed"), 100, None, NOW)
    assert [r.id for r in runs] == sorted(failed, reverse=True)
    assert index.items_read == 2 * len(failed)  # its keys and its items: nothing else


def test_a_scoped_token_sees_only_its_agents_runs(clocked: Any, configure: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = make_job(clocked, "a"), make_job(clocked, "b", OTHER)
    mine = seed(a, 3, NOW - 60_000, 1_000)
    seed(b, 3, NOW - 60_000, 1_000)
    monkeypatch.setenv("AGENTOS_API_TOKENS", f"scoped:{AGENT_ID}")
    configure({"security": {"enabled": True}})
    headers = {"Authorization": "Bearer scoped"}
    seen = call(clocked, "GET", "/api/runs", headers=headers)
    assert seen.status_code == 200 and [r["id"] for r in seen.json_body] == sorted(mine, reverse=True)
    assert call(clocked, "GET", f"/api/runs?agentId={OTHER}", headers=headers).json_body == []


def test_runs_the_engine_makes_are_listed(clocked: Any) -> None:
    job = make_job(clocked, "now")
    run = runtime.jobs().run_now(job)
    assert [r["id"] for r in call(clocked, "GET", "/api/runs").json_body] == [run["id"]]
