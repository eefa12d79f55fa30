"""``agentos.config.json``: loaded and validated once; a bad file stops start-up.

Every key is optional. Unknown keys are errors too, so that a typo such as
``"retrypolicy"`` is reported instead of silently ignored.

What a valid file is, and the message naming the first bad key of one, is defined by the
pydantic models of :mod:`.config_schema`. The functions hold the named tuples below (frozen;
not dataclasses: defining one costs ~0.8 ms). A document whose every key and value is plainly
valid (known keys; JSON values of the exact type, within bounds; URLs already in their
canonical form) is read here directly: importing pydantic and building the models is ~130 ms
of a cold start the tick and the executor need not pay. Any other document, and every invalid
one, goes through the models, which accept it or name its first bad key.
tests/test_config_quick.py checks that both readings agree.
"""
from __future__ import annotations

import json
import math
import os
import re
import uuid
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import ConfigError
from .limits import COST_DECIMALS

if TYPE_CHECKING:
    from . import config_schema

DEFAULT_PATH = "agentos.config.json"
# In Lambda only app.py, chalicelib/ and vendor/ are packaged: `make package` writes the
# stage's config (deploy/agentos.<stage>.json) here, relative to the artifact's root.
LAMBDA_PATH = "chalicelib/agentos.config.json"
PACKAGED_PATH = Path(__file__).resolve().parent / "agentos.config.json"

# A run item is the record that stops an occurrence from starting twice: it must outlive every
# message that can still deliver that occurrence, i.e. the DLQ's 14-day retention (a redrive)
# and the queue's 4 days (infra/resources.py), plus a day. tests/test_config.py checks.
MIN_RUN_HISTORY_DAYS = 15


class RetryPolicy(NamedTuple):
    """How often and how far apart a failed attempt is tried again."""

    maxAttempts: int = 3
    initialDelayMs: int = 1000
    maxDelayMs: int = 300_000
    multiplier: float = 2.0
    jitter: bool = True


class Security(NamedTuple):
    """Off for a local run; a deployed function defaults it to on (:func:`deployed_defaults`)."""

    enabled: bool = False


class Budget(NamedTuple):
    """A daily spending limit: cost (USD) and/or tokens (input + output)."""

    maxCostUsdPerDay: float | None = None
    maxTokensPerDay: int | None = None

    def limits(self) -> dict[str, float | int]:
        """The limits it sets (the API's ``budget`` object)."""
        both = {"maxCostUsdPerDay": self.maxCostUsdPerDay, "maxTokensPerDay": self.maxTokensPerDay}
        return {k: v for k, v in both.items() if v is not None}


class AgentEndpoint(NamedTuple):
    """Where and how an agent receives its occurrences (only from config, never from the API),
    and its limits. An entry with only limits (no ``url``) runs its jobs' in-process actions."""

    url: str | None = None  # canonical, as pydantic's HttpUrl writes it
    maxConcurrent: int | None = None
    budget: Budget | None = None  # across all the agent's jobs, per UTC day
    secretEnv: str | None = None
    secretParam: str | None = None  # an SSM SecureString parameter, read once, on first use
    timeoutMs: int = 10_000

    @property
    def limited(self) -> bool:
        """True if the agent has a concurrency limit or a budget."""
        return self.maxConcurrent is not None or self.budget is not None


class Logs(NamedTuple):
    """Where the failure log is written."""

    dir: str = "logs"


class Limits(NamedTuple):
    """API limits on jobs."""

    minIntervalMs: int = 1000
    maxPayloadBytes: int = 65_536


class Scheduler(NamedTuple):
    """Engine tuning (README, "Configuration": the `scheduler` keys)."""

    lookaheadSeconds: int = 90
    dueShards: int = 4
    runHistoryDays: int = 30
    advanceBatch: int = 25  # jobs per DynamoDB write in the tick's advance


class Config(NamedTuple):
    """The whole configuration file."""

    retryPolicy: RetryPolicy | None = None
    security: Security = Security()
    agents: Mapping[str, AgentEndpoint] = MappingProxyType({})
    logs: Logs = Logs()
    limits: Limits = Limits()
    scheduler: Scheduler = Scheduler()

    def agent(self, agent_id: str) -> AgentEndpoint | None:
        """The configured endpoint of ``agent_id`` (any case), if any."""
        return self.agents.get(agent_id.lower())


