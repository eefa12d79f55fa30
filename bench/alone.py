"""Run one in-process bench section on its own and merge its figures into the last full run.

``python -m bench.long_runs`` and ``python -m bench.guard_rails`` measure one section inside
``moto.mock_aws`` with the HTTP test agent, then merge it into bench/results.json (stamped with
when and at which commit) and re-render docs/benchmarks.md; ``make bench`` measures them with
everything else.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def run_alone(key: str, measure: Callable[[Any], dict[str, Any]], **config: Any) -> int:
    """Measure section ``key`` alone (``config``: extra keys of the bench's agentos.config.json)."""
    from devtools.agent_server import AgentServer

    from . import env

    with AgentServer() as agent, tempfile.TemporaryDirectory(prefix="agentos-bench-") as tmp:
        path = env.write_config(Path(tmp) / "agentos.config.json", agent.url, Path(tmp) / "logs", **config)
        env.prepare(config_path=path)  # before anything imports chalicelib
        from moto import mock_aws

        from infra.provision import provision

        from .counting import COUNTER

        COUNTER.install()
        env.tune_moto()
        with mock_aws():
            provision("dev")
            figures = measure(agent)
    merge_results(key, figures)
    json.dump(figures, sys.stdout, indent=1)
    return 0


def merge_results(key: str, figures: dict[str, Any]) -> None:
    from . import env
    from .assemble import targets
    from .report import write_docs

    path = env.ROOT / "bench" / "results.json"
    results = json.loads(path.read_text())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    results[key] = figures
    results[f"{key}_meta"] = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "commit": commit,
                              "how": f"python -m bench.{key} on its own, merged into the last full run"}
    results["targets"] = targets(results)
    path.write_text(json.dumps(results, indent=1) + "\n")
    write_docs(results)
