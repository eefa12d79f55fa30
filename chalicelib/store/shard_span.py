"""The due index's shard span: how many due shards may hold jobs, recorded in one item of the jobs
table (``meta#dueShards``, in the index under partition -1). A tick with a lower configured count
must still query every shard a job may sit in; the record rises at once and comes down only after
every higher shard was found empty for ``SPAN_GRACE_MS`` (chalicelib/engine/dispatch.py)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from pynamodb.attributes import NumberAttribute
from pynamodb.exceptions import QueryError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from . import dynamo
from .models import JobModel

SHARD_SPAN_ID = "meta#dueShards"
SHARD_SPAN_PARTITION = -1
UNRECORDED_SHARD_SPAN = 4  # config.Scheduler.dueShards' default (tests/test_config.py checks)
# A lower count is recorded only this long after a tick first asked for it: the longest a Lambda
# invocation started before the config change (with the higher count) may still run and arm a job.
SPAN_GRACE_MS = 15 * 60_000
# The lowering under way, on the record: the count asked for and when it was first asked.
_LOWER_TO = NumberAttribute(attr_name="lowerTo")
_LOWER_SINCE = NumberAttribute(attr_name="lowerSince")


class ShardSpans:
    """The recorded due-shard count (given the jobs model)."""

    def __init__(self, model: type[JobModel] = JobModel) -> None:
        self.model = model

    def span(self) -> int:
        """How many due shards may hold jobs: the highest count recorded, or the default."""
        try:
            for item in self.model.due.query(SHARD_SPAN_PARTITION, limit=1, scan_index_forward=False):
                return int(item.nextRunAt)
        except QueryError as exc:
            raise dynamo.unavailable("jobs", "read the due-shard count") from exc
        return UNRECORDED_SHARD_SPAN

    def record(self, shards: int) -> None:
        """Raise the recorded due-shard count to ``shards`` (it is never lowered by this); a
        lowering under way (:meth:`lower`) is called off."""
        span = self.model.nextRunAt
        try:
            self.model(SHARD_SPAN_ID).update(
                actions=[self.model.dueShard.set(SHARD_SPAN_PARTITION), span.set(shards), _LOWER_TO.remove(),
                         _LOWER_SINCE.remove()],
                condition=span.does_not_exist() | (span < shards))
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":  # already as high
                raise dynamo.unavailable("jobs", "record the due-shard count") from exc

    def is_empty(self, shard: int) -> bool:
        """True if no job at all is armed in due shard ``shard`` (one Query of at most one item)."""
        try:
            return next(iter(self.model.due.query(shard, limit=1)), None) is None
        except QueryError as exc:
            raise dynamo.unavailable("jobs", "look into a due shard") from exc

    def lower(self, recorded: int, shards: int, now_ms: int) -> bool:
        """Lower the recorded due-shard count from ``recorded`` to ``shards``; the caller found every
        shard from ``shards`` up empty. Only once ``shards`` has been asked for SPAN_GRACE_MS
        (the first ask is noted on the record): until then a process started with the higher
        count may still arm a job in a higher shard. Every write is conditional on the record
        still saying ``recorded``. True if it was lowered."""
        since = self._lowering_since(recorded, shards, now_ms)
        if since is None or now_ms - since < SPAN_GRACE_MS:
            return False
        span = self.model.nextRunAt
        return self._span_write([span.set(shards), _LOWER_TO.remove(), _LOWER_SINCE.remove()],
                                (span == recorded) & (_LOWER_TO == shards) & (_LOWER_SINCE == since)) is not None

    def _lowering_since(self, recorded: int, shards: int, now_ms: int) -> int | None:
        """When the record was first asked to go down to ``shards`` (noting ``now_ms`` if not yet,
        or if it was asked for another count), or None if the record no longer says ``recorded``."""
        span, note = self.model.nextRunAt, [_LOWER_TO.set(shards)]
        item = self._span_write(note + [_LOWER_SINCE.set(_LOWER_SINCE | now_ms)],
                                (span == recorded) & (_LOWER_TO.does_not_exist() | (_LOWER_TO == shards)))
        if item is None:  # another count was asked for before (or the record moved): start again
            item = self._span_write(note + [_LOWER_SINCE.set(now_ms)], span == recorded)
        return dynamo.number(item, _LOWER_SINCE.attr_name) if item is not None else None

    def _span_write(self, actions: Sequence[Action], condition: Condition) -> dict[str, Any] | None:
        """One conditional write of the due-shard record: the item written, or None if the condition failed."""
        try:
            answer = self.model(SHARD_SPAN_ID).update(actions=list(actions), condition=condition)
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return None
            raise dynamo.unavailable("jobs", "lower the due-shard count") from exc
        return cast("dict[str, Any]", answer.get("Attributes", {}))
