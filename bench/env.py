"""The environment of a bench part: set before :mod:`chalicelib` is first imported.

Mirrors ``tests/conftest.py``: fake credentials, the ``dev`` stage's names, and an
optional endpoint (a moto server) or none (in-process ``moto.mock_aws``).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
AGENT_ID = "550e8400-e29b-41d4-a716-446655440000"
_ENDPOINT_VARS = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS",
                  "AWS_ENDPOINT_URL_CLOUDFORMATION")


def prepare(endpoint: str | None = None, config_path: Path | None = None) -> None:
    """Point boto3, PynamoDB and chalicelib at the bench's AWS (``endpoint`` or in-process)."""
    if "chalicelib" in sys.modules:
        raise RuntimeError("bench.env.prepare() must run before chalicelib is imported")
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "JOBS_TABLE": "agentos-jobs-dev", "RUNS_TABLE": "agentos-runs-dev",
        "JOBS_QUEUE": "agentos-jobs-dev", "JOBS_DLQ": "agentos-jobs-dev-dlq",
        "AGENTOS_CONFIG": str(config_path or "/nonexistent/agentos.config.json"),
    })
    for name in _ENDPOINT_VARS + ("AWS_PROFILE", "AGENTOS_API_TOKENS", "AGENTOS_API_TOKENS_PARAM"):
        os.environ.pop(name, None)
    if endpoint:  # the local stack's AWS, as `make run` points at it (connections included)
        from scripts.local_aws import LOCAL_CONNECTIONS

        os.environ.update({"AWS_ENDPOINT_URL": endpoint, "AGENTOS_AWS_CONNECTIONS": str(LOCAL_CONNECTIONS)})
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def write_config(path: Path, agent_url: str | None, logs_dir: Path, **extra: Any) -> Path:
    """An ``agentos.config.json`` with the bench agent (if any), a throwaway logs dir and ``extra`` keys."""
    data: dict[str, Any] = {"logs": {"dir": str(logs_dir)}, **extra}
    if agent_url:
        data["agents"] = {AGENT_ID: {"url": agent_url, "timeoutMs": 10_000}}
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def quick() -> bool:
    """True in quick mode (``BENCH_QUICK=1`` or ``--quick``)."""
    return os.environ.get("BENCH_QUICK", "") not in ("", "0") or "--quick" in sys.argv


def tune_moto() -> list[str]:
    """Patch moto in this process as the tests and ``make run`` have it (``devtools.moto_patches``),
    so in-process figures come from the same moto; returns the patches' names."""
    from devtools import moto_patches

    return moto_patches.install()
