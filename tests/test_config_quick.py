"""chalicelib.config's quick reading (no pydantic) against the pydantic models of config_schema.

The quick reading may decline any document (the models then decide); whenever it accepts
one, the models must accept it too and give the same configuration.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import annotated_types
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, HttpUrl, ValidationError

from chalicelib import config_schema
from chalicelib.checks import Bound, record
from chalicelib.config import BOUNDS, Config, deployed_defaults, quick_config

AGENT = "550e8400-e29b-41d4-a716-446655440000"
ROOT = Path(__file__).resolve().parent.parent
SECTIONS: dict[str, type[BaseModel]] = {"retryPolicy": config_schema.RetryPolicy, "security": config_schema.Security,
                                        "logs": config_schema.Logs, "limits": config_schema.Limits,
                                        "scheduler": config_schema.Scheduler}


def readings(document: Any) -> tuple[Config | None, Config | None]:
    """(the quick reading, the models' reading), None where one declines or rejects."""
    try:
        full = config_schema.read_config(document)
    except ValidationError:
        full = None
    return quick_config(document), full


def agree(document: Any) -> bool:
    """The readings agree where the quick one vouches; whether it did."""
    quick, full = readings(document)
    assert quick is None or quick == full, document
    return quick is not None


def test_the_defaults_are_the_models_defaults() -> None:
    assert quick_config({}) == config_schema.as_tuple(config_schema.Config()) == Config()


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_stage_files_are_read_quickly(stage: str) -> None:
    document = deployed_defaults(json.loads((ROOT / "deploy" / f"agentos.{stage}.json").read_text()))
    assert agree(document)


def _bounds(model: type[BaseModel], name: str) -> tuple[float | None, float | None]:
    lo = hi = None
    for item in model.model_fields[name].metadata:
        lo = float(item.ge) if isinstance(item, annotated_types.Ge) else lo  # type: ignore[arg-type]
        hi = float(item.le) if isinstance(item, annotated_types.Le) else hi  # type: ignore[arg-type]
    return lo, hi


NUMBERS = [(section, name, model) for section, model in SECTIONS.items() for name in model.model_fields
           if _bounds(model, name) != (None, None)]


@pytest.mark.parametrize("section, name, model", NUMBERS, ids=[f"{s}.{n}" for s, n, _ in NUMBERS])
def test_every_bound_is_the_models_bound(section: str, name: str, model: type[BaseModel]) -> None:
    lo, hi = _bounds(model, name)
    assert lo is not None and hi is not None
    inside: list[object] = [int(lo), int(hi)] + ([lo, hi] if model.model_fields[name].annotation is float else [])
    for value in inside:  # what the models accept, the quick reading vouches for
        assert agree({section: {name: value}}), value
    for value in [lo - 1, hi + 1, lo - 0.5, True, "1", None, float("nan"), float("inf")]:
        assert not agree({section: {name: value}})  # never vouched for: the models name the key


@pytest.mark.parametrize("cls", list(config_schema.MODELS), ids=lambda cls: cls.__name__)
def test_each_model_is_built_from_its_tuple_and_bounds(cls: type) -> None:
    """One declaration (chalicelib.config's tuple and BOUNDS): the model has its fields, defaults and bounds."""
    model = config_schema.MODELS[cls]
    assert list(model.model_fields) == list(cls._fields)  # type: ignore[attr-defined]
    for name, field in model.model_fields.items():
        defaults = cls._field_defaults  # type: ignore[attr-defined]
        assert field.is_required() == (name not in defaults), name  # a tuple's field without a default
        if not field.is_required():
            assert config_schema.as_tuple(field.default) == defaults[name], name
        bound = BOUNDS.get(cls, {}).get(name, Bound())
        if field.annotation in (int, float, int | None, float | None):
            assert _bounds(model, name) == (bound.lo, bound.hi), name
        assert field.description == bound.doc, name
    assert model.__doc__ == cls.__doc__


def test_a_bound_of_no_field_is_refused() -> None:
    with pytest.raises(TypeError, match="no field"):
        record(Config, {Config: {"retrypolicy": Bound(1, 2)}})


def test_notification_receivers_agree() -> None:
    vouched: list[dict[str, Any]] = [{"url": "http://127.0.0.1:9000/hook", "events": ["run.failed"]},
               {"url": "https://hooks.slack.example/services/x", "events": ["job.late", "job.paused"],
                "format": "slack", "secretEnv": "NOTIFY_SECRET"}]
    for receiver in vouched:
        assert agree({"notifications": [receiver]}), receiver
    refused: list[dict[str, Any]] = [{"url": "http://127.0.0.1:9000/hook"}, {"events": ["run.failed"]},
                     {"url": "http://127.0.0.1:9000/hook", "events": []},
                     {"url": "http://127.0.0.1:9000/hook", "events": ["run.lost"]},
                     {"url": "http://127.0.0.1:9000/hook", "events": ["run.failed"], "format": "xml"},
                     {"url": "ftp://127.0.0.1/hook", "events": ["run.failed"]}]
    for receiver in refused:
        assert not agree({"notifications": [receiver]}), receiver


def test_agents_budgets_and_secrets_agree() -> None:
    vouched = [{"url": "http://127.0.0.1:9000/hook"}, {"maxConcurrent": 1, "budget": {"maxTokensPerDay": 0}},
               {"budget": {"maxCostUsdPerDay": 2}, "secretEnv": "X"}, {"secretParam": "/agentos-jobs/dev/agents/a"},
               {"url": "https://a.example", "timeoutMs": 100}, {}]
    declined = [{"secretEnv": "X", "secretParam": "/p"}, {"budget": {}}, {"secretParam": "/p\n"},
                {"secretParam": "p"}, {"secretEnv": ""}, {"maxConcurrent": 0}, {"timeoutMs": 60_001}, {"x": 1},
                {"url": "ftp://a.example/"}, {"url": 5}, {"budget": None, "maxConcurrent": 10_001}]
    for entry in vouched:
        assert agree({"agents": {AGENT: entry}}), entry
        assert agree({"agents": {AGENT.upper(): entry}}), entry
    for entry in declined:
        assert not agree({"agents": {AGENT: entry}}), entry
    agents: object
    for agents in [{"not-a-uuid": {}}, {AGENT: {}, AGENT.upper(): {}}, [], None]:
        assert not agree({"agents": agents})


URLS = ["http://host", "http://host/", "https://a.b.c:8443/x/y", "http://127.0.0.1:9000/hook", "http://HOST/",
        "http://host:80/", "https://host:443/x", "http://h/a/../b", "http://h/./b", "http://h/a b", "http://1.2.3.4",
        "http://01.2.3.4/", "http://1.2.3.256/", "http://1234/", "http://h.0x7f/", "http://h.123/",
        "http://xn--nxasmq6b.com/", "http://h:65535/", "http://h:65536/", "http://h:0/", "http://u@h/",
        "http://h/?q=1", "http://h/#f", "http://h//x", "http://h/x.", "http://h/~x-y_z.v1/", "HTTP://h/",
        "http://a-.b/", "http://-a.b/", "http://h./", "http://" + "a" * 64 + ".b/", "http://h/" + "x" * 2100]


@pytest.mark.parametrize("url", URLS)
def test_a_url_is_vouched_for_only_in_its_canonical_form(url: str) -> None:
    quick = quick_config({"agents": {AGENT: {"url": url}}})
    if quick is not None:
        assert quick.agents[AGENT].url == str(HttpUrl(url))
    agree({"agents": {AGENT: {"url": url}}})


def test_the_usual_urls_are_vouched_for() -> None:
    for url in ["http://host", "http://127.0.0.1:9000/hook", "https://agent.example.com/v1/runs", "http://h/~x-y_z.v1/"]:
        assert quick_config({"agents": {AGENT: {"url": url}}}) is not None, url


JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**16, 10**16) | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=6)
KEYS = [*(f"{s}.{n}" for s, m in SECTIONS.items() for n in m.model_fields), "agents"]
ENTRY = st.fixed_dictionaries({}, optional={
    "url": st.sampled_from(URLS) | JSON, "maxConcurrent": st.integers(-1, 10_001) | JSON,
    "budget": st.fixed_dictionaries({}, optional={"maxCostUsdPerDay": st.floats() | st.integers(-1, 10**10),
                                                  "maxTokensPerDay": st.integers(-1, 10**16) | JSON}) | JSON,
    "secretEnv": st.text(max_size=3) | JSON, "secretParam": st.sampled_from(["/a", "/a/b.c", "a", "/"]) | JSON,
    "timeoutMs": st.integers(0, 70_000) | JSON, "other": JSON})


def _document(draw: Any) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=5)):
        if key == "agents":
            ids = st.sampled_from([AGENT, AGENT.upper(), "x", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"])
            document["agents"] = draw(st.dictionaries(ids, ENTRY, max_size=2) | JSON)
            continue
        section, name = key.split(".")
        value = draw(st.integers(-2, 10**9) | st.floats(-1, 100) | JSON)
        if isinstance(document.get(section, {}), dict):
            document[section] = {**document.get(section, {}), name: value}
    if draw(st.booleans()):
        document[draw(st.text(max_size=4))] = draw(JSON)
    return document


@settings(max_examples=400, deadline=None)
@given(st.composite(_document)())
def test_the_readings_agree_on_generated_documents(document: dict[str, Any]) -> None:
    agree(document)
