"""``python -m agentos_jobs``: every verb against the app served over HTTP (chalice local's
server in a thread, on moto), exit codes included."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentos_jobs.cli import main
from agentos_jobs.client import api_base
from conftest import AGENT_ID
from devtools.agent_server import unused_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def api(aws: Any) -> Iterator[str]:
    """The app on a free local port (the local stack's API server); yields AGENTOS_URL."""
    from app import app
    from scripts.local_api import ApiServer

    server = ApiServer(app, "127.0.0.1", unused_port())
    server.start()
    yield f"http://127.0.0.1:{server.server.server.server_address[1]}"
    server.stop()


def cli(url: str, *argv: str, token: str | None = None) -> tuple[int, str, str]:
    """Run the CLI in-process; (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    env = {"AGENTOS_URL": url, **({"AGENTOS_TOKEN": token} if token else {})}
    code = main(list(argv), out, err, env)
    return code, out.getvalue(), err.getvalue()


def cli_json(url: str, *argv: str) -> Any:
    code, out, err = cli(url, "--json", *argv)
    assert code == 0, err
    return json.loads(out)


def create(url: str, name: str = "nightly", *extra: str) -> dict[str, Any]:
    return cli_json(url, "jobs", "create", "--name", name, "--agent-id", AGENT_ID, "--schedule", "0 2 * * *",
                    "--payload", '{"action": "REPORT"}', *extra)


def test_jobs_create_and_get(api: str) -> None:
    job = create(api, "nightly", "--timezone", "Europe/Paris", "--description", "the report")
    assert (job["name"], job["schedule"], job["timezone"], job["payload"]) == \
        ("nightly", "0 2 * * *", "Europe/Paris", {"action": "REPORT"})
    code, out, _ = cli(api, "jobs", "get", job["id"])
    assert code == 0 and "id" in out and job["id"] in out and "Europe/Paris" in out


def test_jobs_list_prints_a_table_and_pages_with_all(api: str) -> None:
    for i in range(3):
        create(api, f"job-{i}")
    code, out, _ = cli(api, "jobs", "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:3] == ["ID", "NAME", "AGENT"] and len(lines) == 4
    assert len(cli_json(api, "jobs", "list", "--limit", "2")) == 2
    assert len(cli_json(api, "jobs", "list", "--limit", "2", "--all")) == 3  # followed the Link header
    assert cli_json(api, "jobs", "list", "--status", "paused") == []


def test_jobs_pause_resume_and_update(api: str) -> None:
    job = create(api)
    code, out, _ = cli(api, "jobs", "pause", job["id"])
    assert (code, out.strip()) == (0, f"{job['id']} paused")
    assert cli_json(api, "jobs", "resume", job["id"])["status"] == "active"
    changed = cli_json(api, "jobs", "update", job["id"], "--interval", "60000")
    assert (changed["interval"], changed["schedule"]) == (60000, None)


def test_jobs_run_and_runs_list(api: str) -> None:
    job = create(api)
    run = cli_json(api, "jobs", "run", job["id"])
    assert (run["trigger"], run["jobId"]) == ("manual", job["id"])
    runs = cli_json(api, "runs", "list", job["id"])
    assert [r["id"] for r in runs] == [run["id"]]
    code, out, _ = cli(api, "runs", "list", job["id"])
    assert code == 0 and out.splitlines()[0].split()[:2] == ["ID", "STATUS"] and run["id"] in out


def test_runs_get_and_cancel(api: str) -> None:
    job = create(api)
    run = cli_json(api, "jobs", "run", job["id"])
    code, out, err = cli(api, "runs", "get", run["id"])
    assert code == 0 and run["id"] in out, err
    cancelled = cli_json(api, "runs", "cancel", run["id"])
    assert cancelled["status"] == "cancelled" or cancelled["cancelRequested"] is True


def test_jobs_delete(api: str) -> None:
    job = create(api)
    code, out, _ = cli(api, "jobs", "delete", job["id"])
    assert (code, out.strip()) == (0, f"deleted {job['id']}")
    code, _, err = cli(api, "jobs", "get", job["id"])
    assert code == 1 and "HTTP 404" in err and job["id"] in err


def test_preview(api: str) -> None:
    times = cli_json(api, "preview", "--schedule", "0 9 * * 1-5", "--timezone", "America/New_York", "--count", "3")
    assert len(times["next"]) == 3 and all(t.endswith("Z") for t in times["next"])
    code, out, _ = cli(api, "preview", "--interval", "60000")
    assert code == 0 and len(out.splitlines()) == 5


def test_api_errors_exit_1_with_the_apis_message(api: str) -> None:
    code, out, err = cli(api, "jobs", "create", "--name", "bad", "--agent-id", AGENT_ID, "--schedule", "61 * * * *")
    assert (code, out) == (1, "") and "schedule: invalid cron expression" in err and "HTTP 400" in err
    create(api, "taken")
    code, _, err = cli(api, "jobs", "create", "--name", "taken", "--agent-id", AGENT_ID, "--schedule", "@daily")
    assert code == 1 and "HTTP 409" in err


def test_usage_errors_exit_2(api: str) -> None:
    assert cli(api, "jobs", "frobnicate")[0] == 2
    assert cli(api, "jobs", "create", "--name", "x")[0] == 2  # --agent-id is required
    code, _, err = cli(api, "jobs", "create", "--name", "x", "--agent-id", AGENT_ID, "--payload", "{not json")
    assert code == 2 and "--payload" in err
    assert cli(api, "preview", "--schedule", "@daily", "--interval", "5")[0] == 2
    assert cli_json(api, "jobs", "list") == []  # nothing was sent


def test_unreachable_api_exits_3() -> None:
    code, _, err = cli(f"http://127.0.0.1:{unused_port()}", "jobs", "list")
    assert code == 3 and "cannot reach" in err


def test_token_from_the_environment(api: str, configure: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTOS_API_TOKENS", "cli-token")
    configure({"security": {"enabled": True}})
    code, _, err = cli(api, "jobs", "list")
    assert code == 1 and "HTTP 401" in err
    assert "AGENTOS_TOKEN" in err  # a 401 says how to give a token
    assert cli(api, "jobs", "list", token="cli-token")[0] == 0


def test_global_flags_after_the_subcommand(api: str) -> None:
    job = create(api, "flags-after")
    code, out, err = cli(api, "jobs", "get", job["id"], "--json")
    assert code == 0, err
    assert json.loads(out)["id"] == job["id"]
    code, out, _ = cli(api, "jobs", "list", "--json", "--url", api)
    assert code == 0 and [j["id"] for j in json.loads(out)] == [job["id"]]
    code, out, _ = cli(api, "--json", "jobs", "list")  # before the subcommand, as before
    assert code == 0 and json.loads(out)[0]["id"] == job["id"]


def test_jobs_are_looked_up_by_name(api: str) -> None:
    job = create(api, "by name/with slash")
    assert cli_json(api, "jobs", "get", "by name/with slash")["id"] == job["id"]
    assert cli_json(api, "jobs", "pause", "by name/with slash")["status"] == "paused"
    assert cli_json(api, "runs", "list", "by name/with slash") == []
    code, _, err = cli(api, "jobs", "get", "no-such-name")
    assert code == 1 and "HTTP 404" in err


def test_set_takes_a_plain_string_or_json(api: str) -> None:
    job = create(api, "plain-set", "--set", "overlap=queue", "--set", "timeoutMs=60000",
                 "--set", 'description="quoted"')
    assert (job["overlap"], job["timeoutMs"], job["description"]) == ("queue", 60000, "quoted")


def test_runs_list_shows_progress_and_usage(api: str) -> None:
    job = create(api, "columns")
    cli_json(api, "jobs", "run", job["id"])
    code, out, _ = cli(api, "runs", "list", job["id"])
    assert code == 0 and "PROGRESS" in out.splitlines()[0] and "USAGE" in out.splitlines()[0]
    from agentos_jobs.tables import RUN_COLUMNS, table

    row = {"id": "r", "status": "running", "attempt": 1, "trigger": "manual", "scheduledAt": "t",
           "progress": {"percent": 40, "message": "indexing"},
           "usage": {"inputTokens": 1200, "outputTokens": 300, "costUsd": 0.0125}}
    line = table([row], RUN_COLUMNS).splitlines()[1]
    assert "40% indexing" in line and "1500 tok $0.0125" in line


def test_piping_into_head_prints_no_traceback(api: str) -> None:
    for index in range(30):  # over 64 KiB of JSON: more than a pipe holds once head has gone
        create(api, f"pipe-{index:02d}", "--description", "x" * 1000, "--payload", json.dumps({"text": "y" * 3000}))
    env = {**__import__("os").environ, "AGENTOS_URL": api}
    answer = subprocess.run(f"{sys.executable} -m agentos_jobs --json jobs list | head -c 10", shell=True,
                            cwd=ROOT, env=env, capture_output=True, text=True)
    assert answer.stdout and "Traceback" not in answer.stderr and "BrokenPipe" not in answer.stderr


def test_control_characters_from_the_api_are_not_printed(api: str) -> None:
    job = create(api, "ctl", "--payload", json.dumps({"note": "\x1b[2Jwiped"}))
    code, out, _ = cli(api, "jobs", "get", job["id"])
    assert code == 0 and "\x1b" not in out and "wiped" in out


def test_module_entry_point() -> None:
    answer = subprocess.run([sys.executable, "-m", "agentos_jobs", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert answer.returncode == 0 and "jobs" in answer.stdout and "AGENTOS_URL" in answer.stdout
    bad = subprocess.run([sys.executable, "-m", "agentos_jobs", "nope"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2


@pytest.mark.parametrize("given, base", [("http://h:3000", "http://h:3000/api"), ("http://h/dev/", "http://h/dev/api"),
                                         ("http://h/dev/api", "http://h/dev/api")])
def test_api_base(given: str, base: str) -> None:
    assert api_base(given) == base
