"""Requests that are safe to retry (contract section 10): the ``Idempotency-Key`` header.

On ``POST /api/jobs``, ``POST /api/jobs/{id}/run`` and ``POST /api/runs/{runId}/replay``, a
request that carries a key answers, for 24 h, exactly what the first request with that key (from
the same token, to the same route, with the same body) answered, and does nothing else. The same
key with another route or body answers 409.

The first request takes the key with a conditional write (``pending``), does its work, then
keeps its answer. Only a success (2xx) is kept: a request that failed changed nothing, so its
key is given back and a retry does the work. A duplicate that finds the key ``pending`` waits a
little for the answer, then answers 409. Should the answer be lost after the work was done (the
store throttled), the key stays ``pending``: its duplicates answer 409, never do it twice.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from collections.abc import Callable
from typing import Any

from chalice import Response

from ..clock import now_ms, sleep_until
from ..errors import IdempotencyConflict, StoreUnavailable, ValidationFailed
from ..store.idempotency import Answer, IdempotencyStore, Record, State, record_key
from ..vocab import IDEMPOTENCY_KEY_MAX_LENGTH, IDEMPOTENCY_KEY_PATTERN

log = logging.getLogger("agentos.jobs.idempotency")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
OPEN_CALLER = "open"  # the fingerprint of every caller when security is off (there is no token)
HOLD_MS = 60_000  # longer than any request may run (API Gateway gives up after 29 s)
WAIT_STEP_MS = 100  # a duplicate looks again for the first request's answer this often...
WAIT_STEPS = 30  # ...this many times, then answers 409


def read_key(raw: str | None) -> str | None:
    """The ``Idempotency-Key`` header's value (None if absent); 400 unless 1-255 printable ASCII."""
    if raw is None:
        return None
    if len(raw) > IDEMPOTENCY_KEY_MAX_LENGTH or not re.fullmatch(IDEMPOTENCY_KEY_PATTERN, raw):
        raise ValidationFailed(HEADER, f"must be 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII characters")
    return raw


def caller_fingerprint(authorization: str | None, security: bool) -> str:
    """A non-secret fingerprint of the caller's token (the same token, the same fingerprint)."""
    if not security:
        return OPEN_CALLER
    token = (authorization or "").strip().partition(" ")[2].strip()
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def request_digest(route: str, raw_body: bytes | str | None) -> str:
    """The digest of a request: its route and its body (as JSON, whatever its spacing)."""
    raw = raw_body.encode() if isinstance(raw_body, str) else (raw_body or b"")
    try:
        body = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode() if raw.strip() else b""
    except (ValueError, UnicodeDecodeError, RecursionError):
        body = raw  # the work answers 400 for it, and nothing is kept
    return hashlib.sha256(route.encode() + b"\n" + body).hexdigest()


def _as_answer(response: Response) -> Answer:
    body = response.body if isinstance(response.body, str) else json.dumps(response.body)
    headers: dict[str, Any] = response.headers or {}
    return Answer(response.status_code, body, headers.get("Location"))


def _replay(answer: Answer) -> Response:
    headers: dict[str, str | list[str]] = {"Content-Type": "application/json", REPLAYED_HEADER: "true"}
    if answer.location is not None:
        headers["Location"] = answer.location
    return Response(body=answer.body, status_code=answer.status, headers=headers)


class Idempotency:
    """Answers a request with a key: once by doing its work, ever after from the record."""

    def __init__(self, store: IdempotencyStore) -> None:
        self.store = store

    def respond(self, key: str | None, caller: str, route: str, raw_body: bytes | str | None,
                work: Callable[[], Response]) -> Response:
        """``work()``'s answer, or the first answer to this key (``key`` None: just ``work()``)."""
        if key is None:
            return work()
        record, digest, owner = record_key(caller, key), request_digest(route, raw_body), secrets.token_hex(8)
        for _ in range(2):  # a first request that failed while this one waited gives the key back
            found = self.store.take(record, digest, owner, now_ms(), HOLD_MS)
            if found is None:
                return self._first(record, owner, work)
            replayed = self._duplicate(record, digest, found)
            if replayed is not None:
                return replayed
        raise IdempotencyConflict("the requests with this key keep failing; send it again")

    def _first(self, record: str, owner: str, work: Callable[[], Response]) -> Response:
        """Do the work of the request that holds the key, and keep its answer if it succeeded."""
        try:
            response = work()
        except BaseException:
            self._release(record, owner)
            raise
        if not 200 <= response.status_code < 300:
            self._release(record, owner)
            return response
        try:
            self.store.answer(record, owner, _as_answer(response))
        except StoreUnavailable:  # the work is done: answer it; the key stays pending, never done twice
            log.warning("the answer to an Idempotency-Key was not kept; its duplicates will answer 409")
        return response

    def _release(self, record: str, owner: str) -> None:
        try:
            self.store.release(record, owner)
        except StoreUnavailable:  # the key stays pending until its hold passes: a retry then answers 409
            log.warning("an Idempotency-Key of a failed request was not given back")

    def _duplicate(self, record: str, digest: str, found: Record) -> Response | None:
        """The answer to a request whose key another request holds (None: it gave the key back)."""
        for _ in range(WAIT_STEPS):
            if found.request != digest:
                raise IdempotencyConflict("this key was used for another request (route or body)")
            if found.state is State.DONE and found.answer is not None:
                return _replay(found.answer)
            if found.state is State.RELEASED or now_ms() > found.held_until:
                break
            sleep_until(now_ms() + WAIT_STEP_MS)
            again = self.store.read(record, now_ms())
            if again is None:
                return None
            found = again
        if found.state is State.RELEASED:
            return None
        raise IdempotencyConflict("the first request with this key has not answered yet; retry later")
