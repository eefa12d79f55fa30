"""``agentos.config.json``: loaded and validated once; a bad file stops start-up.

Every key is optional. Unknown keys are errors too, so that a typo such as
``"retrypolicy"`` is reported instead of silently ignored.

Each section is declared once, below: a named tuple (frozen; not a dataclass: defining one
costs ~0.8 ms) with each field's type and default, and in :data:`BOUNDS` each field's
:class:`.checks.Bound`. Two readings are derived from them. A document whose every key and value is plainly valid
(known keys; JSON values of the exact type, within bounds; URLs already in their canonical
form) is read here directly, by the checks :func:`.checks.record` derives: importing pydantic
and building the models is ~130 ms of a cold start the tick and the executor need not pay.
Any other document, and every invalid one, goes through the pydantic models that
:mod:`.config_schema` builds from the same tuples; they accept it or name its first bad key.
Only what a table cannot say is written twice, once per reading (URLs, budgets, one secret
source, agent ids). tests/test_config_quick.py checks that both readings agree.
"""
# No ``from __future__ import annotations``: the tuples' annotations are objects at once, which
# checks.fields reads as they are (from strings, typing compiles each: ~0.5 ms of a cold start).
import json
import os
import re
import uuid
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from . import settings
from .checks import Bound, Unsure, one_of, optional, record
from .defaults import COUNT_MAX, DAY_MS
from .errors import ConfigError
from .vocab import COST_DECIMALS

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


class Quota(NamedTuple):
    """What one agent may schedule (contract section 11): checked on create, PUT and PATCH."""

    maxJobs: int | None = None  # jobs of the agent that are not deleted
    minIntervalMs: int | None = None  # the shortest gap between two of a job's next 50 starts
    maxRunsPerDay: int | None = None  # starts in the next 24 h, summed over the agent's active jobs
    maxDepth: int = 3  # lineage: a job made by a run of a job made by a run ...


class AgentEndpoint(NamedTuple):
    """Where and how an agent receives its occurrences (only from config, never from the API),
    and its limits. An entry with only limits (no ``url``) runs its jobs' in-process actions."""

    url: str | None = None  # canonical, as pydantic's HttpUrl writes it
    maxConcurrent: int | None = None
    budget: Budget | None = None  # across all the agent's jobs, per UTC day
    secretEnv: str | None = None
    # An SSM SecureString parameter holding the secret (deployed stages: under
    # /agentos-jobs/<stage>/agents/, which the executor may read); read once, on first use.
    secretParam: str | None = None
    timeoutMs: int = 10_000  # bounded: see BOUNDS
    quota: Quota = Quota()

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


NOTIFICATION_EVENTS = ("run.failed", "job.paused", "job.completed", "job.blocked", "job.late")
NOTIFICATION_FORMATS = ("json", "slack")


class NotificationTarget(NamedTuple):
    """A receiver of notifications (contract section 13): its URL (only ever from here), the
    events it takes, the variable holding its signing secret, and the body's format (``slack``:
    an incoming webhook's ``{"text"}``)."""

    url: str
    events: tuple[str, ...]
    secretEnv: str | None = None
    format: str = "json"


class Config(NamedTuple):
    """The whole configuration file."""

    retryPolicy: RetryPolicy | None = None
    security: Security = Security()
    agents: Mapping[str, AgentEndpoint] = MappingProxyType({})
    logs: Logs = Logs()
    limits: Limits = Limits()
    scheduler: Scheduler = Scheduler()
    notifications: tuple[NotificationTarget, ...] = ()

    def agent(self, agent_id: str) -> AgentEndpoint | None:
        """The configured endpoint of ``agent_id`` (any case), if any."""
        return self.agents.get(agent_id.lower())


