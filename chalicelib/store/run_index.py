"""Runs across jobs, newest first (``GET /api/runs``, contract section 13): one page reads about
its own size, whatever the table holds.

**The index.** ``recent`` (runs table GSI): hash ``runDay`` (the UTC day of the run's instant,
``YYYY-MM-DD``, from its id), range ``id`` (``run-<13-digit ms>-…``: sorts by time), keys only.
Its keys are written with the item and never change, so the index is written once per run (its
creation; the TTL's delete) and never by the many later writes of a run (claims, heartbeats,
outcomes): about one index write per run, ~100 bytes. A page queries the newest day partition
downwards (a day without runs costs one empty Query) and fetches the page's items with
BatchGetItem (100 keys a call). One partition a day takes ~1,000 new runs/s; past that, the day
would be split into ``runDay#<shard>`` partitions merged per page.

**Filters.** ``jobId``: the base table's own key (jobId, id), no index. ``since``: a bound on the
range key (``id >= run-<since>``) and the last day read. ``status``, ``trigger`` and ``agentId``
are applied to the items read: a page reads at most ``READ_FACTOR`` × ``limit`` items and may
then come back short, with a next link, so a rare filter costs more pages, never a big read.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pynamodb.exceptions import PynamoDBException

from ..clock import from_ms
from ..defaults import DAY_MS
from . import dynamo
from .models import RunModel

READ_FACTOR = 2  # a filtered page reads at most this many times its limit
CURSOR_KEYS = ["day", "id"]


def day_of(epoch_ms: int) -> str:
    """The UTC day (``YYYY-MM-DD``) of an instant: a run's ``runDay``."""
    return from_ms(epoch_ms).strftime("%Y-%m-%d")


def run_day(run_id: str) -> str | None:
    """The ``runDay`` of a run id (``run-<13-digit ms>-…``), or None for another item."""
    parts = run_id.split("-")
    return day_of(int(parts[1])) if len(parts) > 2 and parts[0] == "run" and parts[1].isdigit() else None


def stamp(run: RunModel) -> RunModel:
    """Give a run item about to be written whole its ``runDay`` (its place in the recent index)."""
    run.runDay = run_day(run.id)
    return run


@dataclass
class RunFilter:
    """What ``GET /api/runs`` asks for (None: any)."""

    status: str | None = None
    trigger: str | None = None
    job_id: str | None = None
    since_ms: int | None = None
    agent_of: Callable[[Iterable[str]], dict[str, str | None]] | None = None  # job ids -> agent ids
    agents: frozenset[str] | None = None  # the agents whose runs may be shown

    def failed_only(self) -> bool:
        """True when the sparse ``failed`` index serves the status filter itself."""
        return self.status == "failed" and self.job_id is None

    def filtered(self) -> bool:
        """True if items are dropped after they are read (the page may come back short)."""
        return bool((self.status and not self.failed_only()) or self.trigger or self.agents is not None)

    def keep(self, runs: list[RunModel]) -> list[RunModel]:
        """The runs that pass every filter."""
        kept = [r for r in runs if (not self.status or r.status == self.status)
                and (not self.trigger or r.trigger == self.trigger)]
        if self.agents is None or self.agent_of is None:
            return kept
        owners = self.agent_of({r.jobId for r in kept})
        return [r for r in kept if owners.get(r.jobId) in self.agents]


class RunIndex:
    """Pages of runs across jobs, newest first."""

    def __init__(self, model: type[RunModel] = RunModel, ttl_days: int = 30) -> None:
        self.model = model
        self.ttl_days = ttl_days
        self.items_read = 0  # index and base items read (the bench reads it)

    def page(self, wanted: RunFilter, limit: int, cursor: str | None,
             now_ms: int) -> tuple[list[RunModel], str | None]:
        """One page and the next page's cursor (None: no more)."""
        start = dynamo.decode_cursor(cursor, CURSOR_KEYS)
        oldest = day_of(max(wanted.since_ms or 0, now_ms - (self.ttl_days + 1) * DAY_MS))
        day, after = (str(start["day"]["S"]), str(start["id"]["S"]) or None) if start else (day_of(now_ms), None)
        budget = limit * READ_FACTOR if wanted.filtered() else limit
        found: list[RunModel] = []
        while day >= oldest and len(found) < limit and budget > 0:
            want = budget if wanted.filtered() else limit - len(found)
            runs, last = self._read(wanted, day, after, want)
            budget -= len(runs)
            found += wanted.keep(runs)
            day, after = (_previous(day), None) if last is None else (day, last)
        if len(found) > limit:  # a filtered read kept more than the page: the next one starts after it
            day, after = run_day(found[limit - 1].id) or day, found[limit - 1].id
        following = dynamo.encode_cursor({"day": {"S": day}, "id": {"S": after or ""}}) if day >= oldest else None
        return found[:limit], following

    def _read(self, wanted: RunFilter, day: str, after: str | None, want: int) -> tuple[list[RunModel], str | None]:
        """Up to ``want`` runs of ``day`` older than ``after``; the last id read if the day may hold more."""
        begins = _utc_ms(day)
        low = f"run-{max(begins, wanted.since_ms or 0):013d}"
        high = after or f"run-{begins + DAY_MS:013d}"
        between = self.model.id.between(low, high)
        try:
            if wanted.job_id is not None:  # the base table's own key: the job's runs of that day
                rows = list(self.model.query(wanted.job_id, between, scan_index_forward=False, limit=want + 1))
                rows = [r for r in rows if r.id != high][:want]
            else:
                index = self.model.failed if wanted.failed_only() else self.model.recent
                keys = list(index.query(day, between, scan_index_forward=False, limit=want + 1))
                keys = [k for k in keys if k.id != high][:want]
                self.items_read += len(keys)
                rows = self._items([(k.jobId, k.id) for k in keys])
        except PynamoDBException as exc:
            raise dynamo.unavailable("runs", "list runs") from exc
        self.items_read += len(rows)
        return rows, (rows[-1].id if rows and len(rows) >= want else None)

    def _items(self, keys: list[tuple[str, str]]) -> list[RunModel]:
        """The items of ``keys`` (BatchGetItem, 100 a call), in the keys' order (expired ones left out)."""
        if not keys:
            return []
        got: dict[tuple[str, str], RunModel] = {(r.jobId, r.id): r for r in self.model.batch_get(keys)}
        return [got[k] for k in keys if k in got]


def _utc_ms(day: str) -> int:
    return int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() * 1000)


def _previous(day: str) -> str:
    return (datetime.strptime(day, "%Y-%m-%d") - timedelta(days=1)).strftime("%Y-%m-%d")
