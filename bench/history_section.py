"""docs/benchmarks.md's "Run history" section, from results.json's ``history`` (bench/history.py)."""
from __future__ import annotations

from typing import Any


def table(header: list[str], rows: list[tuple[str, ...]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _listing_rows(found: dict[str, Any]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for size, pages in found.items():
        for case, label in (("newest_page", "newest page"), ("fifth_page", "5th page"), ("by_job", "?jobId="),
                            ("failed_only", "?status=failed (1 %, sparse index)"),
                            ("manual_only", "?trigger=manual (none: a filter)")):
            page = pages[case]
            rows.append((f"{int(size):,}", label, f"{page['items_read_per_page']:g}", f"{page['runs_per_page']:g}",
                         f"{page['ms_per_page_moto']:g}"))
    return rows


def history_section(results: dict[str, Any]) -> str:
    """Section 1j: the writes the run history saves, and what a page of GET /api/runs reads."""
    found = results.get("history")
    if not found:
        return ""
    paused, blocked = found["paused_5s_job_1h"], found["budget_blocked_1s_job_12h"]
    before, now = blocked["unparked"], blocked["parked"]
    scaled = "" if now["hours"] == 12 else " (the hours after the first minute write nothing)"
    listing = table(["runs in the table", "page (limit 100)", "items read", "runs shown", "ms (moto)"],
                    _listing_rows(found["runs_list"]))
    return f"""## 1j. Run history: writes saved, and what a page of runs reads

Contract section 13 (`bench/history.py`, docs/history.md), on in-process moto.

**A 5-s job paused for an hour.** When the pause returns, the tick has sent the job's next
{paused['dropped_occurrences']} occurrences. Each used to write a `skipped` run (one PutItem, one item);
each is now dropped (its lost claim writes nothing more): {paused['dynamodb_writes_before']} writes before,
{paused['dynamodb_writes_now']} now (the claims), **{paused['writes_saved_per_pause']} writes and
{paused['run_items_before']} run items saved per pause**; the paused hour itself and the resume dispatch
nothing of the old generation either way, so a job paused once a day saves that much a day.

**A 1-s job blocked by its budget for 12 hours** ({blocked['occurrences_12h']:,} occurrences), side by side.
Sent one by one (parking off; measured on {before['sampled_skips']} skips through the executor and
scaled): each skip costs its lost claim and one streak write, {before['writes_per_skip']} writes per
skip, **{blocked['writes_12h_unparked']:,} writes** in 12 hours. Parked (docs/history.md, "Parked jobs";
every minute of {now['hours']} hours ticked and measured{scaled}): the tick's lookahead already sent
({now['messages_worked']} messages) is skipped as before, then one write parks the job and nothing
more is sent: **{blocked['writes_12h_parked']:,} writes**, {blocked['writes_saved_12h']:,} saved per 12 hours.
The job's history shows {now['run_items']} row (`skippedCount` {now['streak_count']:,}, equal to its
`skipped.budget` total), where one run item per skip made {blocked['run_items_12h_before_streaks']:,}.
Calls per skip sent one by one: {before['calls_per_skip']}; parked, in all: {now['calls']} (the
Query calls are the ticks' due-index reads, one a minute per shard whatever the jobs).

**`GET /api/runs`**: items read per page (index keys + the page's items). A page reads about twice its
size whatever the table holds (the `recent` index's keys, then the items); `?status=failed` reads the
sparse `failed` index, so exactly its runs; a filter no index serves reads at most 2 × `limit` items
and may come back short with a next link.

{listing}
"""
