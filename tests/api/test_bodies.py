"""chalicelib.api.bodies' quick reading of a new job (no pydantic) against the API's model JobCreate.

The quick reading may decline any body (the model then decides); whenever it accepts one,
the model must accept it too and give the same job.
"""
from __future__ import annotations

from typing import Any

import annotated_types
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.api.bodies import NewJob, from_model, quick_new_job, read_new_job
from chalicelib.api.schemas import JobCreate
from chalicelib.errors import ValidationFailed

AGENT = "550e8400-e29b-41d4-a716-446655440000"
PLAIN: dict[str, Any] = {"name": "nightly-reindex", "agentId": AGENT, "schedule": "0 3 * * *", "payload": {"a": [1]}}


def readings(body: Any) -> tuple[NewJob | None, NewJob | None]:
    """(the quick reading, the model's reading), None where one declines or rejects."""
    try:
        full = from_model(JobCreate.model_validate(body))
    except ValidationError:
        full = None
    return quick_new_job(body), full


def agree(body: Any) -> bool:
    """The readings agree where the quick one vouches; whether it did."""
    quick, full = readings(body)
    assert quick is None or quick == full, body
    return quick is not None


def test_the_usual_bodies_are_read_quickly() -> None:
    usual = [PLAIN, {**PLAIN, "schedule": None, "interval": 60_000, "timezone": "Europe/Berlin"},
             {**PLAIN, "description": "Posts a summary", "overlap": "queue", "timeoutMs": 3_600_000,
              "heartbeatTimeoutMs": 60_000, "maxConsecutiveFailures": 3, "startAt": "2030-01-01T00:00:00Z",
              "endAt": "2031-01-01", "maxRuns": 10, "catchupWindowMs": 0,
              "retryPolicy": {"maxAttempts": 5, "multiplier": 1.5, "jitter": False},
              "budget": {"maxCostUsdPerDay": 2, "maxTokensPerDay": 100_000}},
             {**PLAIN, "agentId": AGENT.upper(), "payload": {}}]
    for body in usual:
        assert agree(body), body


def test_the_quick_reading_fills_the_models_defaults_and_names_what_was_given() -> None:
    quick = quick_new_job(PLAIN)
    assert quick is not None and quick == from_model(JobCreate.model_validate(PLAIN))
    assert quick.timezone == "UTC" and quick.overlap == "skip" and quick.retryPolicy is None
    assert quick.given == frozenset(PLAIN)
    assert quick_new_job({**PLAIN, "agentId": AGENT.upper()}) == quick  # agent ids are stored in lower case


def _bounds(name: str) -> tuple[int, int]:
    lo = hi = None
    for item in JobCreate.model_fields[name].metadata:
        lo = int(item.ge) if isinstance(item, annotated_types.Ge) else lo  # type: ignore[call-overload]
        hi = int(item.le) if isinstance(item, annotated_types.Le) else hi  # type: ignore[call-overload]
    assert lo is not None and hi is not None, name
    return lo, hi


INTEGERS = [name for name, field in JobCreate.model_fields.items()
            if any(isinstance(m, annotated_types.Ge) for m in field.metadata)]


@pytest.mark.parametrize("name", INTEGERS)
def test_every_bound_is_the_models_bound(name: str) -> None:
    lo, hi = _bounds(name)
    for value in (lo, hi, None):  # what the model accepts, the quick reading vouches for
        assert agree({**PLAIN, "schedule": None, "interval": 1000, name: value}), value
    outside: list[object] = [lo - 1, hi + 1, True, str(lo)]
    for wrong in outside:
        assert not agree({**PLAIN, "schedule": None, "interval": 1000, name: wrong}), wrong
    assert not agree({**PLAIN, "schedule": None, "interval": 1000, name: float(lo)})  # 5.0: the model's reading


@pytest.mark.parametrize("name", ["name", "agentId", "timezone", "schedule", "description", "startAt", "endAt"])
def test_every_length_is_the_models_length(name: str) -> None:
    longest = {"name": 128, "agentId": 36, "timezone": 64, "schedule": 256, "description": 1024,
               "startAt": 64, "endAt": 64}[name]
    fill = AGENT if name == "agentId" else "a" * longest
    assert agree({**PLAIN, name: fill})
    assert not agree({**PLAIN, name: fill + "a"})
    if name in ("name", "agentId"):  # patterns of ASCII
        assert not agree({**PLAIN, name: fill[:-1] + "\u00e9"})


