"""Admission (contract section 11): origins, lineage through a run's callback token, and the
per-agent quotas (maxJobs, minIntervalMs, maxRunsPerDay, maxDepth), on moto."""
from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from chalicelib import runtime
from chalicelib.clock import now_ms
from chalicelib.engine import callbacks
from chalicelib.errors import QuotaExceeded, StoreUnavailable
from chalicelib.store.models import AgentModel, JobModel, agent_item_id
from conftest import AGENT_ID, call, create_job, delivery, drive, job_body
from fault_injector import Crash
from invariants import assert_invariants

OTHER_AGENT = "7d444840-9dc0-11d1-b245-5ffdce74fad2"
HOUR_MS = 3_600_000


def quota_config(configure: Any, **quota: Any) -> None:
    """A config whose agent AGENT_ID has ``quota`` (and OTHER_AGENT none)."""
    configure({"agents": {AGENT_ID: {"quota": quota}, OTHER_AGENT: {"maxConcurrent": 5}}})


def post(client: Any, body: dict[str, Any], token: str | None = None, **headers: str) -> Any:
    """POST /api/jobs, with a bearer token if given."""
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return call(client, "POST", "/api/jobs", body, headers)


def refused(answer: Any, quota: str, limit: int, value: int) -> None:
    """The answer is the 403 QuotaExceededError naming ``quota``, its limit and the value reached."""
    assert answer.status_code == 403, answer.body
    body = json.loads(answer.body)
    assert body["Code"] == "QuotaExceededError"
    assert quota in body["Message"] and f"limit is {limit}" in body["Message"], body["Message"]
    assert f"would reach {value}" in body["Message"], body["Message"]


def job_ids() -> set[str]:
    """Every job stored."""
    return {j.id for j in JobModel.scan(JobModel.id.startswith("job-"), consistent_read=True)}


def counter(agent_id: str = AGENT_ID) -> tuple[int | None, int | None]:
    """The agent's quota counters (jobCount, runsPerDay)."""
    item = AgentModel.get(agent_item_id(agent_id), consistent_read=True)
    return (None if item.jobCount is None else int(item.jobCount),
            None if item.runsPerDay is None else int(item.runsPerDay))


def run_token(job: dict[str, Any], at_ms: int = 1_893_456_000_000) -> str:
    """A callback token of a run of ``job`` (as the executor mints for a delivery)."""
    run_id = f"run-{at_ms:013d}-{job['id'].removeprefix('job-')}"
    return callbacks.mint(run_id, 1, now_ms() + 60_000)


# --- origin and lineage ------------------------------------------------------------------------

@pytest.mark.parametrize(("header", "via"), [(None, "api"), ("console", "console"), ("kit", "kit"),
                                             ("Kit", "kit"), ("curl", "api")])
def test_the_client_header_names_the_origin(client: Any, header: str | None, via: str) -> None:
    headers = {"X-AgentOS-Client": header} if header else {}
    answer = post(client, job_body(), **headers)
    assert answer.status_code == 201, answer.body
    assert json.loads(answer.body)["origin"] == {"via": via, "runId": None, "depth": 0}


def test_a_delivered_callback_token_creates_a_follow_up_job_one_level_deeper(stack: dict[str, Any]) -> None:
    # Given a run in progress that was handed a callback token
    stack["agent"].respond_with(202, body="working")
    parent = create_job(stack, name="parent")
    drive(stack, 6)
    sent = delivery(stack)
    # When the agent creates a job with that token
    answer = post(stack["client"], job_body(name="follow-up", schedule="0 9 * * *"), sent["callbackToken"])
    # Then it is made via the run, one level deeper, for the same agent
    assert answer.status_code == 201, answer.body
    made = json.loads(answer.body)
    assert made["origin"] == {"via": "run", "runId": sent["runId"], "depth": 1}
    assert made["agentId"] == AGENT_ID and parent["origin"]["depth"] == 0
    # and the follow-up's own runs make jobs one level deeper again
    grandchild = post(stack["client"], job_body(name="grandchild"), run_token(made))
    assert json.loads(grandchild.body)["origin"]["depth"] == 2


def test_a_callback_token_may_declare_a_job_by_name(engine: dict[str, Any], client: Any) -> None:
    parent = runtime.jobs().create(job_body(name="parent"))
    body = {k: v for k, v in job_body().items() if k != "name"}
    answer = call(client, "PUT", "/api/jobs/by-name/declared", body, {"Authorization": f"Bearer {run_token(parent)}"})
    assert answer.status_code == 201, answer.body
    assert json.loads(answer.body)["origin"]["via"] == "run"
    assert json.loads(answer.body)["origin"]["depth"] == 1


