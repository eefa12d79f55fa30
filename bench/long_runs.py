"""Long runs: DynamoDB and SQS calls per accepted run, and the deadline check's cost against the
number of runs in progress.

Runs inside ``moto.mock_aws`` with a real HTTP test agent answering 202. An accepted run's life
is counted whole: the executor's claim and accept, ``HEARTBEATS`` heartbeats and the completion
report (through the run service, as the API routes call it), then its deadline check arriving
after it ended. The deadline check is measured with 1,000 and 10,000 runs in progress, of which
``DUE`` reach their deadline: items read per due check must not grow with the runs in progress.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # chalicelib is imported after bench.env.prepare() set its environment
    from chalicelib.store.runs import Occurrence

HEARTBEATS = 3
REPEAT = 5
IN_PROGRESS = (1_000, 10_000)
DUE = 50


def accepted_life(agent: Any) -> dict[str, Any]:
    """Calls per accepted run: claim + accept, heartbeats, complete, the check after the end."""
    from chalicelib import runtime
    from chalicelib.store.sqs import Kind, Message

    from .counting import COUNTER
    from .executor_cost import cost_jobs, cost_message, cost_record

    agent.respond_with(202)
    messages = [cost_message(j) for j in cost_jobs(0x60)]
    service, executor = runtime.run_service(), runtime.executor()
    phases: dict[str, Any] = {}
    with COUNTER.measure() as tally:
        for i, m in enumerate(messages):
            executor.handle_batch([cost_record(m, i)])
    phases["deliver_and_accept"] = tally
    with COUNTER.measure() as tally:
        for m in messages:
            for beat in range(HEARTBEATS):
                service.heartbeat(m.occurrence.run_id, {"progress": {"step": beat}}, 1)
    phases["heartbeats"] = tally
    with COUNTER.measure() as tally:
        for m in messages:
            service.complete(m.occurrence.run_id, {"status": "succeeded", "output": {"ok": 1}}, 1)
    phases["complete"] = tally
    with COUNTER.measure() as tally:  # the deadline check arrives later and finds the run ended
        for m in messages:
            executor.run(Message(m.occurrence, int(time.time() * 1000), Kind.CHECK))
    phases["late_check"] = tally
    agent.respond_with(200)
    per = {name: {"dynamodb": round(t.service_calls("dynamodb") / REPEAT, 2),
                  "sqs": round(t.service_calls("sqs") / REPEAT, 2)} for name, t in phases.items()}
    total = round(sum(p["dynamodb"] for p in per.values()), 2)
    return {"heartbeats": HEARTBEATS, "repeat": REPEAT, "phases": per, "dynamodb_per_run": total,
            "dynamodb_per_run_formula": f"{per['deliver_and_accept']['dynamodb']} + {HEARTBEATS} x "
                                        f"{round(per['heartbeats']['dynamodb'] / HEARTBEATS, 2)} + "
                                        f"{per['complete']['dynamodb']} + {per['late_check']['dynamodb']}"}


def _seed_in_progress(count: int, tag: int, deadline_ms: int) -> list[Occurrence]:
    """``count`` accepted runs in progress, due at ``deadline_ms`` (written straight to the table)."""
    from chalicelib.store.models import RunModel, RunStatus, Trigger
    from chalicelib.store.runs import Occurrence

    from . import seed

    now = int(time.time() * 1000)
    jobs = [seed.make_job(seed.job_id(tag, i), now + 3_600_000, 4) for i in range(count)]
    seed.write(jobs)
    occurrences = []
    with RunModel.batch_write() as batch:
        for job in jobs:
            occ = Occurrence(job.id, f"run-{now:013d}-{job.id.removeprefix('job-')}", now, Trigger.SCHEDULE, 1, 1)
            batch.save(RunModel(job.id, occ.run_id, trigger="schedule", scheduledAt=now,
                                status=RunStatus.RUNNING.value, attempt=1, generation=1, startedAt=now,
                                acceptedAt=now, heartbeatAt=now, timeoutAt=deadline_ms))
            occurrences.append(occ)
    return occurrences


def check_cost(in_progress: int, tag: int) -> dict[str, Any]:
    """Items read by the deadline checks of ``DUE`` runs among ``in_progress`` runs in progress."""
    from chalicelib import runtime
    from chalicelib.store.models import RunModel, RunStatus
    from chalicelib.store.sqs import Kind, Message

    from .counting import COUNTER

    now = int(time.time() * 1000)
    due = _seed_in_progress(DUE, tag, now - 1)  # their deadline has passed
    _seed_in_progress(in_progress - DUE, tag + 1, now + 3_600_000)  # still working: no message is due
    executor = runtime.executor()
    with COUNTER.measure() as tally:
        for occ in due:
            executor.run(Message(occ, now, Kind.CHECK))
    timed_out = sum(1 for occ in due if RunModel.get(occ.job_id, occ.run_id).status != RunStatus.RUNNING.value)
    gets = tally.calls.get("dynamodb.GetItem", 0)
    return {"runs_in_progress": in_progress, "due": DUE, "timed_out": timed_out,
            "items_read_per_due_check": round(gets / DUE, 2),
            "dynamodb_calls_per_due_check": round(tally.service_calls("dynamodb") / DUE, 2),
            "sqs_calls_per_due_check": round(tally.service_calls("sqs") / DUE, 2),
            "calls_while_nothing_is_due": 0}


def measure(agent: Any) -> dict[str, Any]:
    """Both measurements."""
    return {"accepted_run": accepted_life(agent),
            "deadline_checks": [check_cost(n, 0x70 + 2 * k) for k, n in enumerate(IN_PROGRESS)]}


def main() -> int:
    """``python -m bench.long_runs``: measure alone, merge into bench/results.json, re-render the docs."""
    from .alone import run_alone

    return run_alone("long_runs", measure, retryPolicy={"maxAttempts": 3, "initialDelayMs": 1000, "jitter": False})


if __name__ == "__main__":
    raise SystemExit(main())

