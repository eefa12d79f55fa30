"""Cold start: ``import app`` registers routes and handlers only; each function loads its engine
on its first call (docs/operations.md, cold starts). Every such check runs in a fresh interpreter
(marked slow): this process has long imported everything. Last, ``chalicelib.coldstart``: the first
invocation in Lambda runs with the cyclic GC paused, then freezes what it built.

Nothing here measures time (``make bench`` does); the first-call probes of
``bench.cold_start`` are run once to show they still load what each function needs.
"""
from __future__ import annotations

import gc
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from bench import cold_start
from chalicelib import coldstart

slow = pytest.mark.slow  # the check starts a fresh interpreter

HEAVY = ("pydantic", "pydantic_core", "pynamodb", "croniter", "boto3", "botocore", "aws_lambda_powertools")
ROOTS = HEAVY + ("chalicelib", "asyncio", "mcp")
LOADED = "import json, sys; {code}; print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {roots!r})))"


def _loaded(code: str, roots: tuple[str, ...], env: dict[str, str] | None = None) -> set[str]:
    """The modules under ``roots`` that a fresh interpreter has after running ``code``."""
    out = subprocess.run([sys.executable, "-c", LOADED.format(code=code, roots=roots)], cwd=cold_start.ROOT,
                         env=env or cold_start._env(), capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


@slow
def test_import_app_loads_no_engine() -> None:
    loaded = _loaded("import app", HEAVY + ("chalicelib",))
    assert not {m.split(".")[0] for m in loaded} & set(HEAVY)
    # Only the registration layer: no config, schemas, store, schedules or executor.
    assert loaded == {"chalicelib", "chalicelib.clock", "chalicelib.coldstart", "chalicelib.errors",
                      "chalicelib.handlers", "chalicelib.runtime", "chalicelib.settings", "chalicelib.telemetry",
                      "chalicelib.vocab",
                      "chalicelib.api", "chalicelib.api.auth", "chalicelib.api.openapi", "chalicelib.api.routes",
                      "chalicelib.api.scopes", "chalicelib.api.web", "chalicelib.api.webconsole",
                      "chalicelib.engine", "chalicelib.engine.callbacks"}


@slow
def test_the_routes_and_handlers_are_all_registered() -> None:
    code = ("import app; a = app.app; print(json.dumps([sorted((p, sorted(m)) for p, m in a.routes.items()), "
            "sorted(a.handler_map)]))")
    out = subprocess.run([sys.executable, "-c", f"import json; {code}"], cwd=cold_start.ROOT, env=cold_start._env(),
                         capture_output=True, text=True, check=True)
    routes, handlers = json.loads(out.stdout)
    assert routes == [["/api/agents", ["GET"]], ["/api/agents/{agent_id}", ["GET"]],
                      ["/api/health", ["GET"]], ["/api/jobs", ["GET", "POST"]],
                      ["/api/jobs/by-name/{name}", ["GET", "PUT"]],
                      ["/api/jobs/{job_id}", ["DELETE", "GET", "PATCH"]], ["/api/jobs/{job_id}/events", ["GET"]],
                      ["/api/jobs/{job_id}/run", ["POST"]],
                      ["/api/jobs/{job_id}/runs", ["GET"]], ["/api/mcp", ["POST"]], ["/api/openapi.json", ["GET"]],
                      ["/api/runs", ["GET"]], ["/api/runs/{run_id}", ["GET"]], ["/api/runs/{run_id}/cancel", ["POST"]],
                      ["/api/runs/{run_id}/complete", ["POST"]], ["/api/runs/{run_id}/heartbeat", ["POST"]],
                      ["/api/runs/{run_id}/replay", ["POST"]],
                      ["/api/schedules/preview", ["POST"]], ["/console", ["GET"]], ["/console/{name}", ["GET"]]]
    assert {"execute", "tick"} <= set(handlers)


@slow
@pytest.mark.parametrize("function, needs, never", [
    # croniter comes with the first cron schedule read: none in an empty list, a tick with nothing
    # due, or a batch whose job is gone; asyncio only with an async action.
    # The config and a plainly valid new job are read without pydantic (chalicelib.config's and
    # chalicelib.api.bodies' quick readings); the API's models come with the first body they declined
    # (or a PATCH), never with a list or a plain create.
    ("api", {"chalicelib.api.jobs", "chalicelib.config", "chalicelib.schedules", "pynamodb", "aws_lambda_powertools"},
     {"chalicelib.engine.executor", "chalicelib.api.schemas", "pydantic", "croniter", "boto3"}),
    ("api_create", {"chalicelib.api.jobs", "chalicelib.api.bodies", "croniter", "pynamodb"},
     {"chalicelib.engine.executor", "chalicelib.api.schemas", "chalicelib.config_schema", "pydantic", "boto3"}),
    # The MCP server's tools/list: its two modules and the config, nothing of the store, no mcp package.
    ("api_mcp", {"chalicelib.api.mcp", "chalicelib.api.mcp_tools", "chalicelib.config"},
     {"chalicelib.api.jobs", "chalicelib.api.schemas", "pydantic", "pynamodb", "croniter", "boto3", "mcp"}),
    ("tick", {"chalicelib.engine.dispatch", "chalicelib.config", "chalicelib.schedules", "pynamodb",
              "aws_lambda_powertools"},
     {"chalicelib.api.schemas", "chalicelib.config_schema", "pydantic", "croniter", "boto3"}),
    ("execute", {"chalicelib.engine.executor", "chalicelib.engine.delivery", "chalicelib.config",
                 "chalicelib.engine.actions", "pynamodb", "aws_lambda_powertools"},
     {"chalicelib.config_schema", "pydantic", "croniter", "asyncio", "boto3"}),
])
def test_first_invocation_probe_loads_what_the_function_needs(function: str, needs: set[str], never: set[str]) -> None:
    code = "import app\n" + cold_start.STUB + "\n" + cold_start.FIRST_CALLS[function]
    loaded = _loaded(f"exec({code!r})", ROOTS, cold_start._lambda_env(function))
    assert needs <= loaded | {m.split(".")[0] for m in loaded}
    assert not never & (loaded | {m.split(".")[0] for m in loaded})


# gc.unfreeze(): a first invocation in Lambda freezes what it built (chalicelib/coldstart.py),
# and gc.get_objects() lists no frozen object.
CLIENTS = ("import gc, botocore.session, botocore.client; gc.unfreeze(); "
           "print(json.dumps([sum(isinstance(o, botocore.session.Session) for o in gc.get_objects()), "
           "sorted(o.meta.service_model.service_name for o in gc.get_objects() "
           "if isinstance(o, botocore.client.BaseClient))]))")


@slow
@pytest.mark.parametrize("function, clients", [
    ("api", ["dynamodb"]),  # the job list: no SQS client, no SSM client (security's tokens come from the environment)
    ("api_create", ["dynamodb"]),  # its next occurrence is hours away: nothing to send
    ("tick", ["dynamodb", "dynamodb"]),  # the jobs' due index and the runs' overdue index (the reconciler)
    ("execute", ["dynamodb", "dynamodb"]),  # the jobs' and the runs' tables; a skip sends nothing
])
def test_a_first_invocation_builds_one_session_and_only_the_clients_it_uses(function: str, clients: list[str]) -> None:
    code = "import app\n" + cold_start.STUB + "\n" + cold_start.FIRST_CALLS[function]
    out = subprocess.run([sys.executable, "-c", f"import json; exec({code!r}); {CLIENTS}"], cwd=cold_start.ROOT,
                         env=cold_start._lambda_env(function), capture_output=True, text=True, check=True)
    sessions, built = json.loads(out.stdout.splitlines()[-1])
    assert (sessions, built) == (1, clients)


# --- chalicelib.coldstart: the first invocation's GC (quick: in this process) ----------------------

@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(coldstart, "_first", True)
    yield
    gc.unfreeze()  # this process is a test run: give its objects back to the collector
    gc.enable()


def test_the_first_invocation_in_lambda_runs_without_the_gc_and_freezes_what_it_built(
        fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "agentos-jobs-dev-tick")
    with coldstart.invocation():
        assert not gc.isenabled()
        built = [object()]
    assert gc.isenabled() and gc.get_freeze_count() > 0
    with coldstart.invocation():  # a warm one: nothing changes
        assert gc.isenabled()
    assert built


def test_the_gc_resumes_when_the_first_invocation_fails(fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "agentos-jobs-dev-execute")
    with pytest.raises(RuntimeError), coldstart.invocation():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_outside_lambda_the_gc_is_never_paused(fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    frozen = gc.get_freeze_count()
    with coldstart.invocation():
        assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
