"""The console's files as the app serves them (README, "Console"); the browser tests drive the page."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from chalicelib.api.webconsole import CSP, FILES, base_path

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path, content_type", [
    ("/console", "text/html"), ("/console/app.js", "text/javascript"), ("/console/api.js", "text/javascript"),
    ("/console/app.css", "text/css")])
def test_files_are_served_with_a_strict_policy_and_no_token(client: Any, configure: Any,
                                                             monkeypatch: pytest.MonkeyPatch, path: str,
                                                             content_type: str) -> None:
    monkeypatch.setenv("AGENTOS_API_TOKENS", "only-token")
    configure({"security": {"enabled": True}})
    response = client.http.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(content_type)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert client.http.get("/api/jobs").status_code == 401  # the API itself still wants the token


def test_page_has_no_inline_script_or_handler() -> None:
    page = (FILES / "index.html").read_text()
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", page, flags=re.S)
    assert scripts == [""], "inline script would be blocked by the policy"
    assert not re.search(r"\son[a-z]+\s*=", page), "inline event handlers would be blocked by the policy"
    assert "http://" not in page and "https://" not in page  # nothing from another origin (no CDN)


def test_script_never_writes_markup() -> None:
    scripts = sorted(FILES.glob("*.js"))
    assert len(scripts) > 1
    for path in scripts:
        script = path.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in script, f"{path.name}: {sink}"


def test_every_module_imported_is_served(client: Any) -> None:
    # app.js is loaded as a module; each import is a relative URL the console route must serve
    imported = {name for path in FILES.glob("*.js")
                for name in re.findall(r"from '\./([a-z-]+\.js)'", path.read_text())}
    assert {"api.js", "time.js", "jobs.js", "runs.js", "agents.js"} <= imported
    for name in imported:
        assert client.http.get(f"/console/{name}").status_code == 200, name
    assert 'type="module"' in (FILES / "index.html").read_text()


@pytest.mark.parametrize("name", ["index.html", "webconsole.py", "nope.js", "..%2Fwebconsole.py", "APP.JS"])
def test_only_the_consoles_scripts_and_style_are_served(client: Any, name: str) -> None:
    response = client.http.get(f"/console/{name}")
    assert response.status_code == 404
    assert "Content-Security-Policy" in response.headers


@pytest.mark.parametrize("public, prefix", [
    ("/console", ""), ("/console/", ""), ("/dev/console", "/dev"), ("/prod/v1/console?x=1", "/prod/v1")])
def test_base_path_is_whatever_precedes_console(public: str, prefix: str) -> None:
    assert base_path(public) == prefix


def _gateway_event(path: str, stage: str) -> dict[str, Any]:
    """An API Gateway (REST, proxy) event as a deployed stage receives it."""
    return {"resource": path, "path": path, "httpMethod": "GET", "headers": {"Host": "abc.execute-api"},
            "multiValueHeaders": {"Host": ["abc.execute-api"]}, "queryStringParameters": None,
            "multiValueQueryStringParameters": None, "pathParameters": None, "stageVariables": None,
            "requestContext": {"resourcePath": path, "httpMethod": "GET", "path": f"/{stage}{path}",
                               "stage": stage, "requestId": "r-1", "identity": {"sourceIp": "127.0.0.1"}},
            "body": None, "isBase64Encoded": False}


class _LambdaContext:
    function_name = "agentos-jobs-dev"
    memory_limit_in_mb = 512
    aws_request_id = "r-1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:agentos-jobs-dev"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def test_behind_a_stage_the_page_loads_its_files_under_the_stage(aws: Any) -> None:
    from app import app

    answer = app(_gateway_event("/console", "dev"), _LambdaContext())
    assert answer["statusCode"] == 200, answer
    assert 'src="/dev/console/app.js"' in answer["body"] and 'href="/dev/console/app.css"' in answer["body"]
    assert answer["headers"]["Content-Security-Policy"] == CSP
    # and the script derives the API's base from its own URL: /dev/console/app.js -> /dev/api
    script = (FILES / "app.js").read_text()
    assert "replace(/\\/console\\/app\\.js$/, '') + '/api'" in script


def test_openapi_document_still_lists_only_the_api(client: Any) -> None:
    document = json.loads(client.http.get("/api/openapi.json").body)
    assert all(path.startswith("/api/") for path in document["paths"])
