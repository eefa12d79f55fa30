"""chalicelib.config: defaults, and the deployed default of security (issue 11, item 1)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.config import load_config


@pytest.mark.parametrize("document, local, deployed", [
    (None, False, True),  # no file at all
    ({}, False, True),
    ({"security": {}}, False, True),
    ({"security": {"enabled": True}}, True, True),
    ({"security": {"enabled": False}}, False, False),  # the only way to open a deployed API
])
def test_security_is_on_in_lambda_unless_the_file_says_false(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, document: dict | None, local: bool, deployed: bool) -> None:
    path = tmp_path / "agentos.config.json"
    if document is not None:
        path.write_text(json.dumps(document))
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    assert load_config(path).security.enabled is local
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "agentos-jobs-dev")
    assert load_config(path).security.enabled is deployed


def test_the_unrecorded_due_shard_span_is_the_default_count() -> None:
    """A stage that never recorded a count armed its jobs with the default one (store.shard_span)."""
    from chalicelib.config import Scheduler
    from chalicelib.store import UNRECORDED_SHARD_SPAN

    assert Scheduler().dueShards == UNRECORDED_SHARD_SPAN
