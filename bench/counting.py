"""Count AWS API calls and DynamoDB items read with botocore event hooks.

Every botocore client created after :meth:`CallCounter.install` (boto3's SQS client and
PynamoDB's DynamoDB client alike: PynamoDB builds its client from its own botocore
session, so the hook is added where every session creates clients) gets an
``after-call`` handler. Counts are exact and deterministic, unlike wall times.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore.session

READ_OPERATIONS = ("Query", "Scan")
TAG = threading.local()  # ``TAG.name = "tick"`` in a thread: its calls are also counted under that tag
_HOOK_ID = "agentos-bench-call-counter"
_SERVICE_KEY = "agentos_bench_service"
_CLOCK_KEY = "agentos_bench_started"


@dataclass
class Tally:
    """Calls by ``service.Operation``, items read (ScannedCount; BatchGetItem's items), response bytes, seconds spent in
    calls, and botocore's retries (HTTP attempts beyond the first: throttles, moto's 500s)."""

    calls: Counter = field(default_factory=Counter)
    items_read: int = 0
    response_bytes: Counter = field(default_factory=Counter)
    seconds: Counter = field(default_factory=Counter)
    retries: int = 0

    def copy(self) -> Tally:
        """An independent snapshot."""
        return Tally(Counter(self.calls), self.items_read, Counter(self.response_bytes), Counter(self.seconds),
                     self.retries)

    def minus(self, before: Tally) -> Tally:
        """What happened since ``before``."""
        def diff(now: Counter, then: Counter) -> Counter:
            return Counter({k: v - then[k] for k, v in now.items() if v - then[k]})

        return Tally(diff(self.calls, before.calls), self.items_read - before.items_read,
                     diff(self.response_bytes, before.response_bytes), diff(self.seconds, before.seconds),
                     self.retries - before.retries)

    def mean_ms(self, operation: str) -> float:
        """Mean wall time of one ``service.Operation`` call, in ms (0 if none)."""
        return 1000 * self.seconds[operation] / self.calls[operation] if self.calls[operation] else 0.0

    def service_calls(self, service: str) -> int:
        """All calls to ``service`` (``dynamodb`` or ``sqs``)."""
        return sum(v for k, v in self.calls.items() if k.startswith(service + "."))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view, operations sorted."""
        return {"calls": dict(sorted(self.calls.items())), "items_read": self.items_read,
                "dynamodb_calls": self.service_calls("dynamodb"), "sqs_calls": self.service_calls("sqs"),
                "retries": self.retries,
                "response_bytes": dict(sorted(self.response_bytes.items())),
                "mean_ms": {k: round(self.mean_ms(k), 1) for k in sorted(self.calls)}}


class CallCounter:
    """Process-wide counter fed by an ``after-call`` hook on every new botocore client."""

    def __init__(self) -> None:
        self.total = Tally()
        self._lock = threading.Lock()
        self._original: Any = None
        self._clients: list[Any] = []
        self.in_flight: Counter = Counter()  # calls started and not yet answered, by service
        self.tagged: Counter = Counter()  # "<tag> <service>" calls made by threads carrying a TAG

    def install(self) -> CallCounter:
        """Hook every botocore client created from now on (and, via :meth:`attach`, older ones)."""
        if self._original is not None:
            return self
        original = botocore.session.Session.create_client
        counter = self

        def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
            return counter.attach(original(session, *args, **kwargs))

        self._original = original
        botocore.session.Session.create_client = create_client
        return self

    def attach(self, client: Any) -> Any:
        """Hook one existing client (idempotent: each hook has its own unique id, which botocore
        keys on whatever the event)."""
        for event, suffix in (("before-call", "-before"), ("after-call", "-after"), ("after-call-error", "-error")):
            # Another counter's hook on this client (a test that counted before, in this process)
            # would keep the unique id, and botocore would ignore this registration: take it over.
            client.meta.events.unregister(event, unique_id=_HOOK_ID + suffix)
        client.meta.events.register("before-call", self.on_before_call, unique_id=_HOOK_ID + "-before")
        client.meta.events.register("after-call", self.on_after_call, unique_id=_HOOK_ID + "-after")
        client.meta.events.register("after-call-error", self.on_call_error, unique_id=_HOOK_ID + "-error")
        self._clients.append(client)
        return client

    def uninstall(self) -> None:
        """Stop hooking new clients and unhook the hooked ones."""
        if self._original is not None:
            botocore.session.Session.create_client = self._original
            self._original = None
        for client in self._clients:
            client.meta.events.unregister("before-call", unique_id=_HOOK_ID + "-before")
            client.meta.events.unregister("after-call", unique_id=_HOOK_ID + "-after")
            client.meta.events.unregister("after-call-error", unique_id=_HOOK_ID + "-error")
        self._clients.clear()

    def on_before_call(self, model: Any = None, context: Any = None, **_: Any) -> None:
        """botocore's ``before-call`` event: note when the call started and its service (in its
        request context)."""
        if context is not None:
            context[_CLOCK_KEY] = time.perf_counter()
            context[_SERVICE_KEY] = model.service_model.endpoint_prefix
        with self._lock:
            self.in_flight[model.service_model.endpoint_prefix] += 1

    def on_call_error(self, context: Any = None, **_: Any) -> None:
        """botocore's ``after-call-error`` event: a call that ended without an answer (botocore
        gives this event no model: the service comes from the request context)."""
        service = (context or {}).get(_SERVICE_KEY)
        if service is not None:
            with self._lock:
                self.in_flight[service] -= 1

    def on_after_call(self, http_response: Any = None, parsed: Any = None, model: Any = None,
                      context: Any = None, **_: Any) -> None:
        """botocore's ``after-call`` event: one finished API call (after its retries)."""
        name = f"{model.service_model.endpoint_prefix}.{model.name}"
        scanned = parsed.get("ScannedCount", 0) if model.name in READ_OPERATIONS and parsed else 0
        if model.name == "BatchGetItem" and parsed:  # the list fetches its page's jobs this way
            scanned = sum(len(items) for items in (parsed.get("Responses") or {}).values())
        size = len(getattr(http_response, "content", b"") or b"")
        started = (context or {}).get(_CLOCK_KEY)
        retried = ((parsed or {}).get("ResponseMetadata") or {}).get("RetryAttempts", 0)
        with self._lock:
            self.in_flight[model.service_model.endpoint_prefix] -= 1
            self.total.retries += int(retried or 0)
            if started is not None:
                self.total.seconds[name] += time.perf_counter() - started
            self.total.calls[name] += 1
            tag = getattr(TAG, "name", None)
            if tag:
                self.tagged[f"{tag} {model.service_model.endpoint_prefix}"] += 1
            self.total.items_read += int(scanned or 0)
            self.total.response_bytes[name] += size

    def snapshot(self) -> Tally:
        """The totals so far."""
        with self._lock:
            return self.total.copy()

    @contextmanager
    def measure(self) -> Iterator[Tally]:
        """``with counter.measure() as t:`` fills ``t`` with what the block did."""
        result = Tally()
        before = self.snapshot()
        yield result
        delta = self.snapshot().minus(before)
        result.calls, result.items_read = delta.calls, delta.items_read
        result.response_bytes, result.seconds, result.retries = delta.response_bytes, delta.seconds, delta.retries


COUNTER = CallCounter()


def attach_models(counter: CallCounter, *models: Any) -> None:
    """Hook the DynamoDB clients PynamoDB already built for ``models`` (tables and transactions)."""
    from chalicelib.store.dynamo import model_connection

    for model in models:
        counter.attach(model._get_connection().connection.client)
        counter.attach(model_connection(model).client)
