"""chalicelib.store.jobs: jobs-table transactions under conflicts and races (docs/reliability.md, section 8)."""
from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib import runtime
from chalicelib.errors import ConcurrentUpdate
from chalicelib.store.models import JobModel, NameClaim
from conftest import call, job_body
from fault_injector import Injector

TRANSACTIONS = ("create", "rename", "delete")


def _status(response: Any) -> tuple[int, dict[str, Any]]:
    return response.status_code, json.loads(response.body) if response.body else {}


def _create(client: Any, name: str = "first") -> dict[str, Any]:
    response = call(client, "POST", "/api/jobs", job_body(name=name))
    assert response.status_code == 201, response.body
    return json.loads(response.body)


def _request(client: Any, kind: str, job: dict[str, Any] | None) -> Any:
    if kind == "create":
        return call(client, "POST", "/api/jobs", job_body(name="second"))
    assert job is not None
    if kind == "rename":
        return call(client, "PATCH", f"/api/jobs/{job['id']}", {"name": "renamed"})
    return call(client, "DELETE", f"/api/jobs/{job['id']}")


def _names() -> set[str]:
    return {item.id for item in NameClaim.scan(NameClaim.id.startswith("name#"))}


@pytest.mark.parametrize("kind", TRANSACTIONS)
def test_a_transaction_conflict_is_written_again(client: Any, fake_clock: Any, faults: Injector,
                                                 kind: str) -> None:
    """Two TransactionConflicts in a row: the third try commits; the caller sees success."""
    job = _create(client) if kind != "create" else None
    fault = faults.add("dynamodb", "TransactWriteItems", kind="conflict", times=2)
    status, _ = _status(_request(client, kind, job))
    assert fault.fired == 2
    assert status == {"create": 201, "rename": 200, "delete": 204}[kind]
    expected = {"create": {"name#second"}, "rename": {"name#renamed"}, "delete": set()}[kind]
    assert _names() == expected


@pytest.mark.parametrize("kind", TRANSACTIONS)
def test_a_transaction_that_keeps_conflicting_is_a_409_and_changes_nothing(
        client: Any, fake_clock: Any, faults: Injector, kind: str) -> None:
    """Not a 503 (the table is fine: another write holds the item); nothing is written."""
    job = _create(client) if kind != "create" else None
    before = _names()
    fault = faults.add("dynamodb", "TransactWriteItems", kind="conflict", times=100)
    status, error = _status(_request(client, kind, job))
    assert (status, error["Code"]) == (409, "ConflictError"), error
    assert "retry" in error["Message"]
    assert 2 <= fault.fired <= 6  # a few short tries, not a loop
    assert _names() == before


