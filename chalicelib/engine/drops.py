"""Occurrences dropped because their job was paused, deleted, completed or rescheduled: not runs.

Such an occurrence leaves no run item (contract section 13). What keeps a redelivered copy of
its message from running later is the job item, not a run item: every claim is conditional on
the job being live at the occurrence's ``generation``, and a job becomes live again only with a
new generation (resuming and rescheduling bump it; a deleted job's id never comes back). So a
copy of a dropped occurrence always loses its claim, and is dropped again, writing nothing.

Two cases (docs/reliability.md, "Dropped occurrences"):

* the claim lost because the job is not live: nothing was written; only an item that waited for
  the job's overlap slot or its agent's slot (``queued``, never started) exists, and is deleted;
* the claim held, and the read of the job at the instant found it not live: the final write
  deletes the claimed item instead of marking it ``skipped``, in the same transaction that frees
  the job's overlap slot (and on the same condition: the attempt is still this claimant's).

A run on demand whose job was deleted, and a retry whose job was paused between attempts, are
runs that were asked for or started: they keep their record, ``skipped`` as before.
"""
from __future__ import annotations

import logging

from .. import telemetry
from ..clock import now_ms
from ..store.models import Trigger
from ..store.runs import Occurrence, RunStore, Slot

log = logging.getLogger("agentos.jobs.drops")


def droppable(occ: Occurrence) -> bool:
    """True for an occurrence that is dropped without a record when its job is not live: a
    scheduled first attempt (retries and runs on demand keep theirs)."""
    return occ.trigger is Trigger.SCHEDULE and occ.attempt == 1


def unclaimed(runs: RunStore, occ: Occurrence, slot: Slot | None, admitted: bool) -> None:
    """A claim of ``occ`` found its job not live: delete the item it left waiting, if any.

    Without a waiting item (the usual case: a message of the lookahead) this writes nothing."""
    waited = admitted or (slot is not None and (slot.waiting == occ.to_json() or slot.active_run == occ.run_id))
    if waited:  # it waited, or its claimant died holding the slot: its item goes
        runs.forget(occ, now_ms())
    dropped(occ)


def dropped(occ: Occurrence) -> None:
    """Count and log a dropped occurrence."""
    telemetry.count("RunsDropped")
    log.info("dropped job=%s run=%s: the job is not live at generation %s", occ.job_id, occ.run_id,
             occ.generation, extra={"jobId": occ.job_id, "runId": occ.run_id})
