"""Remove a quadratic cost from moto's SQS ReceiveMessage.

moto 5.2 checks each candidate message's retention by computing *all* queue
attributes, including counts that walk every message: receiving from a queue of n
messages costs O(n) per message. The scheduler's tests and local stack hold
thousands of delayed messages at once, so this made draining minutes long. The
replacement reads the one attribute it needs; behaviour is unchanged.
"""
from __future__ import annotations

from typing import Any

_installed = False


def install() -> None:
    """Patch moto's retention check (idempotent)."""
    global _installed
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    if _installed:
        return

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return retention + message.sent_timestamp / 1000 > unix_time()

    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period
    _installed = True
