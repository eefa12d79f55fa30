"""The configuration's schema: pydantic models of ``agentos.config.json``.

They define what a valid file is and name the first bad key of one (:func:`.config.parse_config`
asks them whenever its quick reading cannot vouch for a document), and the API's job models
reuse ``RetryPolicy`` and ``Budget``. The running functions hold the frozen named tuples of
:mod:`.config` instead: importing pydantic and building these models is ~130 ms of a cold start
that the tick and the executor need not pay.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from .config import MIN_RUN_HISTORY_DAYS, canonical_agent_ids
from .defaults import COUNT_MAX, DAY_MS
from .vocab import COST_DECIMALS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class RetryPolicy(_Strict):
    """How often and how far apart a failed attempt is tried again."""

    maxAttempts: int = Field(3, ge=1, le=20)
    initialDelayMs: int = Field(1000, ge=0, le=DAY_MS)
    maxDelayMs: int = Field(300_000, ge=0, le=DAY_MS)
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

    maxCostUsdPerDay: float | None = Field(None, ge=0, le=COUNT_MAX,
                                           description="USD per day, kept to the nano-dollar (9 decimal places).")
    maxTokensPerDay: int | None = Field(None, ge=0, le=10**15)

    @field_validator("maxCostUsdPerDay", mode="before")
    @classmethod
    def _int_is_a_number(cls, value: object) -> object:
        return float(value) if type(value) is int else value

    @field_validator("maxCostUsdPerDay", mode="after")
    @classmethod
    def _to_the_nano_dollar(cls, value: float | None) -> float | None:
        return None if value is None else round(value, COST_DECIMALS)

    @model_validator(mode="after")
    def _some_limit(self) -> Budget:
        if self.maxCostUsdPerDay is None and self.maxTokensPerDay is None:
            raise ValueError("give maxCostUsdPerDay and/or maxTokensPerDay")
        return self


class Quota(_Strict):
    """What one agent may schedule (contract section 11)."""

    maxJobs: int | None = Field(None, ge=0, le=1_000_000)
    minIntervalMs: int | None = Field(None, ge=1, le=DAY_MS)
    maxRunsPerDay: int | None = Field(None, ge=0, le=10**9)
    maxDepth: int = Field(3, ge=0, le=100)


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
    quota: Quota = Quota()

    @field_validator("url", mode="before")
    @classmethod
    def _url_from_text(cls, value: object) -> object:
        return HttpUrl(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_secret_source(self) -> AgentEndpoint:
        if self.secretEnv and self.secretParam:
            raise ValueError("give secretEnv or secretParam, not both")
        return self


class Logs(_Strict):
    dir: str = Field("logs", min_length=1)


class Limits(_Strict):
    minIntervalMs: int = Field(1000, ge=1, le=DAY_MS)
    maxPayloadBytes: int = Field(65_536, ge=2, le=262_144)


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
        return canonical_agent_ids(value)
