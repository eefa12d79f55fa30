"""The console in a real headless Chromium, against the local stack with security on.

The stack (``python -m scripts.devstack``) runs with a bearer token and signed test agents;
the page gets the token through its own dialog. Set ``AGENTOS_SCREENSHOTS=1`` to refresh the
README's screenshots in docs/img/ (they are always taken, into the test's tmp dir otherwise).
"""
from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

import browser
from browser import Console, unique
from e2e_stack import LocalStack, start_agents, write_config

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow,
              pytest.mark.skipif(browser.missing() is not None, reason=str(browser.missing()))]

TOKEN = "console-browser-token"
XSS = "<img src=x onerror=window.__xss=1>"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    home = tmp_path_factory.mktemp("console")
    agents = start_agents(["work", "accept", "fail"])
    output = {"summary": XSS, "usage": {"inputTokens": 1200, "outputTokens": 80, "costUsd": 0.0042}}
    agents["work"].server.respond_with(200, body=json.dumps(output), headers={"Content-Type": "application/json"})
    agents["accept"].server.respond_with(202, body="{}", headers={"Content-Type": "application/json"})
    agents["fail"].server.respond_with(400, body="no such topic")
    config = write_config(home, agents)
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


def test_page_asks_for_a_token_keeps_it_for_the_tab_and_lists_jobs(console: Console) -> None:
    job = console.create(name=unique("listed"), agentId=console.agents["work"].id, schedule="0 0 1 1 *")
    paused = console.create(name="weekly-digest", agentId=console.agents["work"].id, schedule="0 9 * * 1",
                            timezone="Europe/Paris")
    console.api("PATCH", f"/jobs/{paused['id']}", {"status": "paused"})
    console.create(name="reflect-hourly", agentId=console.agents["work"].id, interval=3_600_000)
    console.open("/", token=None)
    dialog = console.wait(lambda: console.by_id("token-dialog").get_attribute("open") is not None and
                          console.by_id("token-dialog"), what="the token dialog")
    console.type("token-input", "wrong-token")
    console.by_id("token-submit").click()
    console.wait(lambda: "refused" in console.by_id("token-reason").text, what="the refused-token message")
    console.type("token-input", TOKEN)
    console.by_id("token-submit").click()
    console.wait(lambda: dialog.get_attribute("open") is None, what="the dialog to close")
    link = console.wait(lambda: [a for a in console.css("main table a") if a.text == job["name"]], what="the job")[0]
    assert link.get_attribute("href").endswith(f"#/jobs/{job['id']}")
    stored = console.driver.execute_script(
        "return [sessionStorage.getItem('agentos.console.token'), localStorage.length, document.cookie]")
    assert stored == [TOKEN, 0, ""]  # the tab's sessionStorage only
    console.shot("console-jobs.png")


def test_list_filters_by_status(console: Console) -> None:
    paused = console.create(name=unique("paused"), agentId=console.agents["work"].id, schedule="0 0 1 1 *")
    console.api("PATCH", f"/jobs/{paused['id']}", {"status": "paused"})
    console.open("/?status=paused")
    console.wait(lambda: paused["name"] in console.by_id("main").text, what="the paused job")
    statuses = {td.text for td in console.css("main table.grid td[data-label='Status']")}
    assert statuses == {"paused"}
    assert console.by_id("filter-status").get_attribute("value") == "paused"


def test_a_job_paused_by_its_guard_rail_shows_why(console: Console) -> None:
    job = console.create(name=unique("breaker"), agentId=console.agents["fail"].id, schedule="0 0 1 1 *",
                         maxConsecutiveFailures=1)
    console.api("POST", f"/jobs/{job['id']}/run")
    reason = console.wait(lambda: console.api("GET", f"/jobs/{job['id']}").json()["pausedReason"],
                          what="the circuit breaker")
    console.open("/?status=paused")
    row = console.wait(lambda: [r for r in console.css("main table.grid tbody tr")
                                if r.get_attribute("data-key") == job["id"]], what="the paused job")[0]
    assert row.find_element("css selector", "td[data-label='Paused or blocked']").text == reason
    console.open(f"/jobs/{job['id']}")
    console.wait(lambda: console.css("dd[data-field='pausedReason']")[0].text == reason, what="the reason")
    assert console.css("dd[data-field='consecutiveFailures']")[0].text == "1"
    assert console.by_id("toggle-pause").text == "Resume"


