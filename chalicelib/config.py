"""``agentos.config.json``: loaded and validated once; a bad file stops start-up.

Every key is optional. Unknown keys are errors too, so that a typo such as
``"retrypolicy"`` is reported instead of silently ignored.
"""
from __future__ import annotations

import json
import os
import uuid
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, field_validator, model_validator

from .errors import ConfigError

DEFAULT_PATH = "agentos.config.json"
# In Lambda only app.py, chalicelib/ and vendor/ are packaged: `make package` writes the
# stage's config (deploy/agentos.<stage>.json) here, relative to the artifact's root.
LAMBDA_PATH = "chalicelib/agentos.config.json"
PACKAGED_PATH = Path(__file__).resolve().parent / "agentos.config.json"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class RetryPolicy(_Strict):
    """How often and how far apart a failed attempt is tried again."""

    maxAttempts: int = Field(3, ge=1, le=20)
    initialDelayMs: int = Field(1000, ge=0, le=86_400_000)
    maxDelayMs: int = Field(300_000, ge=0, le=86_400_000)
    multiplier: float = Field(2.0, ge=1.0, le=10.0)
    jitter: bool = True

    @field_validator("multiplier", mode="before")
    @classmethod
    def _int_is_a_number(cls, value: object) -> object:
        # JSON has one number type: 2 and 2.0 are the same multiplier.
        return float(value) if type(value) is int else value


class Security(_Strict):
    # Off for a local run (README, "Configuration"); a deployed function defaults it to on
    # (see deployed_defaults): only an explicit ``"enabled": false`` opens a deployed API.
    enabled: bool = False


class Budget(_Strict):
    """A daily spending limit: cost (USD) and/or tokens (input + output)."""

    # At least one limit (_some_limit), documented as the schema says it.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, json_schema_extra={
        "anyOf": [{"required": ["maxCostUsdPerDay"]}, {"required": ["maxTokensPerDay"]}]})

    maxCostUsdPerDay: float | None = Field(None, ge=0, le=10**9)
    maxTokensPerDay: int | None = Field(None, ge=0, le=10**15)

    @field_validator("maxCostUsdPerDay", mode="before")
    @classmethod
    def _int_is_a_number(cls, value: object) -> object:
        return float(value) if type(value) is int else value

    @model_validator(mode="after")
    def _some_limit(self) -> Budget:
        if self.maxCostUsdPerDay is None and self.maxTokensPerDay is None:
            raise ValueError("give maxCostUsdPerDay and/or maxTokensPerDay")
        return self


class AgentEndpoint(_Strict):
    """Where and how an agent receives its occurrences (only from config, never from the API),
    and its limits. An entry with only limits (no ``url``) runs its jobs' in-process actions."""

    url: HttpUrl | None = None
    maxConcurrent: int | None = Field(None, ge=1, le=10_000)
    budget: Budget | None = None  # across all the agent's jobs, per UTC day
    secretEnv: str | None = Field(None, min_length=1, max_length=128)
    # An SSM SecureString parameter holding the secret (deployed stages: under
    # /agentos-jobs/<stage>/agents/, which the executor may read); read once, on first use.
    secretParam: str | None = Field(None, min_length=2, max_length=2048, pattern=r"^/[A-Za-z0-9_.\-/]+$")
    # Bounded so a delivery fits the executor Lambda (90 s) and its claim lease (timeout + 30 s)
    # stays shorter than the queue's visibility timeout (540 s): a redelivered message then
    # always finds an expired lease, and a crashed attempt is taken over.
    timeoutMs: int = Field(10_000, ge=100, le=60_000)

    @field_validator("url", mode="before")
    @classmethod
    def _url_from_text(cls, value: object) -> object:
        return HttpUrl(value) if isinstance(value, str) else value

    @property
    def limited(self) -> bool:
        """True if the agent has a concurrency limit or a budget."""
        return self.maxConcurrent is not None or self.budget is not None

    @model_validator(mode="after")
    def _one_secret_source(self) -> AgentEndpoint:
        if self.secretEnv and self.secretParam:
            raise ValueError("give secretEnv or secretParam, not both")
        return self


class Logs(_Strict):
    dir: str = Field("logs", min_length=1)


class Limits(_Strict):
    minIntervalMs: int = Field(1000, ge=1, le=86_400_000)
    maxPayloadBytes: int = Field(65_536, ge=2, le=262_144)


# A run item is the record that stops an occurrence from starting twice: it must outlive every
# message that can still deliver that occurrence, i.e. the DLQ's 14-day retention (a redrive)
# and the queue's 4 days (infra/resources.py), plus a day. tests/test_config.py checks.
MIN_RUN_HISTORY_DAYS = 15


class Scheduler(_Strict):
    """Engine tuning (README, "Configuration": the `scheduler` keys)."""

    lookaheadSeconds: int = Field(90, ge=61, le=840)
    dueShards: int = Field(4, ge=1, le=64)
    runHistoryDays: int = Field(30, ge=MIN_RUN_HISTORY_DAYS, le=3650)
    advanceBatch: int = Field(25, ge=1, le=100)  # jobs per DynamoDB write in the tick's advance


class Config(_Strict):
    """The whole configuration file."""

    retryPolicy: RetryPolicy | None = None
    security: Security = Security()
    agents: dict[str, AgentEndpoint] = {}
    logs: Logs = Logs()
    limits: Limits = Limits()
    scheduler: Scheduler = Scheduler()

    @field_validator("agents", mode="before")
    @classmethod
    def _canonical_agent_ids(cls, value: object) -> object:
        # Jobs store agentId as a lower-case UUID: "550E8400-…" as a key would never match one.
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

    def agent(self, agent_id: str) -> AgentEndpoint | None:
        """The configured endpoint of ``agent_id`` (any case), if any."""
        return self.agents.get(agent_id.lower())


def parse_config(data: object) -> Config:
    """Validate a decoded config document, naming the first bad key on failure."""
    if not isinstance(data, dict):
        raise ConfigError("agentos.config.json: the top level must be a JSON object")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise ConfigError(f"agentos.config.json: {key}: {first['msg']}", key) from exc


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
