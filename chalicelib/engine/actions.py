"""In-process action handlers and callbacks: what runs when a job has no agent URL.

Two registries, both filled only by decorators in imported Python code:

* ``@action("NAME")`` handles occurrences whose ``payload["action"] == "NAME"``.
* ``@callback`` registers a function under a textual reference ``"module:qualname"``
  (as APScheduler's textual references) or an explicit ``name=``; a job stores that
  reference and the executor runs it with :func:`run_callback`.

Security: a name coming from the API is only ever *looked up* in these registries.
Nothing from API input is imported, evaluated or resolved as a dotted path, so only
code that the deployment itself imported can run.
"""
from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from ..errors import DeliveryFailed, UnknownAction

F = TypeVar("F", bound=Callable[..., Any])

_MAX_ERROR_CHARS = 500

log = logging.getLogger("agentos.jobs.actions")


@dataclass(frozen=True)
class ActionContext:
    """What a handler or callback knows about the occurrence it runs."""

    job_id: str
    job_name: str
    run_id: str
    agent_id: str
    scheduled_at: str
    attempt: int
    trigger: str
    payload: dict[str, Any]
    state: Any = None  # the job's state, as its last succeeded run saved it (contract section 12)
    last_success: dict[str, Any] | None = None  # {runId, scheduledAt, finishedAt, output} of that run, or None


class _Entry(NamedTuple):
    fn: Callable[..., Any]
    takes_context: bool


_ACTIONS: dict[str, _Entry] = {}
_CALLBACKS: dict[str, _Entry] = {}
_CALLBACK_NAMES: dict[Callable[..., Any], str] = {}
_PLUGINS_LOCK = threading.Lock()
_plugins_loaded = False


def _takes_context(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` wants the ActionContext; fail at import time if it cannot be called."""
    params = list(inspect.signature(fn).parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    keyword_only = [p for p in params if p.kind is p.KEYWORD_ONLY and p.default is p.empty]
    if len(required) > 1 or keyword_only:
        raise ValueError(f"{name}: a handler takes no argument or one (the ActionContext)")
    return bool(positional) or any(p.kind is p.VAR_POSITIONAL for p in params)


def _register(registry: dict[str, _Entry], kind: str, name: str, fn: Callable[..., Any]) -> None:
    """Add ``fn`` under ``name``; a different function under a taken name is an error."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{kind} name must be a non-empty string")
    current = registry.get(name)
    # Registering the very same function again (e.g. a module imported twice) is harmless.
    if current is not None and current.fn is not fn:
        raise ValueError(f"{kind} {name!r} is already registered by {_reference(current.fn)}")
    registry[name] = _Entry(fn, _takes_context(fn, name))


def _reference(fn: Callable[..., Any]) -> str:
    """The textual reference ``module:qualname`` of a function."""
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"


def action(name: str) -> Callable[[F], F]:
    """Decorator: ``fn`` handles occurrences whose ``payload["action"] == name``."""

    def decorate(fn: F) -> F:
        _register(_ACTIONS, "action", name, fn)
        return fn

    return decorate


def callback(fn: F | None = None, *, name: str | None = None) -> Any:
    """Decorator (bare or with ``name=``): register ``fn`` as a callback; returns it unchanged."""

    def decorate(target: F) -> F:
        reference = name or _reference(target)
        _register(_CALLBACKS, "callback", reference, target)
        _CALLBACK_NAMES[target] = reference
        return target

    return decorate(fn) if fn is not None else decorate


def callback_name(fn: Callable[..., Any]) -> str:
    """The reference a job stores for the registered callback ``fn``."""
    try:
        return _CALLBACK_NAMES[fn]
    except (KeyError, TypeError):  # TypeError: an unhashable object is not a callback either
        raise ValueError(f"{_reference(fn)} is not a registered callback (decorate it with @callback)") from None


_FALLBACK: list[_Entry] = []  # at most one: the local stack's inbox (devtools/inbox.py)


def set_fallback(fn: Callable[[ActionContext], object] | None) -> None:
    """Hand every occurrence that has no agent URL and no registered action to ``fn`` (None: none).

    Only the local stack installs one (its inbox agent), so that a newcomer's first job, made
    for an agent nobody configured yet, is received and shown instead of dead-lettered."""
    _FALLBACK[:] = [] if fn is None else [_Entry(fn, True)]


def run_action(ctx: ActionContext, timeout_s: float | None = None) -> object:
    """Run the handler registered for ``ctx.payload["action"]``; unknown -> the fallback if one is
    installed, else UnknownAction."""
    name = ctx.payload.get("action") if isinstance(ctx.payload, dict) else None
    if isinstance(name, str) and name in _ACTIONS:
        return _invoke("action", name, _ACTIONS[name], ctx, timeout_s)
    if _FALLBACK:
        return _invoke("fallback", "inbox", _FALLBACK[0], ctx, timeout_s)
    raise UnknownAction(name)


def run_callback(name: str, ctx: ActionContext, timeout_s: float | None = None) -> object:
    """Run the callback registered under ``name``; unknown -> non-retryable DeliveryFailed."""
    entry = _CALLBACKS.get(name) if isinstance(name, str) else None
    if entry is None:
        # Typically a deployment that no longer imports (or renamed) the callback's module.
        raise DeliveryFailed(f"no registered callback {name!r}", retryable=False)
    return _invoke("callback", name, entry, ctx, timeout_s)


def _invoke(kind: str, name: str, entry: _Entry, ctx: ActionContext, timeout_s: float | None) -> object:
    """Call a handler within ``timeout_s`` and turn its result or exception into the executor's terms."""
    def call() -> object:
        result = entry.fn(ctx) if entry.takes_context else entry.fn()
        if inspect.iscoroutine(result):  # async handlers run to completion here
            import asyncio  # only for them: ~20 ms of an executor's cold start otherwise

            result = asyncio.run(result)
        return result
    try:
        return call() if timeout_s is None else _within(call, timeout_s, f"{kind} {name}")
    except DeliveryFailed:
        raise  # the handler chose its own classification
    except Exception as exc:
        # The traceback goes to the log for operators; the run keeps one readable line.
        log.exception("%s %s raised (run %s, attempt %s)", kind, name, ctx.run_id, ctx.attempt)
        text = " ".join(str(exc).split())[:_MAX_ERROR_CHARS]
        raise DeliveryFailed(f"{kind} {name} raised {type(exc).__name__}: {text}", retryable=True) from exc


def _within(call: Callable[[], object], timeout_s: float, what: str) -> object:
    # Python cannot stop a thread: a handler past its deadline is abandoned (it runs on as a
    # daemon thread, its result ignored) and the attempt fails as timed out, so the deadline
    # bounds the attempt, and with it the claim's lease, whatever the handler does.
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc
    worker = threading.Thread(target=target, name=f"agentos-{what}", daemon=True)
    worker.start()
    worker.join(max(0.0, timeout_s))
    if worker.is_alive():
        raise DeliveryFailed(f"{what} timed out after {int(timeout_s * 1000)} ms", retryable=True)
    if "error" in box:
        raise box["error"]
    return box.get("value")


def load_plugins() -> None:
    """Import every module of ``chalicelib.engine.plugins`` once so that their decorators register.

    An import error propagates: a broken plugin should stop start-up, not surface
    later as a confusing "no registered action".
    """
    global _plugins_loaded
    with _PLUGINS_LOCK:
        if _plugins_loaded:
            return
        package = importlib.import_module(f"{__package__}.plugins")
        for module in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            importlib.import_module(f"{package.__name__}.{module.name}")
        _plugins_loaded = True
