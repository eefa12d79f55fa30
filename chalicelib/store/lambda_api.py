"""The executor's SQS event source mapping, through the Lambda API: read and set its pollers.

The tick (chalicelib.engine.provisioning) raises provisioned mode's ``MinimumPollers`` before a
burst and lowers it after. The client is built once, on first use, from the shared session
(:func:`.aws.client`); botocore and client errors become :class:`StoreUnavailable`.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import StoreUnavailable
from .aws import LazyClient


class Pollers(NamedTuple):
    """The mapping's provisioned mode, as last read: its minimum (None: standard mode) and when
    the mapping last changed (epoch ms)."""

    minimum: int | None
    changed_ms: int


def _lambda_client() -> Any:
    from .aws import client

    return client("lambda")


class PollerMapping:
    """One event source mapping (by UUID)."""

    def __init__(self, uuid: str, client_factory: Callable[[], Any] | None = None) -> None:
        self.uuid = uuid
        self._client = LazyClient(client_factory or _lambda_client)

    @property
    def client(self) -> Any:
        """The Lambda client, built on first use."""
        return self._client.get()

    def read(self) -> Pollers:
        """The mapping's minimum pollers and when it last changed (GetEventSourceMapping)."""
        try:
            found = self.client.get_event_source_mapping(UUID=self.uuid)
        except (BotoCoreError, ClientError) as exc:
            raise StoreUnavailable(f"event source mapping {self.uuid} not read: {type(exc).__name__}") from exc
        config = found.get("ProvisionedPollerConfig") or {}
        changed = found.get("LastModified")
        changed_ms = int(changed.timestamp() * 1000) if isinstance(changed, datetime) else 0
        minimum = config.get("MinimumPollers")
        return Pollers(int(minimum) if minimum is not None else None, changed_ms)

    def set_pollers(self, minimum: int, maximum: int) -> None:
        """Provisioned mode with ``minimum`` to ``maximum`` pollers (UpdateEventSourceMapping)."""
        try:
            self.client.update_event_source_mapping(
                UUID=self.uuid, ProvisionedPollerConfig={"MinimumPollers": minimum, "MaximumPollers": maximum})
        except (BotoCoreError, ClientError) as exc:
            raise StoreUnavailable(f"event source mapping {self.uuid} not updated: {type(exc).__name__}") from exc
