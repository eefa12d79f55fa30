"""The configuration's schema: pydantic models of ``agentos.config.json``, built from :mod:`.config`.

They define what a valid file is and name the first bad key of one (:func:`.config.parse_config`
asks them whenever its quick reading cannot vouch for a document), and the API's job models
reuse ``RetryPolicy`` and ``Budget``. The running functions hold the frozen named tuples of
:mod:`.config` instead: importing pydantic and building these models is ~130 ms of a cold start
that the tick and the executor need not pay.

Each model is built from its named tuple (:func:`model`): the same fields, types, defaults and
docstring, each field's :class:`.checks.Bound` as pydantic's constraints (``ge``/``le`` for a
number, ``min_length``/``max_length``/``pattern`` for a string). Written here are only the rules
a bound cannot state: a URL is pydantic's HttpUrl, a budget sets a limit and is kept to the
nano-dollar, one secret source, canonical agent ids.
"""
from __future__ import annotations

from collections.abc import Mapping
from types import GenericAlias, MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, create_model, field_validator, model_validator

from . import config
from .checks import Bound, fields, is_record, optional_of
from .vocab import COST_DECIMALS

STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)


class Section(BaseModel):
    """A model built from a named tuple of :mod:`.config`: no unknown key, values of their JSON
    type (strict), frozen."""

    model_config = STRICT

    if TYPE_CHECKING:  # its fields are made at run time, unseen by a type checker: read as Any
        def __getattr__(self, name: str) -> Any: ...


class _OneLimit(Section):
    # A budget sets at least one limit (_some_limit), documented as the schema says it.
    model_config = ConfigDict(json_schema_extra={
        "anyOf": [{"required": ["maxCostUsdPerDay"]}, {"required": ["maxTokensPerDay"]}]})


MODELS: dict[type, type[Section]] = {}  # named tuple -> its model, filled by model()


def _as_model_type(hint: Any) -> Any:
    """The type a model's field has for the tuple's ``hint`` (a named tuple: its model)."""
    inner = optional_of(hint)
    if inner is not None:
        return _as_model_type(inner) | None
    if is_record(hint):
        return MODELS[hint]
    if getattr(hint, "__origin__", None) is Mapping:
        key, value = hint.__args__
        return GenericAlias(dict, (key, _as_model_type(value)))
    return hint


def _field(hint: Any, default: Any, bound: Bound) -> Any:
    """``Field(default, ...)`` with ``bound`` as the constraints of a number or of a string."""
    if is_record(type(default)):
        default = MODELS[type(default)]()
    elif isinstance(default, MappingProxyType):
        default = dict(default)
    inner = optional_of(hint) or hint
    lo, hi = ("ge", "le") if inner in (int, float) else ("min_length", "max_length")
    kwargs: dict[str, Any] = {lo: bound.lo, hi: bound.hi, "pattern": bound.pattern, "description": bound.doc}
    return Field(default, **{key: value for key, value in kwargs.items() if value is not None})


def _int_is_a_number(cls: type, value: object) -> object:
    # JSON has one number type: 2 and 2.0 are the same number (a float field takes both).
    return float(value) if type(value) is int else value


def model(cls: type, base: type[Section] = Section, types: Mapping[str, Any] | None = None,
          **validators: Any) -> type[Section]:
    """The model of the named tuple ``cls``: its fields (a type in ``types`` replaces the tuple's),
    with the number rule on every float field, and ``validators`` (pydantic's decorators)."""
    declared = fields(cls, config.BOUNDS)
    defaults: dict[str, Any] = cls._field_defaults  # type: ignore[attr-defined]
    definitions: dict[str, Any] = {  # a field without a default is required (...)
        name: ((types or {}).get(name, _as_model_type(hint)), _field(hint, defaults.get(name, ...), bound))
        for name, (hint, bound) in declared.items()}
    floats = [name for name, (hint, _) in declared.items() if (optional_of(hint) or hint) is float]
    if floats:
        validators["_int_is_a_number"] = field_validator(*floats, mode="before")(_int_is_a_number)
    built: type[Section] = create_model(cls.__name__, __base__=base, __doc__=cls.__doc__, __module__=__name__,
                                        __validators__=validators, **definitions)
    MODELS[cls] = built
    return built


