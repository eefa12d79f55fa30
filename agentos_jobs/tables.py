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
RUN_COLUMNS = [("ID", lambda r: r["id"]), ("STATUS", lambda r: r["status"]), ("ATTEMPT", lambda r: r["attempt"]),
               ("TRIGGER", lambda r: r["trigger"]), ("SCHEDULED", lambda r: r["scheduledAt"]),
               ("DURATION MS", lambda r: r.get("durationMs")), ("ERROR", lambda r: r.get("error"))]
