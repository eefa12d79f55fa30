"""Scoped tokens (README, "Guard rails"): a token limited to some agents sees only their jobs and runs."""
from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.api.auth import parse_grants
from chalicelib.errors import ConfigError
from conftest import call, job_body

MINE = "11111111-1111-4111-8111-111111111111"
OTHER = "22222222-2222-4222-8222-222222222222"
ADMIN, SCOPED = "admin-token-0123456789", "scoped-token-0123456789"


@pytest.fixture
def scoped(client: Any, configure: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Security on; an admin token and one scoped to MINE; one job (and one run) per agent."""
    monkeypatch.setenv("AGENTOS_API_TOKENS", f"{ADMIN},{SCOPED}:{MINE}")
    configure({"security": {"enabled": True}})
    admin = {"Authorization": f"Bearer {ADMIN}"}
    jobs = {}
    for name, agent in (("mine", MINE), ("other", OTHER)):
        body = job_body(name=name, agentId=agent, schedule="0 12 * * *", payload={"action": "ECHO"})
        jobs[name] = json.loads(call(client, "POST", "/api/jobs", body, admin).body)
        jobs[f"{name}-run"] = json.loads(call(client, "POST", f"/api/jobs/{jobs[name]['id']}/run", None, admin).body)
    return {"client": client, "jobs": jobs, "admin": admin, "scoped": {"Authorization": f"Bearer {SCOPED}"}}


def as_scoped(env: dict[str, Any], method: str, path: str, body: Any = None) -> Any:
    return call(env["client"], method, path, body, env["scoped"])


def test_a_scoped_token_lists_and_reads_only_its_agents_jobs(scoped: dict[str, Any]) -> None:
    mine, other = scoped["jobs"]["mine"], scoped["jobs"]["other"]
    assert [j["id"] for j in json.loads(as_scoped(scoped, "GET", "/api/jobs").body)] == [mine["id"]]
    assert json.loads(as_scoped(scoped, "GET", f"/api/jobs?agentId={OTHER}").body) == []
    assert as_scoped(scoped, "GET", f"/api/jobs/{mine['id']}").status_code == 200
    for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/run"), ("GET", "/runs")):
        answer = as_scoped(scoped, method, f"/api/jobs/{other['id']}{path}", {"description": "x"})
        assert answer.status_code == 404 and json.loads(answer.body)["Code"] == "NotFoundError", (method, path)
    run = scoped["jobs"]["other-run"]["id"]
    for method, path in (("GET", ""), ("POST", "/cancel"), ("POST", "/heartbeat")):
        assert as_scoped(scoped, method, f"/api/runs/{run}{path}").status_code == 404, path
    assert as_scoped(scoped, "GET", f"/api/runs/{scoped['jobs']['mine-run']['id']}").status_code == 200
    # the admin token still sees both
    assert len(json.loads(call(scoped["client"], "GET", "/api/jobs", None, scoped["admin"]).body)) == 2


def test_creating_or_moving_a_job_to_another_agent_is_403(scoped: dict[str, Any]) -> None:
    body = job_body(name="foreign", agentId=OTHER, schedule="0 12 * * *", payload={})
    answer = as_scoped(scoped, "POST", "/api/jobs", body)
    assert answer.status_code == 403 and json.loads(answer.body)["Code"] == "ForbiddenError"
    mine = scoped["jobs"]["mine"]["id"]
    moved = as_scoped(scoped, "PATCH", f"/api/jobs/{mine}", {"agentId": OTHER})
    assert moved.status_code == 403 and json.loads(moved.body)["Message"].startswith("agentId")
    assert json.loads(call(scoped["client"], "GET", f"/api/jobs/{mine}", None, scoped["admin"]).body)["agentId"] == MINE
    created = as_scoped(scoped, "POST", "/api/jobs", {**body, "name": "mine-2", "agentId": MINE})
    assert created.status_code == 201


@settings(max_examples=220, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=st.tuples(
    st.sampled_from(["GET", "PATCH", "DELETE", "POST"]),
    st.sampled_from(["/api/jobs", "/api/jobs?agentId={other_agent}", "/api/jobs?status=active", "/api/jobs/{mine}",
                     "/api/jobs/{other}", "/api/jobs/{other}/runs", "/api/jobs/{other}/run",
                     "/api/runs/{other_run}", "/api/runs/{other_run}/cancel", "/api/runs/{mine_run}"]),
    st.sampled_from([None, {"description": "d"}, {"agentId": OTHER}, {"status": "paused"}])))
def test_a_scoped_token_never_sees_a_foreign_job(scoped: dict[str, Any], request: tuple[str, str, Any]) -> None:
    method, template, body = request
    jobs = scoped["jobs"]
    path = template.format(mine=jobs["mine"]["id"], other=jobs["other"]["id"], other_agent=OTHER,
                           other_run=jobs["other-run"]["id"], mine_run=jobs["mine-run"]["id"])
    answer = as_scoped(scoped, method, path, body)
    text = answer.body.decode() if isinstance(answer.body, bytes) else str(answer.body)
    # A 404 echoes the id the caller sent, a 403 the agent it asked for: nothing it did not know.
    if answer.status_code not in (403, 404):
        assert jobs["other"]["id"] not in text and OTHER not in text and jobs["other-run"]["id"] not in text
    assert answer.status_code < 500, text
    other = json.loads(call(scoped["client"], "GET", f"/api/jobs/{jobs['other']['id']}", None, scoped["admin"]).body)
    assert other["id"] == jobs["other"]["id"]  # nothing a scoped token did touched it


def test_a_malformed_scoped_entry_names_its_position_not_the_token() -> None:
    with pytest.raises(ConfigError) as info:
        parse_grants(f"{ADMIN},s3cr3t-value:not-a-uuid")
    assert "entry 2 of 2" in info.value.message and "s3cr3t" not in info.value.message
    assert [g.agents for g in parse_grants(f"{ADMIN},{SCOPED}:{MINE}|{OTHER.upper()}")] == [None,
                                                                                          frozenset({MINE, OTHER})]


THIRD = "33333333-3333-4333-8333-333333333333"
MULTI = "multi-token-0123456789"


def _link_cursor(answer: Any) -> str | None:
    """The cursor of a list answer's ``Link: <…>; rel="next"``, if any."""
    from urllib.parse import parse_qs, urlsplit

    link = answer.headers.get("Link") or answer.headers.get("link")
    return parse_qs(urlsplit(link[1:link.index(">")]).query)["cursor"][0] if link else None


def test_a_token_scoped_to_several_agents_pages_through_only_their_jobs(
        client: Any, configure: Any, fake_clock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scope MINE|THIRD among three agents: each of their jobs once, no empty page with a Link, a
    cursor naming nothing of OTHER's, and items read per page bounded by the page, not the table."""
    import base64

    from bench.counting import CallCounter, attach_models
    from chalicelib.store.models import JobModel

    monkeypatch.setenv("AGENTOS_API_TOKENS", f"{ADMIN},{MULTI}:{MINE}|{THIRD}")
    configure({"security": {"enabled": True}})
    admin, multi = {"Authorization": f"Bearer {ADMIN}"}, {"Authorization": f"Bearer {MULTI}"}
    agents = (OTHER, MINE, OTHER, THIRD, OTHER)  # OTHER's jobs outnumber the scope's
    jobs = {}
    for i in range(20):
        body = job_body(name=f"multi{i}", agentId=agents[i % len(agents)], schedule="0 12 * * *", payload={})
        job = json.loads(call(client, "POST", "/api/jobs", body, admin).body)
        jobs[job["id"]] = job["agentId"]
    mine = sorted(j for j, a in jobs.items() if a != OTHER)
    foreign = [j for j, a in jobs.items() if a == OTHER]
    counter = CallCounter().install()
    try:
        attach_models(counter, JobModel)
        for limit in (1, 7):
            seen, cursor, pages = [], None, 0
            while True:
                query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
                with counter.measure() as tally:
                    answer = call(client, "GET", f"/api/jobs{query}", None, multi)
                assert answer.status_code == 200, answer.body
                page, cursor, pages = json.loads(answer.body), _link_cursor(answer), pages + 1
                assert page or cursor is None, f"page {pages} is empty and has a next link"
                assert tally.items_read <= 2 * limit + 2, (limit, pages, tally.items_read)
                text = answer.body.decode() + str(answer.headers)
                assert OTHER not in text and not any(j in text for j in foreign)
                if cursor:
                    decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
                    assert OTHER not in decoded and not any(j in decoded for j in foreign), decoded
                seen += [j["id"] for j in page]
                if cursor is None:
                    break
            assert sorted(seen) == mine and len(seen) == len(set(seen))
            assert pages <= len(mine) // limit + 2
    finally:
        counter.uninstall()


@pytest.mark.parametrize("after", [f"{OTHER}#job-0123456789abcdef", f"{OTHER}#"])
def test_a_cursor_naming_an_agent_outside_the_scope_is_a_400(client: Any, configure: Any,
                                                              monkeypatch: pytest.MonkeyPatch, after: str) -> None:
    """A forged cursor cannot make a token scoped to several agents read another agent's range."""
    import base64

    monkeypatch.setenv("AGENTOS_API_TOKENS", f"{MULTI}:{MINE}|{THIRD}")
    configure({"security": {"enabled": True}})
    cursor = base64.urlsafe_b64encode(json.dumps(["active", after]).encode()).decode().rstrip("=")
    answer = call(client, "GET", f"/api/jobs?cursor={cursor}", None, {"Authorization": f"Bearer {MULTI}"})
    assert answer.status_code == 400 and json.loads(answer.body)["Code"] == "BadRequestError", answer.body
