"""Continuity (contract section 12): what a job's last succeeded run leaves for the next one.

Two things live on the job item, which the executor reads at each instant anyway (so a delivery
costs no extra read): ``lastSuccess`` (the JSON of ``{runId, scheduledAt, finishedAt, output}``,
with ``lastSuccessAt``, its ``finishedAt`` in epoch ms, beside it for conditions) and ``state``
(the JSON value the agent saved). Both are written by the transaction that records the run's
success (:mod:`.progress`), so a run that fails, times out or is cancelled never changes them.

Two successes recorded out of order: the one that finished later wins. The write is
conditional on the job's ``lastSuccessAt`` not being later than this run's ``finishedAt``; a
write refused so learns it was superseded and records the run alone, leaving the job's newer
``lastSuccess`` and ``state`` as they are.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from ..clock import iso
from ..defaults import STATE_MAX_BYTES
from ..errors import PayloadTooLarge, ValidationFailed
from ..store import dynamo
from ..store.models import JobModel, RunStatus
from ..store.runs import Occurrence
from .delivery import AgentAnswer

STATE_KEY = "state"


class Saved(NamedTuple):
    """A state a succeeded run saves: its JSON text, or None (JSON null: the job has no state)."""

    text: str | None


def state_text(value: Any) -> str | None:
    """The stored JSON text of a state (None for JSON null). PayloadTooLarge past
    STATE_MAX_BYTES; ValidationFailed for what is not JSON text. Both name ``state``."""
    if value is None:
        return None
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        size = len(text.encode())
    except (TypeError, ValueError) as exc:  # a datetime, a cycle, NaN, a lone surrogate
        raise ValidationFailed(STATE_KEY, f"is not JSON that can be stored ({exc})") from exc
    if size > STATE_MAX_BYTES:
        raise PayloadTooLarge(f"state: {size} bytes is over the limit of {STATE_MAX_BYTES} bytes", STATE_KEY)
    return text


def lift_state(document: Any) -> tuple[Any, Saved | None]:
    """Split a top-level ``"state"`` out of a JSON object: (what stays the run's output, the state
    it saves, or None when it has no such key). The output is what the run produced; the state is
    the job's memory, so it is kept once, on the job."""
    if not isinstance(document, dict) or STATE_KEY not in document:
        return document, None
    return without_state(document), Saved(state_text(document[STATE_KEY]))


def without_state(document: Any) -> Any:
    """A JSON object without its top-level ``"state"`` (anything else as it is)."""
    if not isinstance(document, dict) or STATE_KEY not in document:
        return document
    return {k: v for k, v in document.items() if k != STATE_KEY}


def lift_answer(answer: AgentAnswer | object) -> tuple[AgentAnswer | object, Saved | None]:
    """The same for an agent's 2xx answer (its JSON document) or an in-process action's return value."""
    if isinstance(answer, AgentAnswer):
        document, saved = lift_state(answer.document)
        return (answer._replace(document=document) if saved is not None else answer), saved
    return lift_state(answer)


def delivered(job: JobModel) -> dict[str, Any]:
    """A delivery's ``state`` and ``last_success`` (ActionContext fields), from the job as read."""
    return {"state": json.loads(job.state) if job.state else None,
            "last_success": json.loads(job.lastSuccess) if job.lastSuccess else None}


@dataclass
class Success:
    """What a succeeded run writes on its job, in the write that records its success."""

    run_id: str
    scheduled_ms: int
    finished_ms: int
    output: str | None  # the run's output, JSON text as stored on the run
    saved: Saved | None  # the state it saves; None: the job's state stays as it is
    superseded: bool = False  # a success that finished later is already on the job

    @classmethod
    def of(cls, occ: Occurrence, finished_ms: int, output: str | None, saved: Saved | None) -> Success:
        """The success of attempt ``occ``, finished at ``finished_ms``."""
        return cls(occ.run_id, occ.scheduled_ms, finished_ms, output, saved)

    def text(self) -> str:
        """The job's ``lastSuccess`` JSON (the output is spliced in as stored: not parsed again)."""
        head = json.dumps({"runId": self.run_id, "scheduledAt": iso(self.scheduled_ms),
                           "finishedAt": iso(self.finished_ms)}, separators=(",", ":"))
        return f'{head[:-1]},"output":{self.output or "null"}}}'

    def learn(self, item: dict[str, Any] | None) -> None:
        """The job's write was refused: find out whether a later success is already recorded."""
        recorded = dynamo.number(item, "lastSuccessAt")
        self.superseded = recorded is not None and recorded > self.finished_ms


def job_write(jobs: type[JobModel], success: Success | None, status: RunStatus) -> tuple[list[Action], Condition]:
    """Continuity's part of the final write: lastSuccess and the saved state, only for a run that
    ends ``succeeded`` (one asked to stop ends ``cancelled`` and changes neither), only if no
    success that finished later is recorded."""
    if success is None or success.superseded or status is not RunStatus.SUCCEEDED:
        return [], cast(Condition, jobs.id.exists())
    actions: list[Action] = [jobs.lastSuccess.set(success.text()), jobs.lastSuccessAt.set(success.finished_ms)]
    if success.saved is not None:
        text = success.saved.text
        actions.append(jobs.state.remove() if text is None else jobs.state.set(text))
    newer = jobs.lastSuccessAt.does_not_exist() | (jobs.lastSuccessAt <= success.finished_ms)
    return actions, cast(Condition, newer)


def learn(success: Success | None, item: dict[str, Any] | None) -> None:
    """After a refused final write: ``success`` learns from the job as it was (see :meth:`Success.learn`)."""
    if success is not None:
        success.learn(item)
