"""The failure log: one JSON line per run that failed its last attempt.

README, "Agents: how an occurrence is delivered", describes the line.

Locally the lines go to ``<logs.dir>/failures.jsonl``; in Lambda (read-only disk)
they go to stdout, which is CloudWatch Logs.
"""
from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

from .. import settings

FILE_NAME = "failures.jsonl"


class FailureLog:
    """Appends failure records as JSON lines."""

    def __init__(self, directory: str, in_lambda: bool | None = None) -> None:
        self.directory = Path(directory)
        self.in_lambda = settings.in_lambda() if in_lambda is None else in_lambda
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        """Where the lines go when not in Lambda."""
        return self.directory / FILE_NAME

    def write(self, record: dict[str, Any]) -> None:
        """Append one record (jobId, runId, attempt, error, …)."""
        line = json.dumps({"event": "run_failed", **record}, separators=(",", ":"), sort_keys=True)
        if self.in_lambda:
            print(line, file=sys.stdout, flush=True)
            return
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(line + "\n")
