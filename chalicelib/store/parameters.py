"""SSM parameters (SecureString): the API tokens and agents' HMAC secrets of a deployed stage.

One SSM client per process, built on first use (boto3 is imported then, not with the routes).
A parameter that cannot be read is a :class:`ConfigError` naming it: callers log that name and
never return it to an API caller.
"""
from __future__ import annotations

import threading
from typing import Any

from ..errors import ConfigError

_client: Any = None
_lock = threading.Lock()


class ParameterMissing(ConfigError):
    """The parameter does not exist (a deployment error: retrying cannot help)."""


def _ssm() -> Any:
    global _client
    with _lock:
        if _client is None:
            from .aws import client

            _client = client("ssm")
        return _client


def read_parameter(name: str) -> str:
    """The decrypted value of the SSM parameter ``name``."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return str(_ssm().get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])
    except ClientError as exc:
        kind = ParameterMissing if exc.response.get("Error", {}).get("Code") == "ParameterNotFound" else ConfigError
        raise kind(f"cannot read the SSM parameter {name}: {exc.response.get('Error', {}).get('Code')}") from exc
    except BotoCoreError as exc:
        raise ConfigError(f"cannot read the SSM parameter {name}: {type(exc).__name__}") from exc


def reset() -> None:
    """Forget the client (tests switch moto on and off)."""
    global _client
    with _lock:
        _client = None
