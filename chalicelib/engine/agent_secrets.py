"""Agents' HMAC secrets: from the environment (``secretEnv``) or an SSM parameter (``secretParam``).

A parameter is read on the first delivery that needs it and kept for the life of the process
(rotating a secret takes effect at the next cold start, as for the API tokens). Every secret
read is handed to the log scrubber before it can be used.
"""
from __future__ import annotations

import logging
import threading

from .. import settings, telemetry
from ..config import AgentEndpoint, Config
from ..errors import ConfigError, DeliveryFailed
from ..store import parameters

log = logging.getLogger("agentos.jobs.secrets")
_cache: dict[str, str] = {}
_lock = threading.Lock()


def agent_secret(endpoint: AgentEndpoint) -> str | None:
    """The agent's HMAC secret, or None when it has none; DeliveryFailed when it cannot be had."""
    if endpoint.secretParam:
        return _from_parameter(endpoint.secretParam)
    if not endpoint.secretEnv:
        return None
    value = settings.value(endpoint.secretEnv)
    if not value:
        # Never fall back to an unsigned request: the agent would (rightly) reject it,
        # or worse, accept it. This is a deployment error, so retrying cannot help.
        raise DeliveryFailed(f"secret env {endpoint.secretEnv} is not set", retryable=False)
    return value


def missing_secrets(config: Config) -> list[str]:
    """Agents whose ``secretEnv`` names an unset variable, one line each (a start-up check:
    otherwise the first delivery to such an agent would find out, and fail its run)."""
    agents = [f"agent {agent_id}: secretEnv {endpoint.secretEnv} is not set" for agent_id, endpoint in
              sorted(config.agents.items()) if endpoint.secretEnv and not settings.value(endpoint.secretEnv)]
    return agents + [f"notifications.{index}: secretEnv {target.secretEnv} is not set"
                     for index, target in enumerate(config.notifications)
                     if target.secretEnv and not settings.value(target.secretEnv)]


def _from_parameter(name: str) -> str:
    with _lock:  # one read per parameter, even when a batch starts many deliveries at once
        if name not in _cache:
            try:
                value = parameters.read_parameter(name)
            except ConfigError as exc:
                # The run's error is visible to API callers: the parameter's name goes to the log only.
                log.error("agent secret: %s", exc.message)
                missing = isinstance(exc, parameters.ParameterMissing)
                raise DeliveryFailed("the agent's secret parameter cannot be read (see the executor log)",
                                     retryable=not missing) from None
            telemetry.register_secret(value)
            _cache[name] = value
        return _cache[name]


def forget() -> None:
    """Drop the cached secrets and the SSM client (tests)."""
    with _lock:
        _cache.clear()
    parameters.reset()
