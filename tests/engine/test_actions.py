"""In-process actions and callbacks: registration, dispatch, error classification, ECHO."""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.engine import actions
from chalicelib.engine.actions import (
    ActionContext,
    action,
    callback,
    callback_name,
    load_plugins,
    run_action,
    run_callback,
)
from chalicelib.errors import DeliveryFailed, UnknownAction


def ctx(**payload: object) -> ActionContext:
    """A context for one occurrence with ``payload``."""
    return ActionContext(job_id="job-1", job_name="nightly", run_id="run-1",
                         agent_id="550e8400-e29b-41d4-a716-446655440000",
                         scheduled_at="2030-01-01T00:00:00Z", attempt=1, trigger="manual", payload=payload)


@pytest.fixture(autouse=True)
def clean_registries() -> Iterator[None]:
    """Registrations made by a test disappear after it (module-level and plugin ones stay)."""
    load_plugins()
    registries: tuple[dict[Any, Any], ...] = (actions._ACTIONS, actions._CALLBACKS, actions._CALLBACK_NAMES)
    saved = [dict(registry) for registry in registries]
    yield
    for registry, before in zip(registries, saved, strict=True):
        registry.clear()
        registry.update(before)


@callback
def heartbeat() -> str:
    """A zero-argument callback registered under its textual reference."""
    return "beat"


@callback(name="reflect")
def reflect(context: ActionContext) -> dict:
    """A one-argument callback registered under an explicit name."""
    return {"job": context.job_name, "attempt": context.attempt}


# --- actions ---------------------------------------------------------------------------

def test_registered_action_receives_the_context_and_returns_text() -> None:
    seen: list[ActionContext] = []

    @action("T_POST")
    def post(context: ActionContext) -> str:
        seen.append(context)
        return "posted"

    assert run_action(ctx(action="T_POST", platform="x")) == "posted"
    assert seen[0].payload["platform"] == "x" and seen[0].run_id == "run-1"


def test_zero_argument_action_and_decorator_returns_function() -> None:
    def ping() -> None:
        return None

    assert action("T_PING")(ping) is ping
    assert run_action(ctx(action="T_PING")) is None


def test_duplicate_action_name_is_an_error() -> None:
    action("T_DUP")(lambda context: "a")
    with pytest.raises(ValueError, match="T_DUP"):
        action("T_DUP")(lambda context: "b")


def test_handler_needing_more_than_the_context_is_refused_at_registration() -> None:
    with pytest.raises(ValueError):
        action("T_TWO")(lambda a, b: None)
    with pytest.raises(ValueError):
        action("T_KW")(lambda *, key: None)


@pytest.mark.parametrize("payload", [{"action": "NOPE"}, {}, {"action": ["ECHO"]}, {"action": None}])
def test_unknown_or_missing_action_fails_without_retry(payload: dict) -> None:
    with pytest.raises(UnknownAction) as info:
        run_action(ctx(**payload))
    assert isinstance(info.value, DeliveryFailed) and not info.value.retryable
    assert "no registered action" in info.value.message


def test_handler_exception_becomes_retryable_failure() -> None:
    @action("T_BOOM")
    def boom(context: ActionContext) -> None:
        raise KeyError("missing thing")

    with pytest.raises(DeliveryFailed) as info:
        run_action(ctx(action="T_BOOM"))
    assert info.value.retryable
    assert info.value.message == "action T_BOOM raised KeyError: 'missing thing'"


def test_handler_delivery_failed_propagates_as_is() -> None:
    mine = DeliveryFailed("quota exhausted", retryable=False)

    @action("T_OWN")
    def own(context: ActionContext) -> None:
        raise mine

    with pytest.raises(DeliveryFailed) as info:
        run_action(ctx(action="T_OWN"))
    assert info.value is mine


@pytest.mark.parametrize("result", [{"a": 1, "b": [1, 2]}, 42, "raw", None])
def test_results_are_handed_back_as_returned(result: object) -> None:
    # The executor keeps a JSON-serialisable return value as the run's output.
    action("T_RESULT")(lambda: result)
    assert run_action(ctx(action="T_RESULT")) == result


def test_an_action_past_its_deadline_fails_the_attempt_as_timed_out() -> None:
    import threading

    release = threading.Event()
    action("T_SLOW")(lambda: release.wait(10))
    with pytest.raises(DeliveryFailed) as info:
        run_action(ctx(action="T_SLOW"), timeout_s=0.2)
    release.set()
    assert info.value.retryable and "timed out after 200 ms" in info.value.message


def test_async_handlers_run_to_completion() -> None:
    @action("T_ASYNC")
    async def later(context: ActionContext) -> str:
        return f"done {context.job_name}"

    assert run_action(ctx(action="T_ASYNC")) == "done nightly"


# --- callbacks -------------------------------------------------------------------------

def test_callbacks_by_textual_reference_and_explicit_name() -> None:
    assert callback_name(heartbeat) == f"{__name__}:heartbeat"
    assert callback_name(reflect) == "reflect"
    assert run_callback(callback_name(heartbeat), ctx()) == "beat"
    assert run_callback("reflect", ctx()) == {"job": "nightly", "attempt": 1}


def test_callback_decorator_returns_the_function_unchanged() -> None:
    def plain() -> str:
        return "p"

    assert callback(plain) is plain and callback(name="plain-name")(plain) is plain


def test_unregistered_callback_name_is_an_error() -> None:
    with pytest.raises(ValueError):
        callback_name(lambda: None)


@pytest.mark.parametrize("name", ["nope", "os:system", "os.system", "builtins:eval", f"{__name__}:ctx"])
def test_unknown_callback_never_imports_or_runs_anything(name: str) -> None:
    with pytest.raises(DeliveryFailed) as info:
        run_callback(name, ctx())
    assert not info.value.retryable and "no registered callback" in info.value.message


def test_callback_exception_becomes_retryable_failure() -> None:
    @callback(name="T_cb_fail")
    def broken() -> None:
        raise RuntimeError("db down")

    with pytest.raises(DeliveryFailed) as info:
        run_callback("T_cb_fail", ctx())
    assert info.value.retryable and info.value.message == "callback T_cb_fail raised RuntimeError: db down"


# --- plugins and ECHO ------------------------------------------------------------------

def test_echo_plugin_logs_one_line_and_returns_json(caplog: pytest.LogCaptureFixture) -> None:
    load_plugins()
    load_plugins()  # idempotent
    with caplog.at_level(logging.INFO, logger="agentos.jobs.example"):
        text = run_action(ctx(action="ECHO", message="hello\nworld"))
    assert isinstance(text, str)
    assert json.loads(text) == {"echo": "hello\nworld", "job": "nightly", "run": "run-1", "attempt": 1}
    (line,) = [r.getMessage() for r in caplog.records if r.name == "agentos.jobs.example"]
    assert line == "ECHO job=nightly run=run-1 attempt=1 message=hello\\nworld"


def test_echo_without_message() -> None:
    load_plugins()
    text = run_action(ctx(action="ECHO"))
    assert isinstance(text, str) and json.loads(text)["echo"] is None
