"""The fault injector of the reliability tests: it replaces botocore's ``_make_api_call``.

Faults are injected *below* PynamoDB and the SQS wrapper, so every layer above sees exactly
what AWS would hand it after botocore's own retries gave up (tests/test_faults.py lists the
kinds). The ``faults`` fixture (tests/conftest.py) installs one :class:`Injector` per test.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError


class Crash(Exception):
    """The process dies here: only generic ``except Exception`` handlers still run."""


def _names(params: dict[str, Any]) -> set[str]:
    return set(params.get("ExpressionAttributeNames", {}).values())


def _table(params: dict[str, Any]) -> str:
    return str(params.get("TableName", ""))


def is_claim(params: dict[str, Any]) -> bool:
    """The executor's claim: a write of the whole run (an Update naming its ``trigger``, which only a
    claim writes; a waiting run's Put) and an Update of the job (its overlap slot)."""
    items = params.get("TransactItems", [])
    return any("runs" in item.get("Put", {}).get("TableName", "") for item in items) or any(
        "runs" in item.get("Update", {}).get("TableName", "") and "trigger" in _names(item["Update"])
        for item in items)


def is_advance(params: dict[str, Any]) -> bool:
    """The tick's conditional move of ``nextRunAt`` (no ``updatedAt``: not an API write), one
    job's UpdateItem or a batch's TransactWriteItems."""
    if "TransactItems" in params:
        return any(is_advance(item.get("Update", {})) for item in params["TransactItems"])
    return "runs" not in _table(params) and {"nextRunAt", "generation"} <= _names(params) \
        and "updatedAt" not in _names(params)


def is_api_update(params: dict[str, Any]) -> bool:
    """A PATCH's optimistic-lock write."""
    return "updatedAt" in _names(params)


WRITES = frozenset({("dynamodb", op) for op in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems")}
                  | {("sqs", op) for op in ("SendMessage", "SendMessageBatch")})
READS = frozenset({("dynamodb", op) for op in ("GetItem", "BatchGetItem", "Query")})


@dataclass
class Fault:
    """One planned failure: the ``skip + 1``-th call to one of ``targets`` that ``match`` accepts."""

    targets: frozenset[tuple[str, str]]
    kind: str = "throttle"  # throttle | lost | crash | partial | conflict
    times: int = 1
    match: Callable[[dict[str, Any]], bool] = lambda params: True
    skip: int = 0
    fired: int = 0

    def error(self, service: str, operation: str) -> Exception:
        """What the caller sees when this fault fires."""
        if self.kind == "crash":
            return Crash(f"process died after {operation}")
        code = {"dynamodb": "ProvisionedThroughputExceededException", "sqs": "ThrottlingException"}[service]
        if self.kind == "lost":
            code = "InternalServerError" if service == "dynamodb" else "ServiceUnavailable"
        return ClientError({"Error": {"Code": code, "Message": f"injected {self.kind}"}}, operation)


class Injector:
    """Replaces botocore's ``_make_api_call`` for the duration of a test; logs every call."""

    def __init__(self, original: Callable[..., Any]) -> None:
        self.original = original
        self.faults: list[Fault] = []
        self.log: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def add(self, service: str, operation: str, **options: Any) -> Fault:
        """Plan a fault on one operation; ``fault.fired`` later tells whether it happened."""
        return self.add_any(frozenset({(service, operation)}), **options)

    def add_any(self, targets: frozenset[tuple[str, str]], **options: Any) -> Fault:
        """Plan a fault on any of several operations (e.g. "the 3rd write")."""
        fault = Fault(targets, **options)
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        """Stop injecting: AWS is healthy again."""
        self.faults.clear()

    def _take(self, call: tuple[str, str], params: dict[str, Any], kinds: tuple[str, ...]) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if call not in fault.targets or fault.kind not in kinds or fault.fired >= fault.times \
                        or not fault.match(params):
                    continue
                if fault.skip:
                    fault.skip -= 1
                    continue
                fault.fired += 1
                return fault
        return None

    def __call__(self, client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        call = (client.meta.service_model.service_name, operation)
        with self._lock:
            self.log.append(call)
        fault = self._take(call, params, ("throttle", "partial", "conflict"))
        if fault is not None and fault.kind == "throttle":
            raise fault.error(*call)
        if fault is not None and fault.kind == "conflict":
            raise self._conflict(operation, params)
        if fault is not None:  # partial: SQS refuses every other entry
            return self._partial(client, operation, params)
        answer = self.original(client, operation, params)
        fault = self._take(call, params, ("lost", "crash"))
        if fault is not None:
            raise fault.error(*call)
        return answer

    @staticmethod
    def _conflict(operation: str, params: dict[str, Any]) -> ClientError:
        """A transaction cancelled because its first item was in another write's transaction."""
        others = [{"Code": "None"}] * (len(params.get("TransactItems", [])) - 1)
        reasons = [{"Code": "TransactionConflict", "Message": "injected"}] + others
        return ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "injected conflict"},
                            "CancellationReasons": reasons}, operation)

    def _partial(self, client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        entries = params["Entries"]
        answer = self.original(client, operation, {**params, "Entries": entries[::2]})
        refused = [{"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "injected"}
                   for e in entries[1::2]]
        return {**answer, "Failed": answer.get("Failed", []) + refused}

    def count(self, calls: frozenset[tuple[str, str]]) -> int:
        """How many calls so far were among ``calls``."""
        return sum(1 for c in self.log if c in calls)