def test_bad_cron_shows_the_apis_own_message_beside_the_field(console: Console) -> None:
    fields = {"name": unique("badcron"), "agentId": console.agents["work"].id, "schedule": "61 * * * *"}
    expected = console.api("POST", "/jobs", {**fields, "payload": {}}).json()["Message"]
    console.open("/new")
    console.wait(lambda: console.heading() == "New job")
    for key, value in fields.items():
        console.type(f"f-{key}", value)
    preview = console.wait(lambda: console.by_id("preview-error").text, what="the preview's error")
    assert preview == expected  # shown while typing, from POST /api/schedules/preview
    console.by_id("save-job").click()
    error = console.wait(lambda: console.by_id("f-schedule-error").text, what="the field's error")
    assert error == expected and expected.startswith("schedule: invalid cron expression")
    assert console.by_id("f-schedule").get_attribute("aria-invalid") == "true"
    assert console.driver.switch_to.active_element == console.by_id("f-schedule")
    assert not [j for j in console.api("GET", "/jobs?limit=1000").json() if j["name"] == fields["name"]]
    console.shot("console-form-error.png")


def test_create_through_the_form_and_watch_runs_appear_in_place(console: Console) -> None:
    name = unique("created")
    console.open("/new")
    console.wait(lambda: console.heading() == "New job")
    console.type("f-name", name)
    console.type("f-agentId", console.agents["work"].id)
    console.by_id("timing-interval").click()
    console.type("f-interval", "2000")
    console.type("f-payload", '{"topic": "weather"}')
    console.wait(lambda: len(console.css("#preview-list li")) == 5, what="the preview's five times")
    console.by_id("save-job").click()
    console.wait(lambda: console.heading() == name, what="the job page")
    job = [j for j in console.api("GET", "/jobs?limit=1000").json() if j["name"] == name][0]
    assert (job["interval"], job["payload"]) == (2000, {"topic": "weather"})
    # made through the console: its origin says so (the console sends X-AgentOS-Client: console)
    assert job["origin"]["via"] == "console"
    console.wait(lambda: console.css("dd[data-field='origin']")[0].text == "console (depth 0)", what="the origin")
    console.wait(lambda: len(console.css("ol.upcoming li")) == 5, what="the job's next five start times")
    rows = console.wait(lambda: [r for r in console.run_rows() if r["Status"] == "succeeded"], what="a run")
    first = console.css("#runs-table tbody tr")[-1]
    key = first.get_attribute("data-key")
    console.wait(lambda: len([r for r in console.run_rows() if r["Status"] == "succeeded"]) >= 3, what="more runs")
    assert first.get_attribute("data-key") == key  # the same element, updated in place (not stale)
    run = rows[0]
    assert run["Attempt"] == "1" and run["Trigger"] == "schedule" and run["Duration"].endswith("ms")
    assert XSS in run["Output"] and run["Usage"] == "in 1200 tok, out 80 tok, $0.0042"  # the agent's JSON answer
    console.shot("console-job.png")
    console.api("DELETE", f"/jobs/{job['id']}")


def test_long_run_fields_in_the_form(console: Console) -> None:
    from selenium.webdriver.support.ui import Select

    name = unique("long")
    console.open("/new")
    console.wait(lambda: console.heading() == "New job")
    console.type("f-name", name)
    console.type("f-agentId", console.agents["work"].id)
    console.type("f-schedule", "@daily")
    console.css("details.advanced summary")[0].click()
    console.type("f-heartbeatTimeoutMs", "5")
    Select(console.by_id("f-overlap")).select_by_value("queue")
    console.by_id("save-job").click()
    error = console.wait(lambda: console.by_id("f-heartbeatTimeoutMs-error").text, what="the field's error")
    assert error.startswith("heartbeatTimeoutMs:"), error
    console.type("f-heartbeatTimeoutMs", "300000")
    console.type("f-timeoutMs", "7200000")
    console.by_id("save-job").click()
    console.wait(lambda: console.heading() == name, what="the job page")
    job = [j for j in console.api("GET", "/jobs?limit=1000").json() if j["name"] == name][0]
    assert (job["timeoutMs"], job["heartbeatTimeoutMs"], job["overlap"]) == (7_200_000, 300_000, "queue")
    assert console.css("dd[data-field='overlap']")[0].text == "queue"