def _url_from_text(cls: type, value: object) -> object:
    return HttpUrl(value) if isinstance(value, str) else value


def _to_the_nano_dollar(cls: type, value: float | None) -> float | None:
    return None if value is None else round(value, COST_DECIMALS)


def _some_limit(self: Section) -> Section:
    if self.maxCostUsdPerDay is None and self.maxTokensPerDay is None:
        raise ValueError("give maxCostUsdPerDay and/or maxTokensPerDay")
    return self


def _one_secret_source(self: Section) -> Section:
    if self.secretEnv and self.secretParam:
        raise ValueError("give secretEnv or secretParam, not both")
    return self


def _canonical_agent_ids(cls: type, value: object) -> object:
    return config.canonical_agent_ids(value)


if TYPE_CHECKING:  # what a type checker can see of the models built below
    class RetryPolicy(Section): ...
    class Security(Section): ...
    class Budget(Section): ...
    class Quota(Section): ...
    class AgentEndpoint(Section): ...
    class Logs(Section): ...
    class Limits(Section): ...
    class Scheduler(Section): ...
    class NotificationTarget(Section): ...
    class Config(Section): ...
else:
    RetryPolicy = model(config.RetryPolicy)
    Security = model(config.Security)
    Budget = model(config.Budget, _OneLimit,
                   _to_the_nano_dollar=field_validator("maxCostUsdPerDay", mode="after")(_to_the_nano_dollar),
                   _some_limit=model_validator(mode="after")(_some_limit))
    Quota = model(config.Quota)
    AgentEndpoint = model(config.AgentEndpoint, types={"url": HttpUrl | None},
                          _url_from_text=field_validator("url", mode="before")(_url_from_text),
                          _one_secret_source=model_validator(mode="after")(_one_secret_source))
    Logs = model(config.Logs)
    Limits = model(config.Limits)
    Scheduler = model(config.Scheduler)
    NotificationTarget = model(
        config.NotificationTarget,
        types={"url": HttpUrl, "events": list[Literal[config.NOTIFICATION_EVENTS]],  # type: ignore[valid-type]
               "format": Literal[config.NOTIFICATION_FORMATS]},  # type: ignore[valid-type]
        _url_from_text=field_validator("url", mode="before")(_url_from_text))
    Config = model(config.Config, types={"notifications": list[NotificationTarget]},
                   _canonical_agent_ids=field_validator("agents", mode="before")(_canonical_agent_ids))
TUPLES = {built: cls for cls, built in MODELS.items()}  # model -> its named tuple


def as_tuple(value: Any) -> Any:
    """``value`` with every model in it as its named tuple (and a URL as its text)."""
    if isinstance(value, Section):
        return TUPLES[type(value)](**{name: as_tuple(getattr(value, name)) for name in type(value).model_fields})
    if isinstance(value, dict):
        return {key: as_tuple(item) for key, item in value.items()}
    if isinstance(value, list):  # the tuples hold tuples (frozen), the models lists (JSON arrays)
        return tuple(as_tuple(item) for item in value)
    return str(value) if isinstance(value, HttpUrl) else value


def read_config(data: object) -> config.Config:
    """The configuration the models read from ``data`` (pydantic's ValidationError if invalid)."""
    read: config.Config = as_tuple(Config.model_validate(data))
    return read


def read_retry_policy(text: str) -> config.RetryPolicy:
    """A retry policy the models read from its JSON text."""
    policy: config.RetryPolicy = as_tuple(RetryPolicy.model_validate_json(text))
    return policy
