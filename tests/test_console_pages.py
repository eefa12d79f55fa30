"""The console's agents, inbox, run, runs and history pages, the local-time toggle, replay and run
now with a payload (issues 26 and 27), in a real headless Chromium against the local stack with
security on (the same helpers as tests/test_console_browser.py: tests/browser.py).

Set ``AGENTOS_SCREENSHOTS=1`` to refresh the README's screenshots in docs/img/.
A page whose server route this API lacks must be hidden (its link, its tab): where a route or a
field is missing, the test checks exactly that instead.
"""
from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import browser
from browser import Console, unique
from devtools.agent_server import AgentServer
from e2e_stack import SECRET, Agent, LocalStack, iso_in, start_agents, write_config

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow,
              pytest.mark.skipif(browser.missing() is not None, reason=str(browser.missing()))]

TOKEN = "console-pages-token"
SECRET_PATH = "/hooks/secret-path-7f3a"
SEED = {"name": "SocialMediaProactivePost",
        "description": "Checks for trending news and posts a summary every 4 hours",
        "agentId": "550e8400-e29b-41d4-a716-446655440000", "schedule": "0 */4 * * *",
        "payload": {"action": "FETCH_TRENDS_AND_POST", "platform": "twitter", "topics": ["AI", "Blockchain"]}}
LIMITS = {"maxConcurrent": 2, "budget": {"maxCostUsdPerDay": 5}, "quota": {"maxJobs": 10, "maxRunsPerDay": 5000}}
USAGE = {"inputTokens": 1200, "outputTokens": 80, "costUsd": 0.0042}


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    home = tmp_path_factory.mktemp("pages")
    agents = start_agents(["work", "flaky", "accept"])
    limited = AgentServer(secret=SECRET.encode(), path=SECRET_PATH)
    limited.__enter__()
    agents["limited"] = Agent(str(uuid.uuid4()), limited)
    for name in ("work", "limited"):
        agents[name].server.respond_with(200, body=json.dumps({"summary": "ok", "usage": USAGE}),
                                         headers={"Content-Type": "application/json"})
    agents["flaky"].server.respond_with(503, body="upstream down")
    agents["accept"].server.respond_with(202, body="{}", headers={"Content-Type": "application/json"})
    config = write_config(home, agents, limits={"limited": LIMITS})
    config.write_text(json.dumps({**json.loads(config.read_text()), "security": {"enabled": True}}))
    stack = LocalStack(home / "state", config, home / "stack.log", env={"AGENTOS_API_TOKENS": TOKEN})
    driver = None
    try:
        stack.start()
        driver = browser.start(home / "profile")
        yield Console(stack, agents, driver, home, TOKEN)
        assert stack.stop(signal.SIGINT) == 0, stack.log_tail()
    finally:
        if driver is not None:
            driver.quit()
        stack.kill()
        for agent in agents.values():
            agent.server.stop()


def wait_run(console: Console, job_id: str, status: str = "succeeded", timeout: float = 20.0) -> dict[str, Any]:
    """The job's newest run once it has ``status``."""
    return console.wait(lambda: [r for r in console.api("GET", f"/jobs/{job_id}/runs").json() if r["status"] == status]
                        and console.api("GET", f"/jobs/{job_id}/runs").json()[0], timeout, what=f"a {status} run")


def route_status(console: Console, path: str) -> int:
    return console.api("GET", path).status_code


