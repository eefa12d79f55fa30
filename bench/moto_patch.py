"""A bench-only fix of one moto artifact: ``TransactWriteItems`` deep-copies whole tables.

moto 5.2.5 backs up *every table a transaction touches* with ``copy.deepcopy`` before
running it (``moto/dynamodb/models/__init__.py``, ``transact_write_items``), so each
transaction costs ~0.3 ms per item already in those tables (60 ms with 100 items,
1.5 s with 10,000), and concurrent transactions crash the copy ("dictionary changed
size during iteration", HTTP 500, retried). On AWS a transaction's cost does not
depend on the table's size. With :func:`apply`, moto backs up only the items the
transaction names and restores just those on a cancellation; it changes no result.
The lateness bench measures with and without it and says which figure is which.
"""
from __future__ import annotations

import copy
import types
from typing import Any

_state = {"enabled": False, "installed": False}


def _key_of(backend: Any, op: dict[str, Any]) -> dict[str, Any]:
    """The DynamoDB-JSON key of one transaction operation."""
    if "Key" in op:
        return op["Key"]
    table = backend.get_table(op["TableName"])
    names = [n for n in (table.hash_key_attr, table.range_key_attr) if n]
    return {n: op["Item"][n] for n in names}


def _backups(backend: Any, items: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], Any]]:
    """(table, key, deep copy of the current item or None) of every operation."""
    saved = []
    for entry in items:
        _, op = next(iter(entry.items()))
        try:
            key = _key_of(backend, op)
            saved.append((op["TableName"], key, copy.deepcopy(backend.get_item(op["TableName"], key))))
        except Exception:  # malformed: moto's own code reports it
            continue
    return saved


def _restore(backend: Any, saved: list[tuple[str, dict[str, Any], Any]]) -> None:
    """Put every backed-up item back as it was (absent items are deleted again)."""
    for table_name, key, item in reversed(saved):
        if item is None:
            backend.delete_item(table_name, key)
        else:
            backend.put_item(table_name, item.to_json()["Attributes"])


class _TableKeepingCopy(types.ModuleType):
    """Stands in for ``copy`` inside moto's DynamoDB models: tables are not copied."""

    def __init__(self) -> None:
        super().__init__("copy")
        self.copy = copy.copy

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        if _state["enabled"] and isinstance(value, Table):
            return value  # the rollback then re-assigns the same table; _restore undoes the items
        return copy.deepcopy(value, memo)


def apply(enabled: bool = True) -> None:
    """Switch the item-level transaction backup on (or off again)."""
    import moto.dynamodb.models as models

    if not _state["installed"]:
        original = models.DynamoDBBackend.transact_write_items

        def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
            if not _state["enabled"]:
                return original(self, transact_items)
            saved = _backups(self, transact_items)
            try:
                return original(self, transact_items)
            except Exception:
                _restore(self, saved)
                raise

        models.copy = _TableKeepingCopy()  # type: ignore[attr-defined]
        models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
        _state["installed"] = True
    _state["enabled"] = enabled
