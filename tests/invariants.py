"""The invariants of docs/reliability.md ("Invariants"), checked on the moto tables once the system is quiet.

:func:`check_invariants` reads every job, run and agent item directly (consistent reads) and
returns what it finds wrong, one string per violation; :func:`assert_invariants` asserts there
is none. It is called by the fault and race tests after the recovery each drives:

(a) every run is finished, or has a deadline in the future (an accepted attempt its
    ``timeoutAt`` and ``hbDeadline``, an unaccepted one its ``leaseUntil``, a ``retrying`` run
    its ``retryAt`` plus the claim lease), or waits (``queued``: in an agent's line, named by its
    job's ``waitingRun``, or a manual run whose message is in the queue);
(b) every agent slot (``holders``: run id -> lease) is held by a running attempt of that run;
(c) ``len(holders) + queued`` of each agent item equals its running runs plus the runs in its line;
(d) a budgeted job's ``usedTokens`` / ``usedCost`` for its ``usageDay`` equal the usage its
    finished runs started that day reported plus the reservations of its runs in progress;
(e) no occurrence succeeded twice, and no run's ``attempt`` is above its policy's ``maxAttempts``;
(f) an agent item's quota counters, where kept (``jobCount``), equal the agent's jobs that are
    not deleted and the sum of their ``runsPerDay``;
(g) continuity: a job's ``lastSuccess`` names one of its succeeded runs, with that run's
    ``scheduledAt`` and ``finishedAt`` (``lastSuccessAt`` too), and none of its runs succeeded
    later; a job none of whose runs succeeded has no ``lastSuccess`` (its ``state`` was only ever
    set by PATCH; tests/test_continuity_faults.py checks which state each case leaves).
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

from chalicelib.clock import iso
from chalicelib.store.budgets import day_of
from chalicelib.store.models import ENDED, AgentModel, JobModel, RunModel
from history_invariants import history_violations

COUNT = 7  # the invariants above: (a) to (g)
TOLERANCE_USD = 1e-6


def _runs() -> list[RunModel]:
    # Only runs: the runs table also holds run payloads, Idempotency-Key records and job history events.
    return list(RunModel.scan(RunModel.id.startswith("run-"), consistent_read=True))


def _jobs() -> dict[str, JobModel]:
    return {j.id: j for j in JobModel.scan(JobModel.id.startswith("job-"), consistent_read=True)}


def _agents() -> list[AgentModel]:
    return list(AgentModel.scan(AgentModel.id.startswith("agent#"), consistent_read=True))


def _queued_message_runs(queue_url: str | None) -> set[str]:
    """Run ids of the messages visible now on ``queue_url`` (peeked: they stay visible)."""
    if not queue_url:
        return set()
    import boto3

    sqs, seen, ids = boto3.client("sqs"), set(), set()
    for _ in range(20):
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        fresh = [m for m in got.get("Messages", []) if m["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            seen.add(message["MessageId"])
            ids.add(json.loads(message["Body"]).get("runId"))
    return ids


def _max_attempts(job: JobModel | None) -> int:
    from chalicelib.config import get_config

    if job is not None and job.retryPolicy:
        return int(json.loads(job.retryPolicy).get("maxAttempts", 3))
    policy = get_config().retryPolicy
    return int(policy.maxAttempts) if policy is not None else 3


def _lease_ms() -> int:
    from chalicelib import runtime

    return int(runtime.executor().lease_ms)


def check_invariants(now_ms: int, *, queue_url: str | None = None, lease_ms: int | None = None,
                     attempts_allowed: dict[str, int] | None = None) -> list[str]:
    """Every violation of (a)-(e) at ``now_ms``, as readable strings (empty: all hold).

    ``queue_url``: where a ``queued`` manual run's message may wait; ``lease_ms``: the claim
    lease (default: the executor's); ``attempts_allowed``: run id -> the attempts a test allows
    it beyond its policy (an operator's DLQ redrive starts one more, on purpose)."""
    lease = _lease_ms() if lease_ms is None else lease_ms
    jobs, runs, agents = _jobs(), _runs(), _agents()
    allowed = attempts_allowed or {}
    violations: list[str] = []
    waiting_named = {j.waitingRun for j in jobs.values() if j.waitingRun}
    messages: set[str] | None = None

    # (a) finished, or a deadline in the future, or waiting
    for run in runs:
        status, what = run.status, f"(a) run {run.id} of {run.jobId}"
        if status in ENDED:
            continue
        if status == "running":
            if run.acceptedAt is not None:
                if run.timeoutAt is None or int(run.timeoutAt) <= now_ms:
                    violations.append(f"{what}: running (accepted) past its timeoutAt {run.timeoutAt} <= {now_ms}")
                if run.hbDeadline is not None and int(run.hbDeadline) <= now_ms:
                    violations.append(f"{what}: running (accepted) past its hbDeadline {run.hbDeadline} <= {now_ms}")
            elif run.leaseUntil is None or int(run.leaseUntil) <= now_ms:
                violations.append(f"{what}: running (not accepted) past its leaseUntil {run.leaseUntil} <= {now_ms}")
        elif status == "retrying":
            if run.retryAt is None or int(run.retryAt) + lease <= now_ms:
                violations.append(f"{what}: retrying past retryAt {run.retryAt} + lease {lease} <= {now_ms}")
        elif status == "queued":
            if run.queueAgent or run.id in waiting_named:
                continue
            if run.trigger == "manual":
                messages = _queued_message_runs(queue_url) if messages is None else messages
                if run.id in messages:
                    continue
            violations.append(f"{what}: queued, but in no agent's line, not its job's waitingRun, no message")
        else:
            violations.append(f"{what}: unknown status {status!r}")

    # (b) every agent slot is held by a running attempt of its run; (c) the agent's counts
    by_id = {r.id: r for r in runs}
    for agent in agents:
        agent_id = agent.id.removeprefix("agent#")
        holders = dict(agent.holders.as_dict()) if agent.holders is not None else {}
        for run_id, held_until in holders.items():
            holder = by_id.get(run_id)
            if holder is None or holder.status != "running":
                violations.append(f"(b) {agent.id}: slot held until {held_until} by {run_id}, which is "
                                  f"{'not a run' if holder is None else holder.status}")
        running = sum(1 for r in runs if r.status == "running" and jobs.get(r.jobId) is not None
                      and jobs[r.jobId].agentId == agent_id)
        in_line = sum(1 for r in runs if r.queueAgent == agent_id)
        queued = int(agent.queued or 0)
        counters_only = agent.holders is None and agent.queued is None and agent.jobCount is not None
        if not counters_only and len(holders) + queued != running + in_line:
            violations.append(f"(c) {agent.id}: {len(holders)} holders + {queued} queued != {running} running "
                              f"+ {in_line} in its line (holders {sorted(holders)})")

    # (d) a budgeted job's day counters: spent by the day's finished runs + reserved by runs in progress
    runs_of: dict[str, list[RunModel]] = defaultdict(list)
    for run in runs:
        runs_of[run.jobId].append(run)
    for job in jobs.values():
        if (job.budgetTokens is None and job.budgetCostUsd is None) or job.usageDay is None:
            continue
        tokens, cost = 0, 0.0
        for run in runs_of[job.id]:
            if run.startedAt is None or day_of(job.timezone, int(run.startedAt))[0] != job.usageDay:
                continue
            if run.status in ENDED:
                usage = json.loads(run.usage) if run.usage else {}
                tokens += int(usage.get("inputTokens") or 0) + int(usage.get("outputTokens") or 0)
                cost += float(usage.get("costUsd") or 0.0)
            else:
                tokens += int(run.reservedTokens or 0)
                cost += float(run.reservedCost or 0.0)
        used = (int(job.usedTokens or 0), float(job.usedCost or 0.0))
        if used[0] != tokens or abs(used[1] - cost) > TOLERANCE_USD:
            violations.append(f"(d) job {job.id} on {job.usageDay}: used {used[0]} tokens / {used[1]} USD, "
                              f"its runs account for {tokens} tokens / {round(cost, 6)} USD")

    # (e) no occurrence succeeded twice; no attempt beyond the policy
    succeeded = Counter((r.jobId, r.trigger, int(r.scheduledAt)) for r in runs
                        if r.status == "succeeded" and r.trigger == "schedule")
    violations += [f"(e) occurrence {key} succeeded {n} times" for key, n in succeeded.items() if n > 1]
    for run in runs:
        most = _max_attempts(jobs.get(run.jobId)) + allowed.get(run.id, 0)
        if int(run.attempt or 0) > most:
            violations.append(f"(e) run {run.id}: attempt {run.attempt} > maxAttempts {most}")
    return violations + _counter_violations(jobs, agents) + _continuity_violations(jobs, runs_of) \
        + history_violations(jobs, runs_of)  # (h)-(j): tests/history_invariants.py


def _counter_violations(jobs: dict[str, JobModel], agents: list[AgentModel]) -> list[str]:
    """(f) the quota counters kept on agent items match the agents' jobs."""
    found: list[str] = []
    for agent in agents:
        if agent.jobCount is None:
            continue
        agent_id = agent.id.removeprefix("agent#")
        own = [j for j in jobs.values() if j.agentId == agent_id]
        runs = sum(int(j.runsPerDay or 0) for j in own)
        if int(agent.jobCount) != len(own) or int(agent.runsPerDay or 0) != runs:
            found.append(f"(f) {agent.id}: counters {agent.jobCount} jobs / {agent.runsPerDay} runs per day, "
                         f"its jobs are {len(own)} / {runs}")
    return found


def _continuity_violations(jobs: dict[str, JobModel], runs_of: dict[str, list[RunModel]]) -> list[str]:
    """(g) each job's lastSuccess is its latest succeeded run, as that run was recorded."""
    found: list[str] = []
    for job in jobs.values():
        succeeded = [r for r in runs_of[job.id] if r.status == "succeeded" and r.finishedAt is not None]
        latest = max((int(r.finishedAt) for r in succeeded), default=None)
        last = json.loads(job.lastSuccess) if job.lastSuccess else None
        if last is None or latest is None:
            if (last, latest) != (None, None) or job.lastSuccessAt is not None:
                found.append(f"(g) job {job.id}: lastSuccess {last}, but its latest success finished at {latest}")
            continue
        named = next((r for r in succeeded if r.id == last["runId"]), None)
        shown = (iso(int(named.scheduledAt)), iso(int(named.finishedAt))) if named is not None else None
        if shown != (last["scheduledAt"], last["finishedAt"]) or job.lastSuccessAt != latest \
                or int(named.finishedAt if named is not None else -1) != latest:
            found.append(f"(g) job {job.id}: lastSuccess {last} (at {job.lastSuccessAt}) is not its latest "
                         f"succeeded run (finished at {latest})")
    return found


def assert_invariants(now_ms: int, **options: Any) -> int:
    """Assert :func:`check_invariants` finds nothing; returns how many invariants were checked."""
    violations = check_invariants(now_ms, **options)
    assert not violations, "invariants violated:\n" + "\n".join(violations)
    return COUNT


def check_quiet(request: Any, queue_url: str | None = None, **options: Any) -> int:
    """The tests' call, once the system is quiet: assert the invariants at the clock's now and
    record that this case checked them (suite ``invariants`` of .local/reliability/results.jsonl)."""
    from chalicelib.clock import now_ms
    from test_faults import ledger

    checked = assert_invariants(now_ms(), queue_url=queue_url, **options)
    ledger("invariants", request.node.nodeid, cases=1, checked=checked)
    return checked