def text_of(console: Console, selector: str) -> str:
    return str(console.driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : null", selector))


def test_agents_page_lists_agents_with_their_limits_and_no_url_path(console: Console) -> None:
    limited = console.agents["limited"]
    job = console.create(name=unique("agent-job"), agentId=limited.id, schedule="0 0 1 1 *")
    console.open("/agents")
    rows = console.wait(lambda: {r["key"]: r for r in console.rows("agents-table")
                                 if r["key"] in {a.id for a in console.agents.values()}}, what="the agents")
    assert set(rows) == {a.id for a in console.agents.values()}
    row = rows[limited.id]
    api_view = console.api("GET", f"/agents/{limited.id}").json()
    assert row["Configured"] == "yes" and row["Host"] == api_view["urlHost"] and ":" in row["Host"]
    assert (row["Slots"], row["Queued"], row["Budget"]) == ("0 of 2 running", "0", "$5/day")
    assert "jobs ≤ 10" in row["Quota"] and "runs/day ≤ 5000" in row["Quota"] and row["Jobs"] == "1"
    assert rows[console.agents["work"].id]["Slots"] == "0 running (no limit)"
    # never the URL's path (nor anything of the secret): only host and port
    assert SECRET_PATH not in console.driver.page_source and "/jobs" not in row["Host"]
    console.shot("console-agents.png")
    # an agent's page: its limits and its jobs
    console.css(f"#agents-table tr[data-key='{limited.id}'] td[data-label='Agent'] a")[0].click()
    console.wait(lambda: console.heading() == f"Agent {limited.id}", what="the agent's page")
    jobs = console.wait(lambda: console.rows("agent-jobs-table"), what="the agent's jobs")
    assert [r["key"] for r in jobs] == [job["id"]]
    assert text_of(console, "dd[data-field='maxConcurrent']") == "0 of 2 running"
    assert SECRET_PATH not in console.driver.page_source


def test_inbox_shows_a_delivery_of_the_seeds_job(console: Console) -> None:
    job = console.create(**SEED)
    run = console.api("POST", f"/jobs/{job['id']}/run").json()
    done = wait_run(console, job["id"])
    assert done["output"]["inbox"] == "received"
    console.open("/inbox")
    console.wait(lambda: console.by_id("nav-inbox").is_displayed(), what="the Inbox link")
    rows = console.wait(lambda: [r for r in console.rows("inbox-table") if r["Run"] == run["id"]], what="the delivery")
    row = rows[0]
    assert (row["Job"], row["Agent"], row["Trigger"]) == (SEED["name"], SEED["agentId"], "manual")
    assert json.loads(row["Payload"]) == SEED["payload"]
    console.shot("console-inbox.png")
    console.css(f"#inbox-table a[href='#/runs/{run['id']}']")[0].click()
    console.wait(lambda: console.heading() == f"Run {run['id']}", what="the delivered run's page")


def test_time_toggle_shows_local_time_and_is_remembered(console: Console) -> None:
    job = console.create(name=unique("clock"), agentId=console.agents["work"].id, schedule="2031-01-02T03:04:05Z")
    console.driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Tokyo"})
    try:
        console.open(f"/jobs/{job['id']}")
        cell = "dd[data-field='nextRunAt']"
        console.wait(lambda: text_of(console, cell) == "2031-01-02 03:04:05 UTC", what="the time in UTC")
        toggle = console.by_id("time-toggle")
        assert (toggle.text, toggle.get_attribute("aria-pressed")) == ("Times: UTC", "false")
        toggle.click()
        console.wait(lambda: text_of(console, cell) == "2031-01-02 12:04:05 UTC+09:00", what="the local time")
        assert console.by_id("time-toggle").text == "Times: local"
        assert console.driver.switch_to.active_element == console.by_id("time-toggle")  # the focus stays
        assert "local time (UTC+09:00)" in console.by_id("main").text
        console.wait(lambda: text_of(console, "ol.upcoming li").startswith("2031-01-02 12:04:05 UTC+09:00"),
                     what="the next start time in local time")
        console.shot("console-local-time.png")
        console.driver.refresh()  # remembered across a reload (localStorage)
        console.wait(lambda: text_of(console, cell) == "2031-01-02 12:04:05 UTC+09:00", what="the time after a reload")
        assert console.driver.execute_script("return localStorage.getItem('agentos.console.timeMode')") == "local"
        console.by_id("time-toggle").click()
        console.wait(lambda: text_of(console, cell) == "2031-01-02 03:04:05 UTC", what="UTC again")
        assert console.driver.execute_script("return localStorage.getItem('agentos.console.timeMode')") == "utc"
    finally:
        console.driver.execute_script("localStorage.removeItem('agentos.console.timeMode')")
        console.driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": ""})


def test_replay_from_a_run_page_makes_a_replay_run(console: Console) -> None:
    job = console.create(name=unique("replay"), agentId=console.agents["work"].id, schedule="0 0 1 1 *",
                         payload={"topic": "tides"})
    original = console.api("POST", f"/jobs/{job['id']}/run").json()
    wait_run(console, job["id"])
    console.open(f"/runs/{original['id']}")
    console.wait(lambda: console.heading() == f"Run {original['id']}", what="the run's page")
    console.wait(lambda: text_of(console, "dd[data-field='status']") == "succeeded", what="its status")
    assert json.loads(text_of(console, "dd[data-field='payload']")) == {"topic": "tides"}
    console.by_id("replay-run").click()
    heading = console.wait(lambda: console.heading() != f"Run {original['id']}" and console.heading(),
                           what="the replay's page")
    replay_id = heading.removeprefix("Run ")
    run = console.api("GET", f"/runs/{replay_id}").json()
    assert (run["jobId"], run["trigger"], run["replayOf"], run["payload"]) == \
        (job["id"], "replay", original["id"], {"topic": "tides"})
    console.wait(lambda: text_of(console, "dd[data-field='replayOf']") == original["id"], what="Replay of")
    assert text_of(console, "dd[data-field='trigger']") == "replay"
    console.wait(lambda: text_of(console, "dd[data-field='status']") == "succeeded", what="the replay's end")
    # and the job page's Replay button does the same
    console.open(f"/jobs/{job['id']}")
    console.wait(lambda: len(console.run_rows()) == 2, what="both runs")
    button = [b for b in console.css("#runs-table button.replay-run") if b.get_attribute("data-run") == original["id"]]
    button[0].click()
    console.wait(lambda: [r for r in console.run_rows() if r["Trigger"] == "replay" and r["key"] != replay_id],
                 what="a second replay in the job's runs")


def test_run_now_with_a_payload(console: Console) -> None:
    job = console.create(name=unique("payload"), agentId=console.agents["work"].id, schedule="0 0 1 1 *",
                         payload={"topic": "weather"})
    console.open(f"/jobs/{job['id']}")
    console.wait(lambda: console.heading() == job["name"])
    console.by_id("run-with-payload").click()
    dialog = console.by_id("payload-dialog")
    console.wait(lambda: dialog.get_attribute("open") is not None, what="the payload dialog")
    assert json.loads(console.by_id("run-payload").get_attribute("value")) == {"topic": "weather"}
    console.type("run-payload", '{"topic": ')
    console.by_id("run-payload-submit").click()
    error = console.wait(lambda: console.by_id("run-payload-error").text, what="the JSON error")
    assert error.startswith("payload: is not valid JSON")
    console.type("run-payload", '{"topic": "mars", "depth": 2}')
    assert not console.by_id("run-payload-error").is_displayed()  # typing clears the error
    console.shot("console-run-payload.png")
    console.by_id("run-payload-submit").click()
    console.wait(lambda: dialog.get_attribute("open") is None, what="the dialog to close")
    run = wait_run(console, job["id"])
    assert (run["trigger"], run["payload"]) == ("manual", {"topic": "mars", "depth": 2})
    assert console.agents["work"].deliveries()[-1].json()["payload"] == {"topic": "mars", "depth": 2}
    assert console.api("GET", f"/jobs/{job['id']}").json()["payload"] == {"topic": "weather"}  # the job unchanged
    console.wait(lambda: [r for r in console.run_rows() if r["key"] == run["id"]], what="the run in the table")


def test_origin_and_projection_on_the_job_page(console: Console) -> None:
    job = console.create(name=unique("projection"), agentId=console.agents["work"].id, interval=3_600_000)
    console.api("POST", f"/jobs/{job['id']}/run")
    wait_run(console, job["id"])
    projection = console.wait(lambda: console.api("GET", f"/jobs/{job['id']}").json()["projection"]["tokensPerDay"]
                              and console.api("GET", f"/jobs/{job['id']}").json()["projection"], what="a projection")
    assert projection["runsPerDay"] == 24
    console.open(f"/jobs/{job['id']}")
    console.wait(lambda: console.heading() == job["name"])
    expected = f"24 runs/day · {round(projection['tokensPerDay'])} tok/day"
    console.wait(lambda: text_of(console, "dd[data-field='projection']").startswith(expected), what="the projection")
    assert "/day" in text_of(console, "dd[data-field='projection']").split(" · ")[-1]
    assert text_of(console, "dd[data-field='origin']") == "api (depth 0)"


def test_a_job_made_by_a_run_links_to_that_run(console: Console) -> None:
    import requests

    parent = console.create(name=unique("parent"), agentId=console.agents["accept"].id, schedule="0 0 1 1 *")
    before = len(console.agents["accept"].deliveries())
    run = console.api("POST", f"/jobs/{parent['id']}/run").json()
    delivery = console.agents["accept"].wait_for(before + 1, 15.0)[-1].json()
    assert delivery["runId"] == run["id"]
    body = {"name": unique("child"), "agentId": console.agents["accept"].id, "schedule": "0 0 1 1 *", "payload": {}}
    made = requests.post(f"{console.stack.base}/jobs", json=body, timeout=10,
                         headers={"Authorization": f"Bearer {delivery['callbackToken']}"})
    assert made.status_code == 201, made.text
    child = made.json()
    assert child["origin"] == {"via": "run", "runId": run["id"], "depth": 1}
    console.open(f"/jobs/{child['id']}")
    console.wait(lambda: text_of(console, "dd[data-field='origin']") == f"run: {run['id']} (depth 1)",
                 what="the origin")
    console.css("dd[data-field='origin'] a")[0].click()
    console.wait(lambda: console.heading() == f"Run {run['id']}", what="the parent run's page")
    console.api("POST", f"/runs/{run['id']}/cancel")


def test_history_tab_lists_the_jobs_events(console: Console) -> None:
    job = console.create(name=unique("history"), agentId=console.agents["work"].id, schedule="0 0 1 1 *")
    console.api("PATCH", f"/jobs/{job['id']}", {"status": "paused"})
    console.api("PATCH", f"/jobs/{job['id']}", {"schedule": "0 0 2 1 *"})
    console.open(f"/jobs/{job['id']}")
    console.wait(lambda: console.heading() == job["name"])
    if route_status(console, f"/jobs/{job['id']}/events") in (403, 404, 405):
        time.sleep(1)
        assert not console.by_id("history-tab").is_displayed()
        pytest.fail("this server must have it: GET /api/jobs/{id}/events is missing on this server")
    tab = console.wait(lambda: console.by_id("history-tab").is_displayed() and console.by_id("history-tab"),
                       what="the History tab")
    tab.click()
    rows = console.wait(lambda: len(console.rows("history-table")) >= 3 and console.rows("history-table"),
                        what="the events")
    assert [r["Action"] for r in rows][:3] == ["updated", "paused", "created"]
    assert "schedule: 0 0 1 1 * → 0 0 2 1 *" in rows[0]["Changes"]
    assert "status: active → paused" in rows[1]["Changes"]
    assert rows[1]["Actor"].startswith("token ") and TOKEN not in rows[1]["Actor"]  # a fingerprint, not the token
    assert not console.by_id("runs-panel").is_displayed()
    console.shot("console-history.png")
    console.by_id("runs-tab").click()
    console.wait(lambda: console.by_id("runs-panel").is_displayed(), what="the runs again")
    # a deleted job's history stays readable (30 days): its page says not found, and shows it
    assert console.api("DELETE", f"/jobs/{job['id']}").status_code == 204
    console.open(f"/jobs/{job['id']}")
    console.wait(lambda: console.heading() == "Job not found", what="the deleted job's page")
    rows = console.wait(lambda: console.rows("history-table"), what="its history")
    assert rows[0]["Action"] == "deleted" and [r["Action"] for r in rows][-1] == "created"


def test_attempts_on_a_run_page(console: Console) -> None:
    job = console.create(name=unique("attempts"), agentId=console.agents["flaky"].id, schedule="0 0 1 1 *",
                         retryPolicy={"maxAttempts": 3, "initialDelayMs": 200, "jitter": False})
    run = console.api("POST", f"/jobs/{job['id']}/run").json()
    done = wait_run(console, job["id"], "failed", timeout=30.0)
    console.open(f"/runs/{run['id']}")
    console.wait(lambda: text_of(console, "dd[data-field='status']") == "failed", what="the failed run")
    if "attempts" not in done:
        time.sleep(1)
        assert not console.by_id("attempts").is_displayed()
        pytest.fail("this server must have it: runs have no `attempts` field on this server")
    rows = console.wait(lambda: len(console.rows("attempts-table")) == 3 and console.rows("attempts-table"),
                        what="three attempts")
    assert [r["Attempt"] for r in rows] == ["1", "2", "3"]
    assert {r["Status"] for r in rows} == {"failed"}
    assert all(r["Error"] for r in rows) and "503" in rows[0]["Error"]
    console.shot("console-run.png")


def test_blocked_reason_is_shown_where_the_paused_reason_is(console: Console) -> None:
    job = console.create(name=unique("blocked"), agentId=console.agents["work"].id, interval=60_000,
                         budget={"maxTokensPerDay": 100})
    console.api("POST", f"/jobs/{job['id']}/run")
    wait_run(console, job["id"])
    if "blocked" not in console.api("GET", f"/jobs/{job['id']}").json():
        pytest.fail("this server must have it: jobs have no `blocked` field on this server")
    blocked = console.wait(lambda: console.api("GET", f"/jobs/{job['id']}").json()["blocked"], what="the block")
    assert blocked["reason"] == "budget"
    console.open("/?status=active")
    row = console.wait(lambda: [r for r in console.rows("jobs-table") if r["key"] == job["id"]], what="the job")[0]
    assert row["Paused or blocked"].startswith("Blocked (budget)")
    assert blocked["message"] in row["Paused or blocked"]
    console.open(f"/jobs/{job['id']}")
    text = console.wait(lambda: text_of(console, "dd[data-field='blocked']").startswith("Blocked") and
                        text_of(console, "dd[data-field='blocked']"), what="the job's blocked field")
    assert text.startswith("Blocked (budget) until ") and blocked["message"] in text
    assert console.by_id("job-why").text == text
    console.shot("console-blocked.png")


def test_skipped_runs_show_their_count(console: Console) -> None:
    job = console.create(name=unique("overlap"), agentId=console.agents["accept"].id, interval=1000, overlap="skip")
    try:
        skipped = console.wait(lambda: [r for r in console.api("GET", f"/jobs/{job['id']}/runs").json()
                                        if r["status"] == "skipped"], timeout=20.0, what="a skipped run")
        if "skippedCount" not in skipped[0]:
            pytest.fail("this server must have it: runs have no `skippedCount` field on this server")
        run = console.wait(lambda: [r for r in console.api("GET", f"/jobs/{job['id']}/runs").json()
                                    if r["status"] == "skipped" and r["skippedCount"] >= 2], timeout=20.0,
                           what="two skips in one record")[0]
        console.open(f"/runs/{run['id']}")
        console.wait(lambda: text_of(console, "dd[data-field='status']").startswith("skipped ×"), what="the count")
        assert int(text_of(console, "dd[data-field='skippedCount']")) >= 2
        assert text_of(console, "dd[data-field='lastSkippedAt']").endswith(" UTC")
        console.open(f"/jobs/{job['id']}")  # and in the job's runs table: one row for the streak
        row = console.wait(lambda: [r for r in console.run_rows() if r["key"] == run["id"]], what="the skipped row")[0]
        assert row["Status"].startswith("skipped ×") and "(last " in row["Status"]
    finally:
        console.api("DELETE", f"/jobs/{job['id']}")


def test_runs_view_across_jobs_with_its_filters(console: Console) -> None:
    work = console.create(name=unique("runs-a"), agentId=console.agents["work"].id, schedule="0 0 1 1 *")
    other = console.create(name=unique("runs-b"), agentId=console.agents["limited"].id, schedule="0 0 1 1 *")
    first = console.api("POST", f"/jobs/{work['id']}/run").json()
    console.api("POST", f"/jobs/{other['id']}/run")
    wait_run(console, work["id"])
    wait_run(console, other["id"])
    replayed = console.api("POST", f"/runs/{first['id']}/replay").json()
    console.open("/")
    console.wait(lambda: console.heading() == "Jobs")
    if route_status(console, "/runs?limit=1") in (403, 404, 405):
        time.sleep(1)
        assert not console.by_id("nav-runs").is_displayed()
        console.open("/runs")
        console.wait(lambda: console.by_id("runs-missing").is_displayed(), what="the missing route's note")
        pytest.fail("this server must have it: GET /api/runs is missing on this server")
    console.wait(lambda: console.by_id("nav-runs").is_displayed(), what="the Runs link")
    console.by_id("nav-runs").click()
    console.wait(lambda: console.heading() == "Runs")
    ids = console.wait(lambda: {r["key"] for r in console.rows("runs-table")} >= {first["id"], replayed["id"]} and
                       {r["key"] for r in console.rows("runs-table")}, what="runs of both jobs")
    assert len(ids) >= 3
    console.shot("console-runs.png")
    # filter by trigger through the form: only the replay
    from selenium.webdriver.support.ui import Select

    Select(console.by_id("runs-trigger")).select_by_value("replay")
    console.type("runs-jobId", work["id"])
    console.by_id("runs-filter").click()
    console.wait(lambda: "trigger=replay" in console.driver.current_url, what="the filtered URL")
    rows = console.wait(lambda: [r["key"] for r in console.rows("runs-table")] == [replayed["id"]]
                        and console.rows("runs-table"), what="only the replay")
    assert rows[0]["Trigger"] == "replay"
    # by agent and status
    console.open(f"/runs?agentId={console.agents['limited'].id}&status=succeeded")
    rows = console.wait(lambda: console.rows("runs-table"), what="the limited agent's runs")
    assert {r["Job"] for r in rows} <= {other["id"], other["name"]} and {r["Status"] for r in rows} == {"succeeded"}
    # paged with Link: one run a page, Next then Previous
    console.open(f"/runs?jobId={work['id']}&limit=1")
    console.wait(lambda: [r["key"] for r in console.rows("runs-table")] == [replayed["id"]], what="the first page")
    pager = console.css("nav.pager button")
    console.wait(lambda: pager[1].is_enabled(), what="a next page")
    assert not pager[0].is_enabled()
    pager[1].click()
    console.wait(lambda: [r["key"] for r in console.rows("runs-table")] == [first["id"]], what="the second page")
    assert pager[0].is_enabled()
    pager[0].click()
    console.wait(lambda: [r["key"] for r in console.rows("runs-table")] == [replayed["id"]], what="the first again")
    # since: nothing after the future
    console.open(f"/runs?since={iso_in(3600)}")
    console.wait(lambda: console.heading() == "Runs")
    console.wait(lambda: console.css("main p.empty") and console.css("main p.empty")[0].is_displayed()
                 or console.by_id("runs-error").is_displayed(), what="no run since an hour ahead")


def test_new_pages_fit_a_narrow_screen(console: Console) -> None:
    job = console.create(name=unique("narrow-pages"), agentId=console.agents["work"].id, schedule="0 0 1 1 *")
    run = console.api("POST", f"/jobs/{job['id']}/run").json()
    wait_run(console, job["id"])
    console.driver.set_window_size(360, 800)
    try:
        agent = console.agents["work"].id
        pages = [("/agents", "Agents"), ("/inbox", "Inbox"), (f"/runs/{run['id']}", f"Run {run['id']}"),
                 (f"/agents/{agent}", f"Agent {agent}")]
        for fragment, heading in pages:
            console.open(fragment)
            console.wait(lambda h=heading: console.heading() == h, what=heading)  # type: ignore[misc]
            time.sleep(0.5)
            width = console.driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
            assert width[0] <= width[1], f"horizontal scroll at 360 px on {fragment}: {width}"
    finally:
        console.driver.set_window_size(1280, 900)