# What each field allows beyond its type (a number's lo..hi, a string's length and pattern):
# the one table both readings take their bounds from. Every number has one (checks.typed).
BOUNDS: dict[type, dict[str, Bound]] = {
    RetryPolicy: {"maxAttempts": Bound(1, 20), "initialDelayMs": Bound(0, DAY_MS), "maxDelayMs": Bound(0, DAY_MS),
                  "multiplier": Bound(1.0, 10.0)},
    Budget: {"maxCostUsdPerDay": Bound(0, COUNT_MAX, doc="USD per day, kept to the nano-dollar (9 decimal places)."),
             "maxTokensPerDay": Bound(0, 10**15)},
    Quota: {"maxJobs": Bound(0, 1_000_000), "minIntervalMs": Bound(1, DAY_MS), "maxRunsPerDay": Bound(0, 10**9),
            "maxDepth": Bound(0, 100)},
    # timeoutMs: a delivery fits the executor Lambda (90 s) and its claim lease (timeout + 30 s)
    # stays shorter than the queue's visibility timeout (540 s): a redelivered message then
    # always finds an expired lease, and a crashed attempt is taken over.
    AgentEndpoint: {"maxConcurrent": Bound(1, 10_000), "secretEnv": Bound(1, 128),
                    "secretParam": Bound(2, 2048, r"^/[A-Za-z0-9_.\-/]+$"), "timeoutMs": Bound(100, 60_000)},
    Logs: {"dir": Bound(1)},
    Limits: {"minIntervalMs": Bound(1, DAY_MS), "maxPayloadBytes": Bound(2, 262_144)},
    Scheduler: {"lookaheadSeconds": Bound(61, 840), "dueShards": Bound(1, 64),
                "runHistoryDays": Bound(MIN_RUN_HISTORY_DAYS, 3650), "advanceBatch": Bound(1, 100)},
    NotificationTarget: {"events": Bound(1, len(NOTIFICATION_EVENTS) * 4), "secretEnv": Bound(1, 128)},
    Config: {"notifications": Bound(0, 100)},
}


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
        raise Unsure
    url: str = value
    return url if plain[4] else url + "/"


_BUDGET = record(Budget, BOUNDS)


def check_budget(value: Any) -> Budget:
    """A budget, if plainly valid (:mod:`.checks`)."""
    budget: Budget = _BUDGET(value)
    if budget.maxCostUsdPerDay is None and budget.maxTokensPerDay is None:
        raise Unsure  # at least one limit
    if budget.maxCostUsdPerDay is not None and round(budget.maxCostUsdPerDay, COST_DECIMALS) != budget.maxCostUsdPerDay:
        raise Unsure  # the models round it to the nano-dollar
    return budget


_AGENT = record(AgentEndpoint, BOUNDS, {"url": optional(_url), "budget": optional(check_budget)})


def _agent(value: Any) -> AgentEndpoint:
    agent: AgentEndpoint = _AGENT(value)
    if agent.secretEnv and agent.secretParam:
        raise Unsure  # one secret source
    return agent


def _agents(value: Any) -> dict[str, AgentEndpoint]:
    try:
        canonical = canonical_agent_ids(value)
    except ValueError:
        raise Unsure from None
    if type(canonical) is not dict:
        raise Unsure
    return {agent_id: _agent(endpoint) for agent_id, endpoint in canonical.items()}


def _events(value: Any) -> tuple[str, ...]:
    if type(value) is not list or not 1 <= len(value) <= 20 or not all(
            type(event) is str and event in NOTIFICATION_EVENTS for event in value):
        raise Unsure
    return tuple(value)


_NOTIFICATION = record(NotificationTarget, BOUNDS, {"url": _url, "events": _events,
                                                    "format": one_of(*NOTIFICATION_FORMATS)})


def _notifications(value: Any) -> tuple[NotificationTarget, ...]:
    if type(value) is not list or len(value) > 100 or not all(
            type(item) is dict and {"url", "events"} <= item.keys() for item in value):
        raise Unsure  # (a receiver without its url or events: the models name the key)
    return tuple(_NOTIFICATION(item) for item in value)


check_retry_policy = record(RetryPolicy, BOUNDS)
_CONFIG = record(Config, BOUNDS, {"agents": _agents, "notifications": _notifications})


def quick_config(data: object) -> Config | None:
    """``data`` read without pydantic, if every key and value of it is plainly valid; else None."""
    try:
        config: Config = _CONFIG(data)
    except Unsure:
        return None
    return config


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
        return config_schema.read_config(data)
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

    return config_schema.read_retry_policy(text)


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
    in_lambda = settings.in_lambda()
    where = Path(path or settings.config_path() or (PACKAGED_PATH if in_lambda else DEFAULT_PATH))
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
