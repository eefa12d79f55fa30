"""The payload a run on demand is delivered (contract section 10: run now with a payload, replay).

Every claim of an attempt rewrites its run item whole (a Put, :mod:`.runs`), so what a run
was asked to deliver cannot live only on the run item: it is kept in an item of its own, in the
runs table, that nothing rewrites (``jobId = payload#<runId>``, ``id = payload``; no job id
starts with ``payload#``, and the item has none of the runs' index attributes). It is written
before the run's message is sent; each claim of a run on demand reads it (one GetItem, once per
process) and copies it onto the run item. Scheduled runs have none: they are delivered their
job's payload, read at their instant, and cost nothing more.
"""
from __future__ import annotations

import threading
from typing import NamedTuple

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import GetError, PutError
from pynamodb.models import Model

from . import aws, dynamo
from .models import RunsTableMeta

aws.share_with_pynamodb()

RECORD_RANGE = "payload"
REMEMBERED = 1024  # run payloads a process keeps after reading them (a run's retries read it once)


class RunPayloadModel(Model):
    """The payload of one run on demand, and the run it replays (an item of the runs table)."""

    class Meta(RunsTableMeta):
        pass

    jobId = UnicodeAttribute(hash_key=True)  # "payload#<runId>"
    id = UnicodeAttribute(range_key=True)  # RECORD_RANGE
    payload = UnicodeAttribute()  # JSON text
    replayOf = UnicodeAttribute(null=True)
    expiresAt = NumberAttribute()  # DynamoDB TTL, epoch seconds: with the run's own


class RunPayload(NamedTuple):
    """What a run on demand is delivered, and the run it replays (if it is a replay)."""

    payload: str  # JSON text
    replay_of: str | None = None


class RunPayloads:
    """Writes and reads the payloads of runs on demand (AWS errors become 503s here)."""

    def __init__(self, model: type[RunPayloadModel] = RunPayloadModel) -> None:
        self.model = model
        self._seen: dict[str, RunPayload | None] = {}
        self._lock = threading.Lock()

    def put(self, run_id: str, payload: RunPayload, expires_s: int) -> None:
        """Keep ``payload`` for ``run_id`` (before its message is sent)."""
        item = self.model(f"payload#{run_id}", RECORD_RANGE, payload=payload.payload, replayOf=payload.replay_of,
                          expiresAt=expires_s)
        try:
            item.save()
        except PutError as exc:
            raise dynamo.unavailable("runs", "keep a run's payload") from exc
        self._remember(run_id, payload)

    def get(self, run_id: str) -> RunPayload | None:
        """The payload kept for ``run_id`` (None: the run is delivered its job's payload)."""
        with self._lock:
            if run_id in self._seen:
                return self._seen[run_id]
        try:
            item = self.model.get(f"payload#{run_id}", RECORD_RANGE, consistent_read=True)
            found: RunPayload | None = RunPayload(item.payload, item.replayOf)
        except self.model.DoesNotExist:
            found = None
        except GetError as exc:
            raise dynamo.unavailable("runs", "read a run's payload") from exc
        self._remember(run_id, found)
        return found

    def _remember(self, run_id: str, payload: RunPayload | None) -> None:
        with self._lock:
            if len(self._seen) >= REMEMBERED:
                self._seen.clear()  # a bounded memory: forgetting costs one read, never a wrong payload
            self._seen[run_id] = payload