def test_what_the_quick_reading_declines_is_the_models_to_decide() -> None:
    declined: list[object] = [
                {**PLAIN, "description": "bell\x07"}, {**PLAIN, "name": " lead"}, {**PLAIN, "name": "a\n"},
                {**PLAIN, "agentId": "550e8400e29b41d4a716446655440000"}, {**PLAIN, "overlap": None},
                {**PLAIN, "overlap": "SKIP"}, {**PLAIN, "payload": []}, {**PLAIN, "payload": None},
                {**PLAIN, "timezone": None}, {**PLAIN, "budget": {}},
                {**PLAIN, "budget": {"maxCostUsdPerDay": 0.1 + 0.2}},  # the model rounds it to the nano-dollar
                {**PLAIN, "retryPolicy": {"maxAttempts": 0}}, {**PLAIN, "retryPolicy": {"x": 1}},
                {**PLAIN, "intervall": 5}, {k: v for k, v in PLAIN.items() if k != "payload"}, [], None, "job"]
    for body in declined:
        assert not agree(body), body


def test_a_declined_body_is_still_read_by_the_model_or_refused_naming_its_field() -> None:
    # 60000.0 is an integer to JSON: the quick reading leaves it to the model, which takes it.
    assert read_new_job({**PLAIN, "schedule": None, "interval": 60_000.0}).interval == 60_000
    with pytest.raises(ValidationFailed) as refused:
        read_new_job({**PLAIN, "maxRuns": 0})
    assert refused.value.field == "maxRuns"


def test_the_stored_retry_policy_text_is_the_models() -> None:
    for policy in [{"maxAttempts": 5}, {"multiplier": 1.1, "jitter": False}, {"multiplier": 3, "maxDelayMs": 0}]:
        quick = quick_new_job({**PLAIN, "retryPolicy": policy})
        model = JobCreate.model_validate({**PLAIN, "retryPolicy": policy})
        assert quick is not None and model.retryPolicy is not None
        assert quick.retry_policy_text() == model.retryPolicy.model_dump_json()


JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**16, 10**16) | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=6)
TEXT = st.text(max_size=6) | st.sampled_from(["a", "Ab.c", "x y", "0 3 * * *", "UTC", "2030-01-01", "\u200e", ""])
FIELDS = {
    "name": TEXT | JSON, "description": TEXT | JSON, "agentId": st.sampled_from([AGENT, AGENT.upper(), "x"]) | JSON,
    "schedule": TEXT | JSON, "interval": st.integers(-1, 10**12) | JSON, "timezone": TEXT | JSON,
    "payload": JSON, "retryPolicy": st.fixed_dictionaries({}, optional={
        "maxAttempts": st.integers(0, 21) | JSON, "multiplier": st.floats(0, 11) | JSON, "jitter": JSON}) | JSON,
    "timeoutMs": st.integers(999, 86_400_001) | JSON, "heartbeatTimeoutMs": st.integers(999, 86_400_001) | JSON,
    "overlap": st.sampled_from(["skip", "queue", "allow", "Skip"]) | JSON, "maxConsecutiveFailures": JSON,
    "startAt": TEXT | JSON, "endAt": TEXT | JSON, "maxRuns": st.integers(0, 10) | JSON,
    "catchupWindowMs": st.integers(-1, 10) | JSON, "budget": st.fixed_dictionaries({}, optional={
        "maxCostUsdPerDay": st.floats() | st.integers(-1, 10**10), "maxTokensPerDay": JSON}) | JSON,
    "other": JSON}


@settings(max_examples=400, deadline=None)
@given(st.fixed_dictionaries({}, optional=FIELDS), st.sets(st.sampled_from(["name", "agentId", "payload"])))
def test_generated_bodies_agree(fields: dict[str, Any], missing: set[str]) -> None:
    body = {**{"name": "job", "agentId": AGENT, "payload": {}}, **fields}
    agree({key: value for key, value in body.items() if key not in missing})