def canonical_agent_ids(value: object) -> object:
    """``agents`` keyed by lower-case UUIDs, as jobs store agentId ("550E8400-…" as a key would
    never match one); a key that is not a UUID, or one given twice in two cases, is an error."""
    if not isinstance(value, dict):
        return value
    canonical: dict[str, object] = {}
    for key, endpoint in value.items():
        try:
            agent_id = str(uuid.UUID(key)) if isinstance(key, str) and len(key) == 36 else None
        except ValueError:
            agent_id = None
        if agent_id is None:
            raise ValueError(f"key {str(key)[:64]!r} is not an agent id (a UUID)")
        if agent_id in canonical:
            raise ValueError(f"agent {agent_id} is configured twice (keys differ only in case)")
        canonical[agent_id] = endpoint
    return canonical


# --- The quick reading: what it cannot vouch for, the pydantic models decide. ---------------

class _Unsure(Exception):
    """A value the quick reading does not vouch for (maybe invalid, maybe only unusual)."""


Check = Callable[[Any], Any]


def _int(lo: int, hi: int) -> Check:
    def check(value: Any) -> int:
        if type(value) is int and lo <= value <= hi:  # strict: no bool, no 3.0, no "3"
            return value
        raise _Unsure
    return check


def _float(lo: float, hi: float) -> Check:
    def check(value: Any) -> float:
        # JSON has one number type: 2 and 2.0 are the same number (the models convert ints too).
        if type(value) in (int, float) and math.isfinite(value) and lo <= value <= hi:
            return float(value)
        raise _Unsure
    return check


def _bool(value: Any) -> bool:
    if type(value) is bool:
        return value
    raise _Unsure


def _text(lo: int, hi: int, pattern: str | None = None) -> Check:
    def check(value: Any) -> str:
        if type(value) is str and lo <= len(value) <= hi and (pattern is None or re.fullmatch(pattern, value)):
            return value
        raise _Unsure
    return check


def _optional(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_SEGMENT = r"[A-Za-z0-9_~-]+(?:\.[A-Za-z0-9_~-]+)*"
# An http(s) URL whose canonical form (pydantic's HttpUrl: the WHATWG URL standard) is itself,
# but for the "/" of an empty path: lower-case scheme and host name whose last label starts
# with a letter (a numeric one is read as an IPv4 address) and none is punycode, or a
# dotted-quad address without leading zeros; a port that is not a scheme's default; a path of
# unreserved characters without "." or ".." segments; no user, query or fragment.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_PLAIN_URL = (  # compiled on first use (re's cache): most configurations name no URL
    rf"(https?)://((?:{_LABEL}\.)*[a-z](?:[a-z0-9-]{{0,61}}[a-z0-9])?|{_OCTET}(?:\.{_OCTET}){{3}})"
    rf"(?::([1-9][0-9]{{0,4}}))?(/(?:{_SEGMENT}(?:/{_SEGMENT})*/?)?)?"
)


def _url(value: Any) -> str:
    plain = re.fullmatch(_PLAIN_URL, value) if type(value) is str and len(value) <= 2000 else None
    if plain is None or "xn--" in plain[2] or plain[3] in ("80", "443") or int(plain[3] or 1) > 65535:
        raise _Unsure
    text: str = value
    return text if plain[4] else text + "/"


def _section(cls: Callable[..., Any], checks: dict[str, Check]) -> Check:
    def check(value: Any) -> Any:
        if type(value) is not dict or not value.keys() <= checks.keys():  # extra keys are errors
            raise _Unsure
        return cls(**{key: checks[key](item) for key, item in value.items()})
    return check


def _budget(value: Any) -> Budget:
    budget: Budget = _section(Budget, {"maxCostUsdPerDay": _optional(_float(0, 10**9)),
                                       "maxTokensPerDay": _optional(_int(0, 10**15))})(value)
    if budget.maxCostUsdPerDay is None and budget.maxTokensPerDay is None:
        raise _Unsure  # at least one limit
    if budget.maxCostUsdPerDay is not None and round(budget.maxCostUsdPerDay, COST_DECIMALS) != budget.maxCostUsdPerDay:
        raise _Unsure  # the models round it to the nano-dollar
    return budget


def _agent(value: Any) -> AgentEndpoint:
    agent: AgentEndpoint = _section(AgentEndpoint, {
        "url": _optional(_url), "maxConcurrent": _optional(_int(1, 10_000)), "budget": _optional(_budget),
        "secretEnv": _optional(_text(1, 128)), "secretParam": _optional(_text(2, 2048, r"/[A-Za-z0-9_.\-/]+")),
        "timeoutMs": _int(100, 60_000)})(value)
    if agent.secretEnv and agent.secretParam:
        raise _Unsure  # one secret source
    return agent


