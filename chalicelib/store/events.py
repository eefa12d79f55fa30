"""A job's history (contract section 13): one item per change to the job or system action on it.

Events live in the runs table, under a hash key of their own (``jobId = event#<jobId>``, ``id =
<13-digit ms>#<8 hex>``: sorted by time, newest first by a backward Query). No job id starts with
``event#``, so no query of a job's runs ever meets one, and an event carries none of the runs'
index attributes (``agentQueue``, ``overdue`` stay sparse). An event is written *in the same
transaction* as the write it describes (:meth:`EventLog.add`): the change and its event are
committed together or not at all.

TTL (``expiresAt``): an event expires ``runHistoryDays + 30`` days after it is written. A job's
history thus covers at least what its runs cover, and after a delete the events of the
``runHistoryDays`` before it (and the delete itself) stay readable for 30 more days.
"""
from __future__ import annotations

import json
import secrets
from typing import Any, NamedTuple

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError, QueryError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from ..defaults import DAY_MS
from ..errors import ValidationFailed
from . import aws, dynamo
from .models import RunsTableMeta

aws.share_with_pynamodb()

KEY_PREFIX = "event#"
KEPT_AFTER_DELETE_DAYS = 30  # contract section 13: a deleted job's history stays this long
VALUE_KEEP_BYTES = 1024  # a changed value longer than this (as JSON) is kept as a marker


class EventModel(Model):
    """One event of a job's history (an item of the runs table)."""

    class Meta(RunsTableMeta):
        pass

    jobId = UnicodeAttribute(hash_key=True)  # "event#<jobId>"
    id = UnicodeAttribute(range_key=True)  # "<13-digit at>#<8 hex>"
    at = NumberAttribute()
    action = UnicodeAttribute()
    actorKind = UnicodeAttribute()
    actorId = UnicodeAttribute()
    changes = UnicodeAttribute()  # JSON text of {field: [old, new]}
    reason = UnicodeAttribute(null=True)
    agentId = UnicodeAttribute(null=True)  # the job's agent: a scoped token's check after a delete
    expiresAt = NumberAttribute()  # DynamoDB TTL, epoch seconds


class Actor(NamedTuple):
    """Who did it: ``kind`` (token, scoped, callback, mcp, console, system) and a non-secret ``id``."""

    kind: str
    id: str


SYSTEM = "system"
BREAKER = Actor(SYSTEM, "breaker")
MAX_RUNS = Actor(SYSTEM, "maxRuns")
END_AT = Actor(SYSTEM, "endAt")


class Event(NamedTuple):
    """What is recorded of one write: its action, its actor, its changes and why."""

    action: str
    actor: Actor
    changes: dict[str, list[Any]]
    reason: str | None = None


def kept(value: Any) -> Any:
    """``value`` as an event keeps it: itself, or ``{"truncated": true, "bytes": n}`` past 1 KiB
    (an event must not cost the write it describes much more than the write itself)."""
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    return {"truncated": True, "bytes": size} if size > VALUE_KEEP_BYTES else value


def diff(before: dict[str, Any], after: dict[str, Any], fields: tuple[str, ...]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for each of ``fields`` whose value differs between the two views."""
    return {f: [kept(before.get(f)), kept(after.get(f))] for f in fields if before.get(f) != after.get(f)}


def event_key(job_id: str) -> str:
    """The runs-table hash key of ``job_id``'s events."""
    return f"{KEY_PREFIX}{job_id}"


class EventLog:
    """Adds events to transactions and reads a job's history (AWS errors become 503s here)."""

    def __init__(self, run_history_days: int = 30, model: type[EventModel] = EventModel) -> None:
        self.keep_days = run_history_days + KEPT_AFTER_DELETE_DAYS
        self.model = model

    def item(self, job_id: str, agent_id: str | None, event: Event, at_ms: int) -> EventModel:
        """The item of ``event`` on ``job_id`` at ``at_ms``."""
        return self.model(event_key(job_id), f"{at_ms:013d}#{secrets.token_hex(4)}", at=at_ms,
                          action=event.action, actorKind=event.actor.kind, actorId=event.actor.id,
                          changes=json.dumps(event.changes, separators=(",", ":"), ensure_ascii=False),
                          reason=event.reason, agentId=agent_id,
                          expiresAt=(at_ms + self.keep_days * DAY_MS) // 1000)

    def add(self, tx: TransactWrite, job_id: str, agent_id: str | None, event: Event | None, at_ms: int) -> None:
        """Write ``event`` (if any) in ``tx``, as an UpdateItem that creates it: appended to the
        transaction's updates, it leaves the positions of the items before it (and their
        cancellation reasons) where their writers read them. Its key is new: no condition."""
        if event is None:
            return
        item, model = self.item(job_id, agent_id, event, at_ms), self.model
        values = {name: getattr(item, name) for name in ("at", "action", "actorKind", "actorId", "changes",
                                                         "reason", "agentId", "expiresAt")}
        tx.update(item, actions=[getattr(model, name).set(value) for name, value in values.items()
                                 if value is not None])

    def put_with(self, item: Model, condition: Condition, job_id: str, event: Event, at_ms: int) -> bool:
        """Put ``item`` (on ``condition``) and ``event`` in one transaction: True if both were written.
        False if the condition failed: ``event`` is then written alone (what it records happened)."""
        def write() -> None:
            with TransactWrite(connection=dynamo.model_connection(self.model)) as tx:
                tx.save(item, condition=condition)
                self.add(tx, job_id, None, event, at_ms)
        if dynamo.committed(write, lambda: dynamo.unavailable("runs", "record a run and its event")):
            return True
        try:
            self.item(job_id, None, event, at_ms).save()
        except PutError as exc:
            raise dynamo.unavailable("runs", "record an event") from exc
        return False

    def page(self, job_id: str, limit: int, cursor: str | None) -> tuple[list[EventModel], str | None]:
        """One page of ``job_id``'s events, newest first, and the next page's cursor."""
        start = dynamo.decode_cursor(cursor, ["jobId", "id"])
        if start is not None and start["jobId"] != {"S": event_key(job_id)}:  # another list's (or job's) cursor
            raise ValidationFailed("cursor", "is not a cursor of this job's events")
        try:
            pages = self.model.query(event_key(job_id), scan_index_forward=False, limit=limit,
                                     last_evaluated_key=start)
            events = list(pages)
        except QueryError as exc:
            raise dynamo.unavailable("runs", "list a job's events") from exc
        more = len(events) == limit and pages.last_evaluated_key is not None
        return events, dynamo.encode_cursor(pages.last_evaluated_key) if more else None

    def newest(self, job_id: str) -> EventModel | None:
        """The job's latest event (after a delete: the delete), or None."""
        events, _ = self.page(job_id, 1, None)
        return events[0] if events else None
