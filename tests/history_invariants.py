"""The run-history invariants (contract section 13), checked with tests/invariants.py's others.

* **(h) Attempts agree with their run.** Attempt entries are numbered 1..n without a gap, n being
  the run's ``attempt`` (one fewer for a run that waits for a slot); every ended entry has a final
  status and ``finishedAt >= startedAt``; only the current attempt of a ``running`` run is
  ``running``; a ``succeeded`` or ``failed`` run's last entry has the run's status.
* **(i) A streak's count is the occurrences it covers.** For each job and reason, the total in
  ``skipped`` equals the sum of its skipped runs' counts for that reason (the open streak's live
  count from the job), and every streak run's count is at least 1.
* **(j) Dropped occurrences are not runs.** No scheduled run says its job was paused, deleted or
  rescheduled without having made an attempt.
"""
from __future__ import annotations

from chalicelib.engine.skips import reason_of
from chalicelib.store import streaks
from chalicelib.store.models import JobModel, RunModel

FINAL = {"succeeded", "failed", "cancelled"}


def _attempt_violations(run: RunModel) -> list[str]:
    entries = run.attempts.as_dict() if run.attempts is not None else {}
    numbers = sorted(int(k) for k in entries)
    found: list[str] = []
    made = int(run.attempt or 0)
    if numbers and numbers != list(range(1, numbers[-1] + 1)):
        found.append(f"(h) run {run.id}: attempts {numbers} have a gap")
    if numbers and not made - 1 <= numbers[-1] <= made:
        found.append(f"(h) run {run.id}: attempt {made} but entries up to {numbers[-1]}")
    for number in numbers:
        entry = entries[str(number)]
        status = entry.get("status")
        if status == "running" and not (run.status == "running" and number == made):
            found.append(f"(h) run {run.id} ({run.status}): attempt {number} still running")
        if status in FINAL and int(entry.get("finishedAt") or 0) < int(entry.get("startedAt") or 0):
            found.append(f"(h) run {run.id}: attempt {number} finished before it started")
    if run.status in ("succeeded", "failed") and numbers and entries[str(numbers[-1])].get("status") != run.status:
        found.append(f"(h) run {run.id} {run.status}: its last attempt says {entries[str(numbers[-1])].get('status')}")
    return found


def _streak_violations(job: JobModel, runs: list[RunModel]) -> list[str]:
    counted = {reason: 0 for reason in streaks.REASONS}
    found: list[str] = []
    for run in runs:
        reason = reason_of(run.error or "") if run.status == "skipped" else None
        if reason is None:
            continue
        count = streaks.view(run, job)["skippedCount"] or 0
        if count < 1:
            found.append(f"(i) run {run.id}: a streak of {count}")
        counted[reason] += count
    totals = streaks.skipped_view(job)
    if totals != counted:
        found.append(f"(i) job {job.id}: skipped totals {totals}, its streaks cover {counted}")
    return found


def history_violations(jobs: dict[str, JobModel], runs_of: dict[str, list[RunModel]]) -> list[str]:
    """Every violation of (h)-(j)."""
    found: list[str] = []
    for job_id, runs in runs_of.items():
        for run in runs:
            found += _attempt_violations(run)
            error = run.error or ""
            dropped = "paused" in error or "deleted" in error or "rescheduled" in error
            never_started = not run.attempts and int(run.attempt or 0) == 0
            if run.status == "skipped" and run.trigger == "schedule" and never_started and dropped:
                found.append(f"(j) run {run.id}: a dropped occurrence was recorded ({run.error})")
        if job_id in jobs:
            found += _streak_violations(jobs[job_id], runs)
    return found
