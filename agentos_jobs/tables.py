"""Output for people: aligned tables and ``key: value`` blocks, with terminal control
characters from the API neutralised (a job description must not move the cursor)."""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
MAX_CELL = 60


def clean(value: Any, limit: int | None = MAX_CELL) -> str:
    """A value as one printable line (JSON for objects, ``-`` for null), cut to ``limit``."""
    if value is None:
        return "-"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = _CONTROL.sub("?", text)
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


def table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, Callable[[dict[str, Any]], Any]]]) -> str:
    """Rows under a header, columns padded to their widest cell."""
    cells = [[title for title, _ in columns]] + [[clean(get(row)) for _, get in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
                     for line in cells)


def block(item: dict[str, Any]) -> str:
    """One object as ``key: value`` lines."""
    width = max((len(k) for k in item), default=0)
    return "\n".join(f"{key.ljust(width)}  {clean(value, None)}" for key, value in item.items())


def timing(job: dict[str, Any]) -> str:
    """A job's schedule (or interval) and timezone, in a few characters."""
    when = str(job["schedule"]) if job.get("schedule") is not None else f"every {job.get('interval')} ms"
    zone = job.get("timezone")
    return when if zone in (None, "UTC") else f"{when} ({zone})"


JOB_COLUMNS = [("ID", lambda j: j["id"]), ("NAME", lambda j: j["name"]), ("AGENT", lambda j: j["agentId"]),
               ("SCHEDULE", timing), ("STATUS", lambda j: j["status"]), ("NEXT RUN", lambda j: j.get("nextRunAt")),
               ("LAST", lambda j: j.get("lastRunStatus")), ("PAUSED REASON", lambda j: j.get("pausedReason"))]
def progress(run: dict[str, Any]) -> str | None:
    """A run's last progress report, in a few characters (``40%`` or its text)."""
    reported = run.get("progress")
    if not isinstance(reported, dict):
        return None if reported is None else clean(reported)
    parts = [f"{reported['percent']}%" if reported.get("percent") is not None else "",
             str(reported.get("message") or "")]
    return " ".join(p for p in parts if p) or clean(reported)


def usage(run: dict[str, Any]) -> str | None:
    """A run's reported usage: tokens (input + output) and cost."""
    used = run.get("usage")
    if not isinstance(used, dict):
        return None
    tokens = int(used.get("inputTokens") or 0) + int(used.get("outputTokens") or 0)
    cost = used.get("costUsd")
    return f"{tokens} tok" + (f" ${cost:g}" if isinstance(cost, int | float) else "")


RUN_COLUMNS = [("ID", lambda r: r["id"]), ("STATUS", lambda r: r["status"]), ("ATTEMPT", lambda r: r["attempt"]),
               ("TRIGGER", lambda r: r["trigger"]), ("SCHEDULED", lambda r: r["scheduledAt"]),
               ("DURATION MS", lambda r: r.get("durationMs")), ("PROGRESS", progress), ("USAGE", usage),
               ("ERROR", lambda r: r.get("error"))]


def changes(event: dict[str, Any]) -> str:
    """An event's changes as ``field: old -> new`` (comma-separated)."""
    return ", ".join(f"{field}: {clean(old, 20)} -> {clean(new, 20)}"
                     for field, (old, new) in (event.get("changes") or {}).items())


EVENT_COLUMNS = [("AT", lambda e: e["at"]), ("ACTION", lambda e: e["action"]),
                 ("ACTOR", lambda e: f"{e['actor']['kind']}:{e['actor']['id']}"), ("CHANGES", changes),
                 ("REASON", lambda e: e.get("reason"))]