def test_a_callback_token_creates_nothing_for_another_agent(engine: dict[str, Any], client: Any) -> None:
    parent = runtime.jobs().create(job_body(name="parent"))
    before = job_ids()
    answer = post(client, job_body(name="elsewhere", agentId=OTHER_AGENT), run_token(parent))
    assert answer.status_code == 403, answer.body
    assert json.loads(answer.body)["Code"] == "ForbiddenError"
    assert job_ids() == before


def test_a_forged_or_expired_or_version_1_callback_token_creates_nothing(engine: dict[str, Any],
                                                                          client: Any) -> None:
    parent = runtime.jobs().create(job_body(name="parent"))
    good = run_token(parent)
    run_id = good.split(".")[1]
    expired = callbacks.mint(run_id, 1, now_ms() - 2 * callbacks.TOKEN_GRACE_S * 1000)
    forged = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    version_1 = "v1." + good.split(".", 2)[2]  # no run id in it: it cannot say which run it speaks for
    for token in (expired, forged, version_1):
        answer = post(client, job_body(name=f"n{len(token)}-{token[-3:]}"), token)
        assert answer.status_code == 401, (token, answer.body)
    assert job_ids() == {parent["id"]}


def test_a_callback_token_opens_nothing_else(client: Any, configure: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTOS_API_TOKENS", "admission-token-3f9c")
    configure({"security": {"enabled": True}})
    parent = post(client, job_body(name="parent"), "admission-token-3f9c")
    assert parent.status_code == 201, parent.body
    job = json.loads(parent.body)
    auth = {"Authorization": f"Bearer {run_token(job)}"}
    # creating works with it
    assert post(client, job_body(name="child"), run_token(job)).status_code == 201
    # nothing else does
    for method, path in [("GET", "/api/jobs"), ("GET", f"/api/jobs/{job['id']}"), ("DELETE", f"/api/jobs/{job['id']}"),
                         ("PATCH", f"/api/jobs/{job['id']}"), ("POST", f"/api/jobs/{job['id']}/run"),
                         ("GET", f"/api/jobs/{job['id']}/runs"), ("POST", "/api/schedules/preview")]:
        answer = call(client, method, path, {"description": "x"} if method == "PATCH" else None, auth)
        assert answer.status_code == 401, (method, path, answer.status_code)


def test_a_v2_token_reports_only_on_its_own_run_and_v1_tokens_still_report() -> None:
    token = callbacks.mint("run-1893456000000-abc", 2, 1_893_456_000_000)
    assert token.startswith("v2.run-1893456000000-abc.2.")
    assert callbacks.looks_like_token(token)
    assert callbacks.verify(token, "run-1893456000000-abc", 1_893_456_000_000) == ("run-1893456000000-abc", 2)
    assert callbacks.verify(token, "run-1893456000000-abd", 1_893_456_000_000) is None
    assert callbacks.verify_any(token, 1_893_456_000_000) == ("run-1893456000000-abc", 2)
    version_1 = "v1." + token.split(".", 2)[2]
    assert callbacks.looks_like_token(version_1)
    assert callbacks.verify(version_1, "run-1893456000000-abc", 1_893_456_000_000) == ("run-1893456000000-abc", 2)
    assert callbacks.verify_any(version_1, 1_893_456_000_000) is None


def test_beyond_max_depth_is_refused_and_nothing_is_written(engine: dict[str, Any], configure: Any,
                                                            client: Any) -> None:
    quota_config(configure, maxDepth=1)
    parent = runtime.jobs().create(job_body(name="parent"))
    child = post(client, job_body(name="child"), run_token(parent))
    assert child.status_code == 201, child.body
    before = job_ids()
    grandchild = post(client, job_body(name="grandchild"), run_token(json.loads(child.body)))
    refused(grandchild, "maxDepth", 1, 2)
    assert job_ids() == before


def test_max_depth_defaults_to_3(engine: dict[str, Any], client: Any) -> None:
    job = runtime.jobs().create(job_body(name="depth-0"))
    for depth in (1, 2, 3):
        answer = post(client, job_body(name=f"depth-{depth}"), run_token(job))
        assert answer.status_code == 201, answer.body
        job = json.loads(answer.body)
        assert job["origin"]["depth"] == depth
    refused(post(client, job_body(name="depth-4"), run_token(job)), "maxDepth", 3, 4)


# --- maxJobs -----------------------------------------------------------------------------------

def test_max_jobs_refuses_the_next_create_and_a_delete_frees_a_slot(engine: dict[str, Any], configure: Any,
                                                                    client: Any) -> None:
    quota_config(configure, maxJobs=3)
    made = [json.loads(post(client, job_body(name=f"j{i}")).body) for i in range(3)]
    refused(post(client, job_body(name="j3")), "maxJobs", 3, 4)
    assert len(job_ids()) == 3 and counter()[0] == 3
    # another agent is not limited by it
    assert post(client, job_body(name="other", agentId=OTHER_AGENT)).status_code == 201
    # a delete gives the slot back
    assert call(client, "DELETE", f"/api/jobs/{made[0]['id']}").status_code == 204
    assert counter()[0] == 2
    assert post(client, job_body(name="j3")).status_code == 201
    assert counter()[0] == 3


def test_eight_concurrent_creates_against_max_jobs_3_make_exactly_3(engine: dict[str, Any],
                                                                    configure: Any) -> None:
    quota_config(configure, maxJobs=3)
    service = runtime.jobs()
    service.create(job_body(name="warm-up"))  # starts the counter (1 of 3)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def create(i: int) -> None:
        barrier.wait()
        try:
            service.create(job_body(name=f"racer-{i}"))
            outcomes.append("created")
        except QuotaExceeded:
            outcomes.append("refused")

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created"] * 2 + ["refused"] * 6
    assert len(job_ids()) == 3 and counter()[0] == 3


def test_a_quota_configured_on_an_agent_with_jobs_counts_them_first(engine: dict[str, Any], configure: Any,
                                                                     client: Any) -> None:
    # Given two jobs made before the agent had a quota (no counters kept)
    for i in range(2):
        assert post(client, job_body(name=f"old-{i}", interval=HOUR_MS, schedule=None)).status_code == 201
    assert AgentModel.count(agent_item_id(AGENT_ID)) == 0
    # When maxJobs 3 is configured, one more fits, then the next is refused
    quota_config(configure, maxJobs=3, maxRunsPerDay=100)
    assert post(client, job_body(name="new")).status_code == 201
    assert counter() == (3, 24 + 24 + 6)
    refused(post(client, job_body(name="too-many")), "maxJobs", 3, 4)


def test_moving_a_job_to_a_full_agent_is_refused_and_a_move_out_frees_a_slot(engine: dict[str, Any],
                                                                              configure: Any, client: Any) -> None:
    quota_config(configure, maxJobs=1)
    assert post(client, job_body(name="full")).status_code == 201
    elsewhere = json.loads(post(client, job_body(name="elsewhere", agentId=OTHER_AGENT)).body)
    answer = call(client, "PATCH", f"/api/jobs/{elsewhere['id']}", {"agentId": AGENT_ID})
    refused(answer, "maxJobs", 1, 2)
    assert JobModel.get(elsewhere["id"]).agentId == OTHER_AGENT


# --- minIntervalMs and maxRunsPerDay --------------------------------------------------------------

@pytest.mark.parametrize(("timing", "gap"), [({"interval": 1000, "schedule": None}, 1000),
                                             ({"schedule": "*/5 * * * *"}, 300_000),
                                             ({"schedule": "0,1 9 * * *"}, 60_000)])
def test_min_interval_refuses_a_schedule_with_a_shorter_gap(engine: dict[str, Any], configure: Any,
                                                            client: Any, timing: dict[str, Any], gap: int) -> None:
    quota_config(configure, minIntervalMs=HOUR_MS)
    refused(post(client, job_body(**timing)), "minIntervalMs", HOUR_MS, gap)
    assert job_ids() == set()


def test_min_interval_allows_an_hourly_job_and_a_single_run(engine: dict[str, Any], configure: Any,
                                                            client: Any) -> None:
    quota_config(configure, minIntervalMs=HOUR_MS)
    assert post(client, job_body(name="hourly", schedule="0 * * * *")).status_code == 201
    assert post(client, job_body(name="once", schedule="2030-01-02T00:00:00Z")).status_code == 201
    # a bounded fast job with a single start in its bounds has no gap
    assert post(client, job_body(name="one-start", schedule=None, interval=1000, maxRuns=1)).status_code == 201


def test_max_runs_per_day_sums_the_agents_active_jobs(engine: dict[str, Any], configure: Any, client: Any) -> None:
    quota_config(configure, maxRunsPerDay=48)
    hourly = dict(schedule="0 * * * *")
    first = json.loads(post(client, job_body(name="a", **hourly)).body)
    assert post(client, job_body(name="b", **hourly)).status_code == 201
    refused(post(client, job_body(name="c", **hourly)), "maxRunsPerDay", 48, 72)
    assert counter() == (2, 48)
    # pausing a job gives its runs back; resuming it then is refused
    assert call(client, "PATCH", f"/api/jobs/{first['id']}", {"status": "paused"}).status_code == 200
    assert counter() == (2, 24)
    assert post(client, job_body(name="c", **hourly)).status_code == 201
    refused(call(client, "PATCH", f"/api/jobs/{first['id']}", {"status": "active"}), "maxRunsPerDay", 48, 72)
    assert JobModel.get(first["id"]).status == "paused"


def test_jobs_that_ended_on_their_own_give_their_runs_back_before_a_refusal(stack: dict[str, Any],
                                                                           configure: Any) -> None:
    configure({"agents": {AGENT_ID: {"url": stack["agent"].url, "quota": {"maxRunsPerDay": 2}}}})
    # Given two single runs that fill the agent's runs per day, one of which runs and completes
    done = create_job(stack, name="done")  # at 00:00:05
    create_job(stack, name="later", schedule="2030-01-01T12:00:00Z")
    assert counter() == (2, 2)
    with pytest.raises(QuotaExceeded):
        create_job(stack, name="refused", schedule="2030-01-01T13:00:00Z")
    drive(stack, 6)
    assert JobModel.get(done["id"]).status == "completed"
    # When another one is created, the completed job's run is given back first: it fits
    create_job(stack, name="fits", schedule="2030-01-01T13:00:00Z")
    assert counter() == (3, 2)
    assert int(JobModel.get(done["id"]).runsPerDay) == 0
    assert_invariants(now_ms())
    # and the sum is exact again: the next one is refused, naming the quota
    with pytest.raises(QuotaExceeded, match="maxRunsPerDay: the limit is 2, this request would reach 3"):
        create_job(stack, name="refused", schedule="2030-01-01T14:00:00Z")


def test_a_patch_beyond_a_quota_is_refused_and_changes_nothing(engine: dict[str, Any], configure: Any,
                                                                client: Any) -> None:
    quota_config(configure, minIntervalMs=60_000, maxRunsPerDay=100)
    job = json.loads(post(client, job_body(name="slow", schedule=None, interval=HOUR_MS)).body)
    refused(call(client, "PATCH", f"/api/jobs/{job['id']}", {"interval": 1000}), "minIntervalMs", 60_000, 1000)
    refused(call(client, "PATCH", f"/api/jobs/{job['id']}", {"interval": 600_000, "description": "faster"}),
            "maxRunsPerDay", 100, 144)
    after = json.loads(call(client, "GET", f"/api/jobs/{job['id']}").body)
    assert (after["interval"], after["description"], after["updatedAt"]) == (HOUR_MS, job["description"],
                                                                             job["updatedAt"])
    assert counter() == (1, 24)
    # within the quota it passes, and the sum follows
    assert call(client, "PATCH", f"/api/jobs/{job['id']}", {"interval": 900_000}).status_code == 200
    assert counter() == (1, 96)


# --- faults ---------------------------------------------------------------------------------------

def _is_create(params: dict[str, Any]) -> bool:
    return any("Put" in item for item in params.get("TransactItems", []))


@pytest.mark.parametrize("kind", ["throttle", "lost", "crash"])
def test_a_fault_at_the_create_transaction_leaves_the_counter_equal_to_the_jobs(
        engine: dict[str, Any], configure: Any, faults: Any, kind: str) -> None:
    quota_config(configure, maxJobs=5)
    service = runtime.jobs()
    service.create(job_body(name="first"))
    fault = faults.add("dynamodb", "TransactWriteItems", kind=kind, match=_is_create)
    with pytest.raises((StoreUnavailable, Crash)):  # a 503, or the process dying
        service.create(job_body(name="faulted"))
    assert fault.fired == 1
    faults.clear()
    assert counter()[0] == len(job_ids()) == (1 if kind == "throttle" else 2)
    assert_invariants(now_ms())
    # and the next create is counted as usual
    service.create(job_body(name="after"))
    assert counter()[0] == len(job_ids())


def test_the_console_names_itself_on_every_call() -> None:
    from pathlib import Path

    import chalicelib.api as api_package

    script = (Path(api_package.__file__).parent / "console" / "api.js").read_text()  # every call goes through it
    assert "'X-AgentOS-Client': 'console'" in script