def test_edit_through_the_form_sends_only_what_changed(console: Console) -> None:
    job = console.create(name=unique("edit"), agentId=console.agents["work"].id, schedule="0 0 1 1 *",
                         payload={"keep": [1, 2]}, description="before")
    console.open(f"/jobs/{job['id']}/edit")
    console.wait(lambda: console.heading() == f"Edit {job['name']}")
    assert console.by_id("f-schedule").get_attribute("value") == "0 0 1 1 *"
    console.type("f-schedule", "*/5 * * * *")
    console.type("f-timezone", "Mars/Phobos")
    console.by_id("save-job").click()
    error = console.wait(lambda: console.by_id("f-timezone-error").text, what="the timezone's error")
    assert error == "timezone: unknown IANA timezone 'Mars/Phobos'"
    assert console.api("GET", f"/jobs/{job['id']}").json()["schedule"] == "0 0 1 1 *"  # nothing changed
    console.type("f-timezone", "Asia/Tokyo")
    console.by_id("f-description").clear()
    console.by_id("save-job").click()
    console.wait(lambda: console.heading() == job["name"], what="the job page after saving")
    saved = console.api("GET", f"/jobs/{job['id']}").json()
    assert (saved["schedule"], saved["timezone"], saved["description"], saved["payload"]) == \
        ("*/5 * * * *", "Asia/Tokyo", None, {"keep": [1, 2]})


def test_pause_and_resume(console: Console) -> None:
    job = console.create(name=unique("pause"), agentId=console.agents["work"].id, interval=60_000)
    console.open(f"/jobs/{job['id']}")
    toggle = console.wait(lambda: console.heading() == job["name"] and console.by_id("toggle-pause"))
    assert toggle.text == "Pause"
    toggle.click()
    console.wait(lambda: toggle.text == "Resume", what="the Resume button")
    assert console.api("GET", f"/jobs/{job['id']}").json()["status"] == "paused"
    assert console.css("dd[data-field='status']")[0].text == "paused"
    toggle.click()
    console.wait(lambda: toggle.text == "Pause", what="the Pause button")
    assert console.api("GET", f"/jobs/{job['id']}").json()["status"] == "active"


def test_run_now_then_delete_after_a_confirmation(console: Console) -> None:
    job = console.create(name=unique("delete"), agentId=console.agents["work"].id, schedule="0 0 1 1 *")
    console.open(f"/jobs/{job['id']}")
    console.wait(lambda: console.heading() == job["name"])
    console.by_id("run-now").click()
    console.wait(lambda: [r for r in console.run_rows() if r["Trigger"] == "manual"], what="the manual run")
    console.by_id("delete-job").click()
    dialog = console.by_id("confirm-dialog")
    console.wait(lambda: dialog.get_attribute("open") is not None, what="the confirmation")
    assert job["name"] in console.by_id("confirm-text").text
    console.by_id("confirm-cancel").click()
    assert console.api("GET", f"/jobs/{job['id']}").status_code == 200
    console.by_id("delete-job").click()
    console.wait(lambda: dialog.get_attribute("open") is not None, what="the confirmation")
    console.by_id("confirm-ok").click()
    console.wait(lambda: console.heading() == "Jobs", what="the list after the delete")
    assert console.api("GET", f"/jobs/{job['id']}").status_code == 404


def test_api_text_is_rendered_as_text_never_as_markup(console: Console) -> None:
    job = console.create(name=unique("xss"), agentId=console.agents["work"].id, schedule="0 0 1 1 *",
                         description=XSS, payload={"note": XSS})
    console.api("POST", f"/jobs/{job['id']}/run")
    console.open(f"/jobs/{job['id']}")
    console.wait(lambda: console.css("dd[data-field='description']")[0].text == XSS, what="the description")
    assert XSS in console.css("dd[data-field='payload']")[0].text
    console.wait(lambda: [r for r in console.run_rows() if r["Status"] == "succeeded"], what="the run")
    # The job name pattern refuses markup, so try it through the form: the API's message comes back.
    console.open("/new")
    console.wait(lambda: console.heading() == "New job")
    console.type("f-name", "<img src=x onerror=alert(1)>")
    console.type("f-agentId", console.agents["work"].id)
    console.type("f-schedule", XSS)
    console.by_id("save-job").click()
    console.wait(lambda: console.by_id("f-name-error").text.startswith("name:"), what="the name's error")
    console.type("f-name", unique("xss-form"))
    console.by_id("save-job").click()
    message = console.wait(lambda: console.by_id("f-schedule-error").text, what="the schedule's error")
    assert XSS in message
    assert console.css("img") == []
    assert console.driver.execute_script("return window.__xss === undefined")


