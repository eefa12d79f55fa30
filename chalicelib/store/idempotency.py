"""Idempotency records (contract section 10's ``Idempotency-Key``), kept in the runs table.

One item per (token fingerprint, key): ``jobId = idem#<fingerprint>#<key>``, ``id = idem``. No
job id starts with ``idem#``, so no query of a job's runs ever meets one, and the item carries
none of the runs' index attributes, so it stays out of the sparse indexes. The runs table's TTL
(``expiresAt``) removes it a day after its request; until DynamoDB gets round to it, a record
past its ``expiresAt`` counts as absent.

A record is taken by a conditional Put (``pending``, owned by one request), then holds that
request's answer (``done``), or is given back (``released``) when the request failed and
changed nothing. DeleteItem is never used: the API function is not allowed it on this table.
"""
from __future__ import annotations

import zlib
from enum import StrEnum
from typing import NamedTuple

from pynamodb.attributes import BinaryAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import GetError, PutError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from ..defaults import IDEMPOTENCY_TTL_S
from ..errors import StoreUnavailable
from . import aws, dynamo
from .models import RunsTableMeta

aws.share_with_pynamodb()

RECORD_RANGE = "idem"


class State(StrEnum):
    """Where the request that holds a key is."""

    PENDING = "pending"  # its request is running (or died: see ``heldUntil``)
    DONE = "done"  # it answered: the answer is kept
    RELEASED = "released"  # it failed and changed nothing: the key is free again


class IdempotencyModel(Model):
    """One ``Idempotency-Key`` of one token (an item of the runs table)."""

    class Meta(RunsTableMeta):
        pass

    jobId = UnicodeAttribute(hash_key=True)  # "idem#<token fingerprint>#<key>"
    id = UnicodeAttribute(range_key=True)  # RECORD_RANGE
    state = UnicodeAttribute()
    owner = UnicodeAttribute()  # a nonce of the request that took the key
    request = UnicodeAttribute()  # digest of the route and the body
    heldUntil = NumberAttribute()  # epoch ms: a pending request older than this is presumed dead
    status = NumberAttribute(null=True)
    body = BinaryAttribute(null=True, legacy_encoding=False)  # the answer's body, zlib-compressed
    location = UnicodeAttribute(null=True)
    expiresAt = NumberAttribute()  # DynamoDB TTL, epoch seconds


class Answer(NamedTuple):
    """What the first request answered."""

    status: int
    body: str
    location: str | None = None


class Record(NamedTuple):
    """A key as stored."""

    state: State
    owner: str
    request: str
    held_until: int
    answer: Answer | None


def record_key(fingerprint: str, key: str) -> str:
    """The item's hash key for ``key`` presented with the token of ``fingerprint``."""
    return f"idem#{fingerprint}#{key}"


class IdempotencyStore:
    """Takes, answers and gives back idempotency keys; every AWS error becomes a 503 here."""

    def __init__(self, model: type[IdempotencyModel] = IdempotencyModel, ttl_s: int = IDEMPOTENCY_TTL_S) -> None:
        self.model = model
        self.ttl_s = ttl_s

    def take(self, key: str, request: str, owner: str, now_ms: int, hold_ms: int) -> Record | None:
        """Take ``key`` for ``owner``'s request: None if it is now ``owner``'s, else the record
        that holds it. A Put whose answer was lost and that botocore sent again finds its own
        record: it is ``owner``'s, so it is taken."""
        model = self.model
        item = model(key, RECORD_RANGE, state=State.PENDING.value, owner=owner, request=request,
                     heldUntil=now_ms + hold_ms, expiresAt=now_ms // 1000 + self.ttl_s)
        free = model.jobId.does_not_exist() | (model.state == State.RELEASED.value) \
            | (model.expiresAt < now_ms // 1000)
        try:
            item.save(condition=free)
            return None
        except PutError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                self._give_back(key, owner)
                raise dynamo.unavailable("runs", "take an Idempotency-Key") from exc
        found = self.read(key, now_ms)
        if found is None or found.owner == owner:
            return None if found is not None else self.take(key, request, owner, now_ms, hold_ms)
        return found

    def read(self, key: str, now_ms: int) -> Record | None:
        """The record of ``key`` (consistent), or None if there is none or it expired."""
        try:
            item = self.model.get(key, RECORD_RANGE, consistent_read=True)
        except self.model.DoesNotExist:
            return None
        except GetError as exc:
            raise dynamo.unavailable("runs", "read an Idempotency-Key") from exc
        if int(item.expiresAt) < now_ms // 1000:
            return None
        answer = None
        if item.status is not None:
            text = zlib.decompress(item.body).decode() if item.body is not None else ""
            answer = Answer(int(item.status), text, item.location)
        return Record(State(item.state), item.owner, item.request, int(item.heldUntil), answer)

    def answer(self, key: str, owner: str, answer: Answer) -> None:
        """Keep ``owner``'s answer under ``key`` (StoreUnavailable if it cannot be written)."""
        model = self.model
        actions: list[Action] = [model.state.set(State.DONE.value), model.status.set(answer.status),
                   model.body.set(zlib.compress(answer.body.encode()))]
        if answer.location is not None:
            actions.append(model.location.set(answer.location))
        self._update(key, owner, actions, "keep an Idempotency-Key's answer")

    def release(self, key: str, owner: str) -> None:
        """Give ``key`` back: ``owner``'s request failed and changed nothing."""
        self._update(key, owner, [self.model.state.set(State.RELEASED.value)], "give back an Idempotency-Key")

    def _give_back(self, key: str, owner: str) -> None:
        # A Put whose answer was lost may have been written: give the key back, or a retry of this
        # request (which did nothing) would find it pending. If this fails too, the retry answers 409.
        try:
            self.release(key, owner)
        except StoreUnavailable:
            pass

    def _update(self, key: str, owner: str, actions: list[Action], what: str) -> None:
        model = self.model
        try:
            model(key, RECORD_RANGE).update(
                actions=actions, condition=(model.owner == owner) & (model.state == State.PENDING.value))
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return  # written already (a lost answer sent again), or expired and taken by another
            raise StoreUnavailable(f"runs table unavailable while trying to {what}; retry later") from exc
