"""What test_mcp.py and test_mcp_stdio.py share: the tool names, the tokens, and one local stack
(``python -m scripts.devstack``, security on) for both modules' tests with the official MCP client."""
from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from typing import Any

import pytest

TOOL_NAMES = ["list_jobs", "get_job", "ensure_job", "update_job", "pause_job", "resume_job", "delete_job", "run_job",
              "list_runs", "get_run", "cancel_run", "replay_run", "preview_schedule"]
READ_TOOLS = {"list_jobs", "get_job", "list_runs", "get_run", "preview_schedule"}
MINE = "11111111-1111-4111-8111-111111111111"
OTHER = "22222222-2222-4222-8222-222222222222"
ADMIN, SCOPED = "mcp-admin-token-0123456789", "mcp-scoped-token-0123456789"


@pytest.fixture(scope="session")
def mcp_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The local stack with security on, an admin token and one scoped to MINE; SIGINT at the end."""
    from e2e_stack import LocalStack

    home = tmp_path_factory.mktemp("mcp")
    config = home / "agentos.config.json"
    config.write_text(json.dumps({"security": {"enabled": True}, "logs": {"dir": str(home / "logs")}}))
    stack = LocalStack(home / "state", config, home / "stack.log",
                       env={"AGENTOS_API_TOKENS": f"{ADMIN},{SCOPED}:{MINE}"}).start()
    try:
        yield stack
        assert stack.stop(signal.SIGINT) == 0, stack.log_tail()
    finally:
        stack.kill()