def _agents(value: Any) -> dict[str, AgentEndpoint]:
    try:
        canonical = canonical_agent_ids(value)
    except ValueError:
        raise _Unsure from None
    if type(canonical) is not dict:
        raise _Unsure
    return {agent_id: _agent(endpoint) for agent_id, endpoint in canonical.items()}


_CONFIG = _section(Config, {
    "retryPolicy": _optional(_section(RetryPolicy, {
        "maxAttempts": _int(1, 20), "initialDelayMs": _int(0, 86_400_000), "maxDelayMs": _int(0, 86_400_000),
        "multiplier": _float(1.0, 10.0), "jitter": _bool})),
    "security": _section(Security, {"enabled": _bool}),
    "agents": _agents,
    "logs": _section(Logs, {"dir": _text(1, 2**31)}),
    "limits": _section(Limits, {"minIntervalMs": _int(1, 86_400_000), "maxPayloadBytes": _int(2, 262_144)}),
    "scheduler": _section(Scheduler, {
        "lookaheadSeconds": _int(61, 840), "dueShards": _int(1, 64),
        "runHistoryDays": _int(MIN_RUN_HISTORY_DAYS, 3650), "advanceBatch": _int(1, 100)}),
})


def quick_config(data: object) -> Config | None:
    """``data`` read without pydantic, if every key and value of it is plainly valid; else None."""
    try:
        config: Config = _CONFIG(data)
    except _Unsure:
        return None
    return config


def from_schema(model: config_schema.Config) -> Config:
    """The named tuples holding what the pydantic models accepted."""
    def agent(endpoint: config_schema.AgentEndpoint) -> AgentEndpoint:
        fields = endpoint.model_dump(exclude={"url", "budget"})
        return AgentEndpoint(url=None if endpoint.url is None else str(endpoint.url),
                             budget=None if endpoint.budget is None else Budget(**endpoint.budget.model_dump()),
                             **fields)
    policy = model.retryPolicy
    return Config(retryPolicy=None if policy is None else RetryPolicy(**policy.model_dump()),
                  security=Security(**model.security.model_dump()),
                  agents={agent_id: agent(endpoint) for agent_id, endpoint in model.agents.items()},
                  logs=Logs(**model.logs.model_dump()), limits=Limits(**model.limits.model_dump()),
                  scheduler=Scheduler(**model.scheduler.model_dump()))


def parse_config(data: object) -> Config:
    """Validate a decoded config document, naming the first bad key on failure."""
    if not isinstance(data, dict):
        raise ConfigError("agentos.config.json: the top level must be a JSON object")
    config = quick_config(data)
    if config is not None:
        return config
    from pydantic import ValidationError

    from . import config_schema

    try:
        return from_schema(config_schema.Config.model_validate(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise ConfigError(f"agentos.config.json: {key}: {first['msg']}", key) from exc


def parse_retry_policy(text: str) -> RetryPolicy:
    """A job's stored retry policy (JSON text the API validated and wrote)."""
    config = quick_config({"retryPolicy": json.loads(text)})
    if config is not None and config.retryPolicy is not None:
        return config.retryPolicy
    from . import config_schema

    return RetryPolicy(**config_schema.RetryPolicy.model_validate_json(text).model_dump())


def deployed_defaults(data: object) -> object:
    """``data`` with ``security.enabled`` true unless it says otherwise: a deployed API is
    secure by default, and only an explicit ``false`` in the stage's file opts out."""
    if not isinstance(data, dict):
        return data
    security = data.get("security", {})
    if isinstance(security, dict) and "enabled" not in security:
        return {**data, "security": {**security, "enabled": True}}
    return data


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read the file at ``path`` (default ``$AGENTOS_CONFIG``, else ./agentos.config.json;
    in Lambda, else the packaged chalicelib/agentos.config.json, with security on by default)."""
    in_lambda = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
    where = Path(path or os.environ.get("AGENTOS_CONFIG") or (PACKAGED_PATH if in_lambda else DEFAULT_PATH))
    data: object = {}
    if where.exists():
        try:
            data = json.loads(where.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{where}: not readable JSON: {exc}") from exc
    return parse_config(deployed_defaults(data) if in_lambda else data)


@lru_cache(maxsize=1)
def get_config() -> Config:
    """The process-wide configuration, loaded on first use."""
    return load_config()


def reset_config() -> None:
    """Forget the cached configuration (tests, and the local stack's reload)."""
    get_config.cache_clear()