def test_narrow_screen_keyboard_and_labels(console: Console) -> None:
    from selenium.webdriver.common.keys import Keys

    job = console.create(name=unique("narrow"), agentId=console.agents["work"].id, schedule="*/5 * * * *")
    console.driver.set_window_size(360, 800)
    try:
        console.open(f"/jobs/{job['id']}")
        console.wait(lambda: console.heading() == job["name"])
        width = console.driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], f"horizontal scroll at 360 px: {width}"
        console.shot("console-narrow.png")
        console.open("/")
        console.wait(lambda: console.heading() == "Jobs")
        # The view's heading has the focus; Shift+Tab walks back into the navigation.
        for _ in range(6):
            if console.driver.switch_to.active_element.get_attribute("id") == "nav-new":
                break
            console.driver.switch_to.active_element.send_keys(Keys.SHIFT, Keys.TAB)
        assert console.driver.switch_to.active_element.get_attribute("id") == "nav-new"
        console.driver.switch_to.active_element.send_keys(Keys.ENTER)
        console.wait(lambda: console.heading() == "New job", what="the form, reached by keyboard")
        unlabeled = console.driver.execute_script(
            "return [...document.querySelectorAll('input, select, textarea')]"
            ".filter(e => e.type !== 'hidden' && e.labels.length === 0).map(e => e.id || e.name)")
        assert unlabeled == []
    finally:
        console.driver.set_window_size(1280, 900)


def test_cancel_an_accepted_run(console: Console) -> None:
    job = console.create(name=unique("cancel"), agentId=console.agents["accept"].id, schedule="0 0 1 1 *")
    console.api("POST", f"/jobs/{job['id']}/run")
    console.open(f"/jobs/{job['id']}")
    running = console.wait(lambda: [r for r in console.run_rows() if r["Status"].startswith("running")],
                           what="a running run")[0]
    beat = console.api("POST", f"/runs/{running['Run']}/heartbeat", {"progress": {"pct": 40}})
    assert beat.status_code == 200, beat.text
    console.wait(lambda: console.run_rows()[0]["Progress"] == '{"pct":40}', what="the run's progress")
    button = console.wait(lambda: [b for b in console.css("button.cancel-run") if b.is_displayed()], what="Cancel")[0]
    button.click()
    console.wait(lambda: [r for r in console.run_rows() if "cancel" in r["Status"]], what="the cancelled run")
    run = console.api("GET", f"/jobs/{job['id']}/runs").json()[0]
    assert run["cancelRequested"] is True or run["status"] == "cancelled"


def test_with_security_off_no_token_is_asked(tmp_path: Path) -> None:
    agents = start_agents(["open"])
    stack = LocalStack(tmp_path / "state", write_config(tmp_path, agents), tmp_path / "stack.log")
    driver = None
    try:
        stack.start()
        job = stack.create(name=unique("open"), agentId=agents["open"].id, schedule="0 0 1 1 *", payload={})
        driver = browser.start(tmp_path / "profile")
        console = Console(stack, agents, driver, tmp_path, None)
        console.open(f"/jobs/{job['id']}", token=None)
        console.wait(lambda: console.heading() == job["name"], what="the job page")
        console.by_id("run-now").click()
        console.wait(lambda: [r for r in console.run_rows() if r["Trigger"] == "manual"], what="the manual run")
        assert console.by_id("token-dialog").get_attribute("open") is None
        assert not console.by_id("forget-token").is_displayed()
        assert stack.stop(signal.SIGINT) == 0, stack.log_tail()
    finally:
        if driver is not None:
            driver.quit()
        stack.kill()
        agents["open"].server.stop()
