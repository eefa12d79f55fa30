"""Remove two costs of moto that grow with the data, not with the request.

* SQS ReceiveMessage: moto 5.2 checks each candidate message's retention by
  computing *all* queue attributes, including counts that walk every message, so
  receiving from a queue of n messages costs O(n) per message. The replacement
  reads the one attribute it needs.
* SQS clock: moto's ``unix_time()`` builds two datetimes per reading (~12 us) and
  SendMessage reads it for every queued message; ``time.time()`` gives the same value.
* DynamoDB TransactWriteItems: moto deep-copies every table a transaction touches,
  to roll back on failure, so each claim cost O(runs in the table) and the suite and
  the local stack slowed down as history grew. The replacement backs up only the
  items the transaction names and restores those on failure.

Behaviour is unchanged; both are measured hot spots (py-spy) of the scheduler's tests.
"""
from __future__ import annotations

import copy
from typing import Any

_installed = False


class _TablesNotCopied:
    """Stands in for the ``copy`` module inside moto's DynamoDB backend: tables are not copied."""

    def __init__(self, table_type: type) -> None:
        self.table_type = table_type

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        """Identity for a whole table (its items are backed up one by one instead)."""
        return value if isinstance(value, self.table_type) else copy.deepcopy(value, memo)


def _item_key(backend: Any, op: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    table = backend.tables.get(op.get("TableName"))
    if table is None:
        return None
    if "Key" in op:
        return table.name, op["Key"]
    names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    return table.name, {n: op["Item"][n] for n in names if n in op["Item"]}


def _backed_up_transaction(original: Any) -> Any:
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        saved = []
        for entry in transact_items:
            found = _item_key(self, next(iter(entry.values())))
            if found is not None:
                item = self.get_item(found[0], found[1])
                saved.append((found, copy.deepcopy(item) if item is not None else None))
        try:
            return original(self, transact_items, *args, **kwargs)
        except Exception:
            for (table_name, key), item in saved:
                if item is None:
                    self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, item.to_json()["Attributes"])
            raise
    return transact_write_items


def install() -> None:
    """Patch moto's retention check and transaction backup (idempotent)."""
    global _installed
    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models.table import Table
    from moto.sqs.models import SQSBackend

    if _installed:
        return
    import time

    import moto.sqs.models as sqs_models

    slow_time, slow_millis = sqs_models.unix_time, sqs_models.unix_time_millis
    sqs_models.unix_time = lambda dt=None: time.time() if dt is None else slow_time(dt)
    sqs_models.unix_time_millis = lambda dt=None: time.time() * 1000.0 if dt is None else slow_millis(dt)
    dynamodb_models.copy = _TablesNotCopied(Table)  # type: ignore[assignment]
    backend = dynamodb_models.DynamoDBBackend
    backend.transact_write_items = _backed_up_transaction(backend.transact_write_items)

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return retention + message.sent_timestamp / 1000 > time.time()

    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period
    _installed = True