def test_delete_racing_a_rename_is_a_409_and_the_job_survives(engine: dict[str, Any],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The DELETE read the job, then a rename moved its name claim: the job exists, so not 404."""
    service = runtime.jobs()
    job = service.create(job_body(name="before"))
    store = runtime.job_store()
    read = store.get

    def read_then_rename(job_id: str, consistent: bool = True) -> JobModel:
        found = read(job_id, consistent)
        monkeypatch.setattr(store, "get", read)  # once: the rename reads normally
        service.update(job_id, {"name": "after"})
        return found

    monkeypatch.setattr(store, "get", read_then_rename)
    with pytest.raises(ConcurrentUpdate):
        service.delete(job["id"])
    assert service.get(job["id"])["name"] == "after"
    service.delete(job["id"])  # the retry the 409 asks for succeeds
    assert _names() == set()


# --- listing costs O(page) (docs/reliability.md, section 8, item 5)

OTHER_AGENT = "123e4567-e89b-12d3-a456-426614174000"


def _population(count: int = 90) -> dict[str, set[str]]:
    """``count`` jobs: every third paused, agents alternating; their ids by filter."""
    from conftest import AGENT_ID

    service = runtime.jobs()
    ids: dict[str, set[str]] = {"all": set(), "paused": set(), "other": set(), "other-paused": set()}
    for i in range(count):
        agent = OTHER_AGENT if i % 2 else AGENT_ID
        job = service.create(job_body(name=f"job{i}", agentId=agent))
        if i % 3 == 0:
            service.update(job["id"], {"status": "paused"})
        for key, hit in (("all", True), ("paused", i % 3 == 0), ("other", i % 2),
                         ("other-paused", i % 2 and i % 3 == 0)):
            if hit:
                ids[key].add(job["id"])
    return ids


@pytest.mark.parametrize("filters, expected", [({}, "all"), ({"status": "paused"}, "paused"),
                                               ({"agent_id": OTHER_AGENT}, "other"),
                                               ({"status": "paused", "agent_id": OTHER_AGENT}, "other-paused")])
def test_every_list_page_reads_about_its_own_size(aws: dict[str, str], fake_clock: Any, configure: Any,
                                                   filters: dict[str, str], expected: str) -> None:
    """Items read per page (index entries + jobs fetched) stay within 2 x limit (+1 per status
    partition crossed), whatever the filters; every job is listed exactly once."""
    from bench.counting import CallCounter, attach_models

    configure({})
    population = _population()
    counter = CallCounter().install()
    try:
        attach_models(counter, JobModel)
        for limit in (1, 7):
            seen, cursor, pages = [], None, 0
            while True:
                with counter.measure() as tally:
                    jobs, cursor = runtime.jobs().list(filters.get("status"), filters.get("agent_id"), limit, cursor)
                pages += 1
                assert len(jobs) <= limit
                assert tally.items_read <= 2 * limit + 4, (limit, pages, dict(tally.calls), tally.items_read)
                assert tally.service_calls("dynamodb") <= 6, dict(tally.calls)
                seen += [j["id"] for j in jobs]
                if cursor is None:
                    break
            assert sorted(seen) == sorted(population[expected])
            assert pages <= len(population[expected]) // limit + 5
    finally:
        counter.uninstall()


# --- a token scoped to several agents lists by querying each agent's range (review finding 7)

AGENTS = ("11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222",
          "33333333-3333-4333-8333-333333333333", "44444444-4444-4444-8444-444444444444")


def _cursor_strings(cursor: str) -> list[str]:
    """What an opaque list cursor holds once decoded (the test looks inside; clients may not)."""
    import base64

    raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    return [str(part) for part in raw]


def _agent_population(count: int = 40) -> dict[str, dict[str, str]]:
    """``count`` jobs, agents in turn (their ids interleave), every third paused: id -> agent, status."""
    service, jobs = runtime.jobs(), {}
    for i in range(count):
        job = service.create(job_body(name=f"scoped{i}", agentId=AGENTS[i % len(AGENTS)]))
        if i % 3 == 0:
            service.update(job["id"], {"status": "paused"})
        jobs[job["id"]] = {"agent": job["agentId"], "status": "paused" if i % 3 == 0 else "active"}
    return jobs


@pytest.mark.parametrize("scope, status", [(AGENTS[1:3], None), (AGENTS[::2][:2] + AGENTS[3:], None),
                                           (AGENTS[:2], "paused"), (AGENTS[1:], "active")])
def test_a_scope_of_several_agents_reads_only_their_ranges(aws: dict[str, str], fake_clock: Any, configure: Any,
                                                           scope: tuple[str, ...], status: str | None) -> None:
    """Every in-scope job exactly once; no empty page with a next cursor; cursors name only in-scope
    keys; items read per page within 2 x limit + a constant per (status, agent) range crossed."""
    from bench.counting import CallCounter, attach_models

    configure({})
    population = _agent_population()
    expected = sorted(j for j, v in population.items() if v["agent"] in scope and status in (None, v["status"]))
    foreign = [j for j, v in population.items() if v["agent"] not in scope]
    ranges = len(scope) * (1 if status else 4)
    counter = CallCounter().install()
    try:
        attach_models(counter, JobModel)
        for limit in (1, 7):
            seen: list[str] = []
            cursor: str | None = None
            while True:
                with counter.measure() as tally:
                    jobs, cursor = runtime.jobs().list(status, None, limit, cursor, frozenset(scope))
                assert jobs or cursor is None, "an empty page with a next cursor"
                assert len(jobs) <= limit
                assert tally.items_read <= 2 * limit + 2, (limit, dict(tally.calls), tally.items_read)
                assert tally.service_calls("dynamodb") <= ranges + 1, dict(tally.calls)
                assert all(j["agentId"] in scope for j in jobs)
                seen += [j["id"] for j in jobs]
                if cursor is None:
                    break
                for part in _cursor_strings(cursor):
                    assert "#" not in part or part.split("#")[0] in scope, part
                    assert not any(job_id in part for job_id in foreign), part
            assert sorted(seen) == expected
            assert len(seen) == len(set(seen))
    finally:
        counter.uninstall()
