"""chalicelib.coldstart: the first invocation in Lambda runs with the cyclic GC paused, then freezes."""
from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from chalicelib import coldstart


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(coldstart, "_first", True)
    yield
    gc.unfreeze()  # this process is a test run: give its objects back to the collector
    gc.enable()


def test_the_first_invocation_in_lambda_runs_without_the_gc_and_freezes_what_it_built(
        fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "agentos-jobs-dev-tick")
    with coldstart.invocation():
        assert not gc.isenabled()
        built = [object()]
    assert gc.isenabled() and gc.get_freeze_count() > 0
    with coldstart.invocation():  # a warm one: nothing changes
        assert gc.isenabled()
    assert built


def test_the_gc_resumes_when_the_first_invocation_fails(fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "agentos-jobs-dev-execute")
    with pytest.raises(RuntimeError), coldstart.invocation():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_outside_lambda_the_gc_is_never_paused(fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    frozen = gc.get_freeze_count()
    with coldstart.invocation():
        assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
